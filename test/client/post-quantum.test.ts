/**
 * The client's `postQuantum` option against the real server: KEM prekeys
 * published and topped up, v4 sessions between post-quantum devices (a
 * companion included), v3 with a device that publishes none, and nothing
 * KEM-related on the wire with the option off.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { protocolAddress } from '../../src/protocol/address.js';
import { KEM_PRE_KEY_BATCH } from '../../src/client/core/kem-prekeys.js';
import { KYBER_TABLES } from '../../src/client/core/store/kyber-prekey-store.js';
import type { RunningServer } from '../../src/server/main.js';
import {
  linkDevice,
  registerDevice,
  testServer,
  type EventQueue,
  type TestDevice,
} from './helpers/clients.js';

const PQ = { postQuantum: true } as const;

async function sessionVersion(
  device: TestDevice,
  account: string,
  deviceId: number,
): Promise<number | undefined> {
  const record = await device.store.protocol.sessions.loadSession(
    protocolAddress(account, deviceId),
  );
  return record?.current?.sessionVersion;
}

async function text(queue: EventQueue, body: string): Promise<void> {
  await queue.next('message', 10_000, (e) => e.message.text === body);
}

/** Waits for the KEM upload a post-quantum client makes at its first start. */
async function kemUploaded(queue: EventQueue): Promise<number> {
  const event = await queue.next('pre-keys-uploaded', 20_000, (e) => (e.kemCount ?? 0) > 0);
  return event.kemCount ?? 0;
}

async function localKemRows(device: TestDevice): Promise<number> {
  return (await device.backend.list(KYBER_TABLES.keys, '')).length;
}

describe('post-quantum sessions through the client (real server)', { timeout: 180_000 }, () => {
  let server: RunningServer;
  before(async () => {
    server = await testServer();
  });
  after(async () => {
    await server.close();
  });

  it('two post-quantum accounts and a companion talk over v4 sessions, 50+ messages each way', async () => {
    const alice = await registerDevice(server, 'pq-alice');
    const alice2 = await linkDevice(server, alice, 'laptop');
    const bob = await registerDevice(server, 'pq-bob');
    const a1 = await alice.online(PQ);
    const a2 = await alice2.online(PQ);
    const b1 = await bob.online(PQ);
    // 20 one-time keys and the last-resort one, each device.
    for (const q of [a1.events, a2.events, b1.events]) {
      assert.equal(await kemUploaded(q), KEM_PRE_KEY_BATCH + 1);
    }
    const kem = server.store.kemPreKeys;
    assert.equal(await kem.countOneTimeKemPreKeys('pq-bob', 1), KEM_PRE_KEY_BATCH);
    assert.ok((await kem.getLastResortKemPreKey('pq-bob', 1)) !== undefined);
    assert.equal(await localKemRows(bob), KEM_PRE_KEY_BATCH + 1);

    for (let i = 0; i < 50; i++) {
      await a1.client.sendText('pq-bob', `a${i}`);
      await text(b1.events, `a${i}`);
      await text(a2.events, `a${i}`); // the sent copy on alice's companion
      await b1.client.sendText('pq-alice', `b${i}`);
      await text(a1.events, `b${i}`);
      await text(a2.events, `b${i}`);
    }
    // A burst one way (several messages on one chain), then the other way.
    for (let i = 0; i < 5; i++) await a2.client.sendText('pq-bob', `c${i}`);
    for (let i = 0; i < 5; i++) await text(b1.events, `c${i}`);
    await b1.client.sendText('pq-alice', 'done');
    await text(a2.events, 'done');
    await Promise.all([a1.client.idle(), a2.client.idle(), b1.client.idle()]);

    assert.equal(await sessionVersion(alice, 'pq-bob', 1), 4);
    assert.equal(await sessionVersion(alice, 'pq-alice', 2), 4);
    assert.equal(await sessionVersion(alice2, 'pq-bob', 1), 4);
    assert.equal(await sessionVersion(alice2, 'pq-alice', 1), 4);
    assert.equal(await sessionVersion(bob, 'pq-alice', 1), 4);
    assert.equal(await sessionVersion(bob, 'pq-alice', 2), 4);

    // Each new session consumed one one-time KEM prekey of its responder:
    // gone from the server and, once used, from that device's store (the
    // last-resort one stays). alice 1 started bob's and alice 2's; bob
    // started alice 2's; every other session answered an incoming one.
    const oneTime = async (name: string, id: number) => kem.countOneTimeKemPreKeys(name, id);
    assert.equal(await oneTime('pq-bob', 1), KEM_PRE_KEY_BATCH - 1);
    assert.equal(await oneTime('pq-alice', 2), KEM_PRE_KEY_BATCH - 2);
    assert.equal(await oneTime('pq-alice', 1), KEM_PRE_KEY_BATCH);
    assert.equal(await localKemRows(bob), KEM_PRE_KEY_BATCH);
    assert.equal(await localKemRows(alice2), KEM_PRE_KEY_BATCH - 1);
    assert.equal(await localKemRows(alice), KEM_PRE_KEY_BATCH + 1);
    await Promise.all([a1.client.close(), a2.client.close(), b1.client.close()]);
  });

  it('tops up one-time KEM prekeys when a fetch leaves them low, and at login', async () => {
    const carol = await registerDevice(server, 'pq-carol');
    const dave = await registerDevice(server, 'pq-dave');
    const c = await carol.online(PQ);
    await kemUploaded(c.events);
    const kem = server.store.kemPreKeys;
    // Leave 10 (the threshold): the next fetch takes one and the server
    // pushes PreKeysLow with 9.
    for (let i = 0; i < KEM_PRE_KEY_BATCH - 10; i++) await kem.takeOneTimeKemPreKey('pq-carol', 1);
    const d = await dave.online(PQ);
    await kemUploaded(d.events);
    await d.client.sendText('pq-carol', 'hello');
    await text(c.events, 'hello');
    assert.equal(await kemUploaded(c.events), KEM_PRE_KEY_BATCH - 9);
    await c.client.idle();
    assert.equal(await kem.countOneTimeKemPreKeys('pq-carol', 1), KEM_PRE_KEY_BATCH);
    assert.equal(await sessionVersion(carol, 'pq-dave', 1), 4);
    await c.client.close();

    // Keys taken while carol was away are replaced at her next login.
    for (let i = 0; i < 3; i++) await kem.takeOneTimeKemPreKey('pq-carol', 1);
    const again = await carol.online(PQ);
    assert.equal(await kemUploaded(again.events), 3);
    await again.client.idle();
    assert.equal(await kem.countOneTimeKemPreKeys('pq-carol', 1), KEM_PRE_KEY_BATCH);
    await Promise.all([again.client.close(), d.client.close()]);
  });

  it('a post-quantum device and devices without the option talk over v3', async () => {
    const erin = await registerDevice(server, 'pq-erin');
    const frank = await registerDevice(server, 'pq-frank');
    const gus = await registerDevice(server, 'pq-gus');
    const e = await erin.online(PQ);
    await kemUploaded(e.events);
    const f = await frank.online();
    const g = await gus.online();
    // Frank starts: erin's bundle carries a KEM prekey, which he ignores.
    await f.client.sendText('pq-erin', 'to erin');
    await text(e.events, 'to erin');
    await e.client.sendText('pq-frank', 'to frank');
    await text(f.events, 'to frank');
    // Erin starts: gus's bundle has no KEM prekey.
    await e.client.sendText('pq-gus', 'to gus');
    await text(g.events, 'to gus');
    await g.client.sendText('pq-erin', 'to erin from gus');
    await text(e.events, 'to erin from gus');
    await Promise.all([e.client.idle(), f.client.idle(), g.client.idle()]);
    assert.equal(await sessionVersion(frank, 'pq-erin', 1), 3);
    assert.equal(await sessionVersion(erin, 'pq-frank', 1), 3);
    assert.equal(await sessionVersion(erin, 'pq-gus', 1), 3);
    assert.equal(await sessionVersion(gus, 'pq-erin', 1), 3);
    for (const name of ['pq-frank', 'pq-gus']) {
      assert.equal(await server.store.kemPreKeys.countOneTimeKemPreKeys(name, 1), 0);
    }
    await Promise.all([e.client.close(), f.client.close(), g.client.close()]);
  });

  it('with the option off, no KEM prekey is uploaded and sessions stay v3', async () => {
    const gina = await registerDevice(server, 'pq-gina');
    const hal = await registerDevice(server, 'pq-hal');
    const g = await gina.online();
    const h = await hal.online();
    await g.events.next('queue-drained');
    await g.client.sendText('pq-hal', 'plain');
    await text(h.events, 'plain');
    await h.client.sendText('pq-gina', 'plain back');
    await text(g.events, 'plain back');
    await Promise.all([g.client.idle(), h.client.idle()]);
    const kem = server.store.kemPreKeys;
    for (const name of ['pq-gina', 'pq-hal']) {
      assert.equal(await kem.countOneTimeKemPreKeys(name, 1), 0);
      assert.equal(await kem.getLastResortKemPreKey(name, 1), undefined);
    }
    assert.equal(await localKemRows(gina), 0);
    assert.equal(await sessionVersion(gina, 'pq-hal', 1), 3);
    assert.ok(g.events.all('pre-keys-uploaded').every((ev) => ev.kemCount === undefined));
    await Promise.all([g.client.close(), h.client.close()]);
  });
});
