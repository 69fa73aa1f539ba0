/**
 * The bus message codec and the takeover order, without a bus: anything
 * on the bus is untrusted input, and two nodes comparing the same pair of
 * connections must always pick the same one survivor.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  BusFrameError,
  decodeBusMessage,
  encodeBusMessage,
  type BusMessage,
} from '../../src/server/cluster/bus-frames.js';
import { isNewer } from '../../src/server/cluster/device-router.js';
import { ClusterSubjects } from '../../src/server/cluster/subjects.js';

const samples: BusMessage[] = [
  { kind: 'wake', origin: 'n1' },
  { kind: 'takeover', origin: 'host-a:8080', attachedAt: 1_700_000_000_123, connectionId: 42 },
  { kind: 'push', origin: 'n', bytes: new Uint8Array([1, 2, 3]) },
  { kind: 'ephemeral', origin: 'n', bytes: new Uint8Array([4, 5]) },
  { kind: 'disconnect', origin: 'n', push: new Uint8Array([8]), code: 4003, reason: 'removed' },
  { kind: 'presence-query', origin: 'ü.node' },
  { kind: 'presence', origin: 'n', connected: true },
  { kind: 'connection-op', origin: 'n', connectionId: 7, push: new Uint8Array(0), extendMs: -1 },
  { kind: 'list-changed', origin: 'n', account: 'a.b-c', announce: true, exceptDeviceId: 2 },
  {
    kind: 'envelopes',
    origin: 'n',
    envelopes: [
      {
        guid: new Uint8Array(16).fill(7),
        destination: 'bob',
        destinationDevice: 2,
        source: 'alice',
        sourceDevice: 1,
        type: 1,
        content: new Uint8Array([1, 2, 3]),
        timestamp: 1_700_000_000_000,
        serverTimestamp: 1_700_000_000_001,
      },
      {
        guid: new Uint8Array(16).fill(8),
        destination: 'bob',
        destinationDevice: 2,
        source: 'carol',
        sourceDevice: 3,
        type: 3,
        content: new Uint8Array([4]),
        timestamp: 0,
        serverTimestamp: 5,
        sourceDeviceIdentity: new Uint8Array([9, 9]),
        groupId: new Uint8Array([6]),
      },
    ],
  },
];

describe('bus frames', () => {
  it('round-trip every kind', () => {
    for (const message of samples) {
      assert.deepEqual(decodeBusMessage(encodeBusMessage(message)), message);
    }
  });

  it('reject every truncation and any trailing byte with BusFrameError', () => {
    for (const message of samples) {
      const bytes = encodeBusMessage(message);
      for (let length = 0; length < bytes.length; length += 1) {
        assert.throws(() => decodeBusMessage(bytes.subarray(0, length)), BusFrameError);
      }
      const longer = new Uint8Array(bytes.length + 1);
      longer.set(bytes);
      assert.throws(() => decodeBusMessage(longer), BusFrameError);
    }
  });

  it('never throw anything but BusFrameError on random bytes', () => {
    for (let i = 0; i < 5000; i += 1) {
      const bytes = randomBytes(1 + (i % 40));
      // Mostly valid headers, so the field readers are reached.
      if (i % 2 === 0) bytes[0] = 1;
      try {
        decodeBusMessage(bytes);
      } catch (error) {
        assert.ok(error instanceof BusFrameError, String(error));
      }
    }
  });
});

describe('takeover order', () => {
  it('picks exactly one of two distinct connections, the same from both sides', () => {
    const connections = [
      { attachedAt: 10, nodeId: 'a', connectionId: 1 },
      { attachedAt: 10, nodeId: 'b', connectionId: 1 },
      { attachedAt: 10, nodeId: 'a', connectionId: 2 },
      { attachedAt: 11, nodeId: 'a', connectionId: 1 },
      { attachedAt: 9, nodeId: 'z', connectionId: 9 },
    ];
    for (const x of connections) {
      for (const y of connections) {
        if (x === y) continue;
        // One survives (not both), one dies (not both).
        assert.notEqual(isNewer(x, y), isNewer(y, x), `${JSON.stringify([x, y])}`);
      }
    }
    // The later attach wins whatever the ids.
    assert.ok(
      isNewer(
        { attachedAt: 11, nodeId: 'a', connectionId: 1 },
        { attachedAt: 10, nodeId: 'z', connectionId: 9 },
      ),
    );
  });
});

describe('bus subjects', () => {
  it('cannot be steered by dots or wildcards in names', () => {
    const subjects = new ClusterSubjects('quintet');
    const subject = subjects.device({ account: 'a.*.>', deviceId: 1 });
    assert.match(subject, /^quintet\.dev\.[0-9a-f]+\.1$/);
    assert.notEqual(subject, subjects.device({ account: 'a', deviceId: 1 }));
    assert.throws(() => new ClusterSubjects('bad prefix'));
    assert.throws(() => new ClusterSubjects('a.>'));
  });
});
