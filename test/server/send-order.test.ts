/**
 * Two sends in flight from one connection are committed and answered in
 * request order, even when the first must wait for the store (an uncached
 * device list) and the second could be queued at once (a cached one).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { startServer } from '../../src/server/main.js';
import { createMemoryStore } from '../../src/server/store/memory.js';
import type { AccountStore, MessageQueueStore, ServerStore } from '../../src/server/store/types.js';
import { registeredDevice, sendTo } from './helpers/device.js';
import { assertGroupChanged, createGroupOver } from './helpers/groups.js';
import { ManualClock } from './helpers/server.js';

/**
 * A memory store whose device-list read for `slow` waits until a send to
 * another account reaches the queue (what an out-of-order server does) or,
 * failing that, a little while; it records the order of enqueued destinations.
 */
function gatedStore(slow: string): { store: ServerStore; enqueued: string[] } {
  const inner = createMemoryStore();
  const enqueued: string[] = [];
  let open: (() => void) | undefined;
  const accounts: AccountStore = Object.create(inner.accounts) as AccountStore;
  accounts.listDevices = async (account) => {
    if (account === slow) {
      await new Promise<void>((resolve) => {
        open = resolve;
        setTimeout(resolve, 300);
      });
    }
    return inner.accounts.listDevices(account);
  };
  const queue: MessageQueueStore = Object.create(inner.queue) as MessageQueueStore;
  queue.enqueue = (envelopes, bounds) => {
    const first = envelopes[0];
    if (first !== undefined) enqueued.push(first.destination);
    if (first?.destination !== slow) open?.();
    return inner.queue.enqueue(envelopes, bounds);
  };
  return { store: { ...inner, accounts, queue }, enqueued };
}

describe('send order on one connection', () => {
  const gated = gatedStore('carol');
  const running = startServer({
    port: 0,
    store: gated.store,
    clock: new ManualClock(),
    logger: pino({ level: 'silent' }),
  });
  after(async () => (await running).close());

  it('commits and answers a cached send after an earlier uncached one', async () => {
    const { wsUrl } = await running;
    const alice = await registeredDevice(wsUrl, 'alice');
    const bob = await registeredDevice(wsUrl, 'bob');
    const carol = await registeredDevice(wsUrl, 'carol');
    const to = (device: typeof bob) => [
      { deviceId: 1, registrationId: device.identity.registrationId },
    ];
    // Caches bob's device list; carol's is never read before the test.
    assert.equal((await sendTo(alice.client, 'bob', to(bob))).error, undefined);
    gated.enqueued.length = 0;

    const answered: string[] = [];
    const first = sendTo(alice.client, 'carol', to(carol)).then((r) => {
      answered.push('carol');
      return r;
    });
    const second = sendTo(alice.client, 'bob', to(bob)).then((r) => {
      answered.push('bob');
      return r;
    });
    const [r1, r2] = await Promise.all([first, second]);
    assert.equal(r1.error, undefined);
    assert.equal(r2.error, undefined);
    assert.deepEqual(gated.enqueued, ['carol', 'bob']);
    assert.deepEqual(answered, ['carol', 'bob']);
    for (const d of [alice, bob, carol]) d.client.close();
  });
});

describe('send order on one connection: group sends', () => {
  const gated = gatedStore('dave');
  const running = startServer({
    port: 0,
    store: gated.store,
    clock: new ManualClock(),
    logger: pino({ level: 'silent' }),
  });
  after(async () => (await running).close());

  it('commits a 1:1 send after an earlier group send that reads the store first', async () => {
    const { wsUrl } = await running;
    const alice = await registeredDevice(wsUrl, 'alice');
    const bob = await registeredDevice(wsUrl, 'bob');
    const dave = await registeredDevice(wsUrl, 'dave');
    const { groupId } = await createGroupOver(alice, ['dave']);
    assertGroupChanged(await dave.client.nextPush(), groupId);
    const toBob = [{ deviceId: 1, registrationId: bob.identity.registrationId }];
    assert.equal((await sendTo(alice.client, 'bob', toBob)).error, undefined);
    gated.enqueued.length = 0;

    const group = alice.client.request({
      case: 'sendGroupMessage',
      value: {
        groupId,
        ciphertext: new Uint8Array([1]),
        timestamp: 1n,
        recipients: [
          { account: 'dave', deviceIds: [1], registrationIds: [dave.identity.registrationId] },
        ],
      },
    });
    const direct = sendTo(alice.client, 'bob', toBob);
    const [r1, r2] = await Promise.all([group, direct]);
    assert.equal(r1.error, undefined, r1.error?.message);
    assert.equal(r2.error, undefined);
    assert.deepEqual(gated.enqueued, ['dave', 'bob']);
    for (const d of [alice, bob, dave]) d.client.close();
  });
});
