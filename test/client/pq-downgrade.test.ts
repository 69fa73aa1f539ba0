/**
 * The downgrade guard through the client and a real server: after a reset
 * (what a retry request or a reinstalled device causes), a post-quantum
 * session is archived, not deleted, so a server that then strips the KEM
 * prekey from the bundle gets a `device-refused` ('downgrade-refused')
 * instead of a v3 session — once per send, no loop, the record untouched.
 * Records without a v4 state are still deleted by a reset.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { protocolAddress } from '../../src/protocol/address.js';
import { resetStoredSession } from '../../src/client/core/session-ops.js';
import type { KemPreKeyStore } from '../../src/server/store/types.js';
import type { RunningServer } from '../../src/server/main.js';
import { registerDevice, testServer, type EventQueue, type TestDevice } from './helpers/clients.js';

/** Only for the test about v3 records: devices that opted out. */
const V3_ONLY = { postQuantum: false } as const;

async function record(device: TestDevice, account: string) {
  return device.store.protocol.sessions.loadSession(protocolAddress(account, 1));
}

async function text(queue: EventQueue, body: string): Promise<void> {
  await queue.next('message', 10_000, (e) => e.message.text === body);
}

/** Makes the server hand out bundles without a KEM prekey; returns the undo. */
function stripKemPreKeys(store: KemPreKeyStore): () => void {
  const take = store.takeOneTimeKemPreKey.bind(store);
  const lastResort = store.getLastResortKemPreKey.bind(store);
  store.takeOneTimeKemPreKey = () => Promise.resolve(undefined);
  store.getLastResortKemPreKey = () => Promise.resolve(undefined);
  return () => {
    store.takeOneTimeKemPreKey = take;
    store.getLastResortKemPreKey = lastResort;
  };
}

describe('downgrade guard through the client (real server)', { timeout: 120_000 }, () => {
  let server: RunningServer;
  before(async () => {
    server = await testServer();
  });
  after(async () => {
    await server.close();
  });

  it('a stripped bundle after a reset is refused with device-refused, the v4 state kept', async () => {
    const alice = await registerDevice(server, 'dg-alice');
    const bob = await registerDevice(server, 'dg-bob');
    // Post-quantum by default: both published KEM prekeys when registering.
    const a = await alice.online();
    const b = await bob.online();
    await a.client.sendText('dg-bob', 'one');
    await text(b.events, 'one');
    await b.client.sendText('dg-alice', 'one back');
    await text(a.events, 'one back');
    await Promise.all([a.client.idle(), b.client.idle()]);
    assert.equal((await record(alice, 'dg-bob'))?.current?.sessionVersion, 4);

    // The reset a retry request would make, then a stripping server.
    await resetStoredSession(alice.store, protocolAddress('dg-bob', 1));
    const archived = await record(alice, 'dg-bob');
    assert.equal(archived?.current, undefined);
    assert.equal(archived?.previous[0]?.sessionVersion, 4);
    const before = archived?.serialize();
    const restore = stripKemPreKeys(server.store.kemPreKeys);

    for (const body of ['two', 'three']) {
      await a.client.sendText('dg-bob', body);
      const refused = await a.events.next('device-refused', 10_000);
      assert.deepEqual(
        { account: refused.account, deviceId: refused.deviceId, reason: refused.reason },
        { account: 'dg-bob', deviceId: 1, reason: 'downgrade-refused' },
      );
    }
    await a.client.idle();
    assert.deepEqual((await record(alice, 'dg-bob'))?.serialize(), before, 'record unchanged');

    // With the KEM prekey served again, the next send builds a new v4 session.
    restore();
    await a.client.sendText('dg-bob', 'four');
    await text(b.events, 'four');
    await b.client.sendText('dg-alice', 'four back');
    // Every alice event up to this reply is now seen: one refusal per send.
    await text(a.events, 'four back');
    assert.equal(a.events.all('device-refused').length, 2, 'no retry loop');
    await Promise.all([a.client.idle(), b.client.idle()]);
    assert.equal((await record(alice, 'dg-bob'))?.current?.sessionVersion, 4);
    assert.ok(b.events.all('message').every((e) => !['two', 'three'].includes(e.message.text)));
    await Promise.all([a.client.close(), b.client.close()]);
  });

  it('a group send leaves the device out with reason downgrade-refused, the others get it', async () => {
    const alice = await registerDevice(server, 'dg-galice');
    const bob = await registerDevice(server, 'dg-gbob');
    const carol = await registerDevice(server, 'dg-gcarol');
    const a = await alice.online();
    const b = await bob.online();
    const c = await carol.online();
    await a.client.sendText('dg-gbob', 'one');
    await text(b.events, 'one');
    // Bob's answer (and his receipt before it) arrive before the reset: a
    // message on the archived v4 state would make it current again.
    await b.client.sendText('dg-galice', 'one back');
    await text(a.events, 'one back');
    await Promise.all([a.client.idle(), b.client.idle()]);
    assert.equal((await record(alice, 'dg-gbob'))?.current?.sessionVersion, 4);
    await resetStoredSession(alice.store, protocolAddress('dg-gbob', 1));
    const restore = stripKemPreKeys(server.store.kemPreKeys);
    try {
      const group = await a.client.groups.create('pq', ['dg-gbob', 'dg-gcarol']);
      const sent = await a.client.groups.send(group.groupId, 'to the group');
      assert.ok(
        sent.refused.some(
          (r) => r.account === 'dg-gbob' && r.deviceId === 1 && r.reason === 'downgrade-refused',
        ),
      );
      await c.events.next('message', 10_000, (e) => e.message.text === 'to the group');
      const refused = await a.events.next(
        'device-refused',
        10_000,
        (e) => e.account === 'dg-gbob' && e.reason === 'downgrade-refused',
      );
      assert.equal(refused.deviceId, 1);
      // Carol never had a v4 session: hers is v3 from the stripped bundle.
      assert.equal((await record(alice, 'dg-gcarol'))?.current?.sessionVersion, 3);
      assert.equal((await record(alice, 'dg-gbob'))?.current, undefined);
    } finally {
      restore();
    }
    await Promise.all([a.client.close(), b.client.close(), c.client.close()]);
  });

  it('a reset deletes a record that holds no v4 state', async () => {
    // About v3 records, so both devices opted out of post-quantum sessions.
    const carol = await registerDevice(server, 'dg-carol', undefined, V3_ONLY);
    const dave = await registerDevice(server, 'dg-dave', undefined, V3_ONLY);
    const c = await carol.online(V3_ONLY);
    const d = await dave.online(V3_ONLY);
    await c.client.sendText('dg-dave', 'hi');
    await text(d.events, 'hi');
    await c.client.idle();
    assert.equal((await record(carol, 'dg-dave'))?.current?.sessionVersion, 3);
    await resetStoredSession(carol.store, protocolAddress('dg-dave', 1));
    assert.equal(await record(carol, 'dg-dave'), undefined);
    await Promise.all([c.client.close(), d.client.close()]);
  });
});
