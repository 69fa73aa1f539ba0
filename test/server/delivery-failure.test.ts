/**
 * A storage error while delivering a backlog closes the connection with
 * `deliveryFailed` (4006), so the client reconnects — the device is never
 * left connected and deaf. The next connection gets the whole backlog.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { CloseCodes } from '../../src/server/connection.js';
import { startServer } from '../../src/server/main.js';
import { createMemoryStore } from '../../src/server/store/memory.js';
import type { MessageQueueStore, ServerStore } from '../../src/server/store/types.js';
import { registeredDevice, reconnect, sendTo } from './helpers/device.js';
import { withTimeout } from './helpers/raw-client.js';
import { ManualClock } from './helpers/server.js';

/** A memory store whose next queue read fails once `failNextRead` is set. */
function flakyStore(): { store: ServerStore; failNextRead: () => void } {
  const inner = createMemoryStore();
  let fail = false;
  const queue: MessageQueueStore = {
    enqueue: (envelopes, bounds) => inner.queue.enqueue(envelopes, bounds),
    page: async (account, deviceId, after, limit) => {
      if (fail) {
        fail = false;
        throw new Error('simulated storage read failure');
      }
      return inner.queue.page(account, deviceId, after, limit);
    },
    ack: (account, deviceId, guids) => inner.queue.ack(account, deviceId, guids),
    expire: (before) => inner.queue.expire(before),
    count: (account, deviceId) => inner.queue.count(account, deviceId),
    queuedBytes: (account, deviceId) => inner.queue.queuedBytes(account, deviceId),
    totalCount: () => inner.queue.totalCount(),
    deleteDevice: (account, deviceId) => inner.queue.deleteDevice(account, deviceId),
  };
  return {
    store: { ...inner, queue },
    failNextRead: () => {
      fail = true;
    },
  };
}

describe('delivery failure', () => {
  const flaky = flakyStore();
  const running = startServer({
    port: 0,
    store: flaky.store,
    clock: new ManualClock(),
    logger: pino({ level: 'silent' }),
  });
  after(async () => (await running).close());

  it('closes with deliveryFailed when the backlog cannot be read, and delivers it on reconnect', async () => {
    const { wsUrl } = await running;
    const alice = await registeredDevice(wsUrl, 'alice');
    const bob = await registeredDevice(wsUrl, 'bob');
    bob.client.close();
    await bob.client.closed;
    const devices = [{ deviceId: 1, registrationId: bob.identity.registrationId }];
    assert.equal(
      (await sendTo(alice.client, 'bob', devices, new Uint8Array([7]))).error,
      undefined,
    );

    flaky.failNextRead();
    const deaf = await reconnect(wsUrl, bob);
    const closed = await withTimeout(deaf.client.closed, 10_000, 'close after a failed drain');
    assert.equal(closed.code, CloseCodes.deliveryFailed);
    assert.equal(deaf.client.pendingPushes().length, 0);

    const back = await reconnect(wsUrl, bob);
    const push = await back.client.nextPush();
    assert.ok(push.kind.case === 'envelope');
    assert.equal(push.kind.value.content[0], 7);
    assert.equal((await back.client.nextPush()).kind.case, 'queueDrained');
    alice.client.close();
    back.client.close();
  });
});
