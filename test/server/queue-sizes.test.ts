/**
 * Queue sizes after acks that read nothing back: the byte total only
 * overstates, and is read again from the backend before it refuses a send.
 * Emptied queues keep an exact zero entry, up to a bound, so one message at
 * a time does not cost a backend read per message.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QueueSizes, type QueueSize } from '../../src/server/store/queue-sizes.js';
import { StoreError, type NewEnvelope } from '../../src/server/store/types.js';

function envelope(destinationDevice: number, bytes: number): NewEnvelope {
  return {
    destination: 'bob',
    destinationDevice,
    source: 'alice',
    sourceDevice: 1,
    type: 1,
    content: new Uint8Array(bytes),
    timestamp: 0,
    serverTimestamp: 0,
  };
}

describe('queue sizes', () => {
  it('reads the exact size at the byte bound after count-only removals, counting the batch itself', () => {
    // The backend: what is stored for bob's devices right now.
    const stored = new Map<number, QueueSize>([[1, { count: 2, bytes: 80 }]]);
    let loads = 0;
    const sizes = new QueueSizes((_account, deviceId) => {
      loads += 1;
      const size = stored.get(deviceId) ?? { count: 0, bytes: 0 };
      return { count: size.count, bytes: size.bytes };
    });
    const bounds = { maxCount: 100, maxBytes: 100 };
    assert.equal(sizes.get('bob', 1).bytes, 80);
    // An ack deleted one 60-byte envelope; the backend now holds 20 bytes.
    sizes.removeCount('bob', 1, 1);
    stored.set(1, { count: 1, bytes: 20 });
    assert.equal(sizes.get('bob', 1).bytes, 80, 'bytes stay an upper bound after an ack');

    // 10 + 30 bytes for device 1 would pass the bound on the stale total,
    // but fit the exact one: 20 + 10 + 30 = 60.
    sizes.add([envelope(1, 10), envelope(2, 5), envelope(1, 30)], bounds);
    assert.equal(sizes.get('bob', 1).count, 3);
    assert.equal(sizes.get('bob', 1).bytes, 60);
    const loadsAfter = loads;

    // Exact again: a send past the bound is refused without another read.
    assert.throws(
      () => sizes.add([envelope(1, 50)], bounds),
      (error: unknown) => error instanceof StoreError && error.code === 'queue-full',
    );
    assert.equal(loads, loadsAfter);
    assert.equal(sizes.get('bob', 1).bytes, 60, 'a refused batch leaves the size as it was');
  });

  it('keeps an emptied queue as an exact zero instead of reading it again', () => {
    let loads = 0;
    const sizes = new QueueSizes(() => {
      loads += 1;
      return { count: 0, bytes: 0 };
    });
    const bounds = { maxCount: 1, maxBytes: 50 };
    for (let i = 0; i < 5; i += 1) {
      sizes.add([envelope(1, 40)], bounds);
      sizes.removeCount('bob', 1, 1);
    }
    assert.equal(loads, 1, 'loaded once, then kept while empty');
    const size = sizes.get('bob', 1);
    assert.deepEqual([size.count, size.bytes, size.bytesExact], [0, 0, true]);
    // Exact, so a send at the bound is judged on it without a read.
    assert.throws(
      () => sizes.add([envelope(1, 60)], bounds),
      (error: unknown) => error instanceof StoreError && error.code === 'queue-full',
    );
    assert.equal(loads, 1);
  });

  it('drops the oldest emptied queues past its bound, and forgets one that went below zero', () => {
    const loaded: number[] = [];
    const sizes = new QueueSizes((_account, deviceId) => {
      loaded.push(deviceId);
      return { count: 1, bytes: 10 };
    });
    // 5,000 devices each emptied once: more than are kept.
    for (let device = 1; device <= 5_000; device += 1) {
      sizes.get('bob', device);
      sizes.removeCount('bob', device, 1);
    }
    loaded.length = 0;
    sizes.get('bob', 5_000);
    assert.deepEqual(loaded, [], 'the newest emptied queue is kept');
    sizes.get('bob', 1);
    assert.deepEqual(loaded, [1], 'the oldest was dropped and is read again');

    // More acked than it counted: the entry no longer matches the backend.
    sizes.removeCount('bob', 1, 2);
    sizes.get('bob', 1);
    assert.deepEqual(loaded, [1, 1]);
  });
});
