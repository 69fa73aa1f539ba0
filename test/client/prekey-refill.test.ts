/**
 * One-time prekey refill: the client brings the server's supply back to its
 * full target at login and whenever the server says it runs low, reading
 * the count afresh each time.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PRE_KEY_BATCH, refillPreKeys } from '../../src/client/core/account-setup.js';
import type { PreKeyInit, ServerApi } from '../../src/client/core/server-api.js';
import type { RunningServer } from '../../src/server/main.js';
import { ctx, registerDevice, testServer } from './helpers/clients.js';

describe('prekey refill', () => {
  let server: RunningServer;
  before(async () => {
    server = await testServer();
  });
  after(async () => {
    await server.close();
  });

  it('refills to the full target at login even above the low threshold', async () => {
    const bob = await registerDevice(server, 'r-bob');
    for (let i = 0; i < 50; i++) await server.store.preKeys.takeOneTimePreKey('r-bob', 1);
    const b = await bob.online();
    const uploaded = await b.events.next('pre-keys-uploaded');
    assert.equal(uploaded.count, 50);
    await b.client.idle();
    assert.equal(await server.store.preKeys.countOneTimePreKeys('r-bob', 1), PRE_KEY_BATCH);
    await b.client.close();
  });

  it('refills to the full target right after a fetch takes the count under the threshold', async () => {
    const alice = await registerDevice(server, 'r-alice');
    const bob = await registerDevice(server, 'r-bob2');
    const b = await bob.online();
    await b.events.next('queue-drained');
    await b.client.idle();
    // 10 left: at the threshold, not under it.
    for (let i = 0; i < 90; i++) await server.store.preKeys.takeOneTimePreKey('r-bob2', 1);
    const a = await alice.online();
    await a.client.sendText('r-bob2', 'hi'); // takes one: 9 left, PreKeysLow pushed
    const uploaded = await b.events.next('pre-keys-uploaded');
    assert.equal(uploaded.count, 91);
    await b.client.idle();
    assert.equal(await server.store.preKeys.countOneTimePreKeys('r-bob2', 1), PRE_KEY_BATCH);
    await a.client.close();
    await b.client.close();
  });

  it("uploads the target minus the server's current count, and nothing when full", async () => {
    const device = await registerDevice(server, 'r-carol');
    const uploads: PreKeyInit[][] = [];
    let remaining = 3;
    const api = {
      preKeyStatus: () => Promise.resolve({ remaining, threshold: 10 }),
      uploadPreKeys: (keys: PreKeyInit[]) => {
        uploads.push(keys);
        remaining += keys.length;
        return Promise.resolve();
      },
    } as unknown as ServerApi;
    assert.equal(await refillPreKeys(ctx, device.store, api), PRE_KEY_BATCH - 3);
    assert.equal(await refillPreKeys(ctx, device.store, api), 0);
    assert.equal(uploads.length, 1);
    const ids = new Set(uploads[0]?.map((k) => k.id));
    assert.equal(ids.size, PRE_KEY_BATCH - 3);
    // Ids continue after the registration batch: none reused.
    assert.ok([...ids].every((id) => (id ?? 0) > PRE_KEY_BATCH));
  });
});
