/**
 * Queue sizes after acks that read nothing back: the byte total only
 * overstates, and is read again from the backend before it refuses a send.
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
});
