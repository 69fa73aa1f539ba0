/**
 * Post-quantum sessions through the client against the real server, now
 * the default: registration and link completion publish KEM prekeys, so
 * every session between default devices is v4 — those made at link time
 * between a companion and its own primary included; top-ups; v3 with a
 * device that opted out (`postQuantum: false`) and nothing KEM-related on
 * the wire for one; and the upgrade of an account made v3-only: its v3
 * sessions keep working after a restart with the new default, and the next
 * new session with that peer (after a reset, or with a new device) is v4.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { protocolAddress } from '../../src/protocol/address.js';
import { KEM_PRE_KEY_BATCH } from '../../src/client/core/kem-prekeys.js';
import { resetStoredSession } from '../../src/client/core/session-ops.js';
import { KYBER_TABLES } from '../../src/client/core/store/kyber-prekey-store.js';
import type { RunningServer } from '../../src/server/main.js';
import {
  linkDevice,
  registerDevice,
  testServer,
  type EventQueue,
  type TestDevice,
} from './helpers/clients.js';

/** Only where a test is about v3 devices: the opt-out. */
const V3_ONLY = { postQuantum: false } as const;

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

/** Waits for a KEM upload by the client (a top-up, or a first publish at start). */
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

  it('by default: KEM prekeys published at registration and link, v4 everywhere, 50+ messages each way', async () => {
    const kem = server.store.kemPreKeys;
    const alice = await registerDevice(server, 'pq-alice');
    // Published with the registration itself, before the device ever starts:
    // 20 one-time keys and the last-resort one.
    assert.equal(await kem.countOneTimeKemPreKeys('pq-alice', 1), KEM_PRE_KEY_BATCH);
    assert.ok((await kem.getLastResortKemPreKey('pq-alice', 1)) !== undefined);
    assert.equal(await localKemRows(alice), KEM_PRE_KEY_BATCH + 1);
    const alice2 = await linkDevice(server, alice, 'laptop');
    // And with the link completion.
    assert.equal(await kem.countOneTimeKemPreKeys('pq-alice', 2), KEM_PRE_KEY_BATCH);
    assert.ok((await kem.getLastResortKemPreKey('pq-alice', 2)) !== undefined);
    assert.equal(await localKemRows(alice2), KEM_PRE_KEY_BATCH + 1);
    const bob = await registerDevice(server, 'pq-bob');

    const a1 = await alice.online();
    const a2 = await alice2.online();
    // The link-time session: the primary sends the new companion its
    // account state (what `devices approve` does right after approving).
    await a1.client.sendHistory(alice2.deviceId, 'none');
    await a2.events.next('history-sync', 10_000, (e) => e.phase === 'bootstrap');
    await Promise.all([a1.client.idle(), a2.client.idle()]);
    assert.equal(await sessionVersion(alice, 'pq-alice', 2), 4);
    assert.equal(await sessionVersion(alice2, 'pq-alice', 1), 4);

    const b1 = await bob.online();
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
    assert.equal(await sessionVersion(alice2, 'pq-bob', 1), 4);
    assert.equal(await sessionVersion(bob, 'pq-alice', 1), 4);
    assert.equal(await sessionVersion(bob, 'pq-alice', 2), 4);
    // Nothing was missing at start, so no start uploaded KEM prekeys.
    for (const q of [a1.events, a2.events, b1.events]) {
      assert.ok(q.all('pre-keys-uploaded').every((e) => (e.kemCount ?? 0) === 0));
    }

    // Each new session consumed one one-time KEM prekey of its responder:
    // gone from the server and, once used, from that device's store (the
    // last-resort one stays). alice 1 started alice 2's and bob's; bob
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
    const c = await carol.online();
    const kem = server.store.kemPreKeys;
    // Leave 10 (the threshold): the next fetch takes one and the server
    // pushes PreKeysLow with 9.
    for (let i = 0; i < KEM_PRE_KEY_BATCH - 10; i++) await kem.takeOneTimeKemPreKey('pq-carol', 1);
    const d = await dave.online();
    await d.client.sendText('pq-carol', 'hello');
    await text(c.events, 'hello');
    assert.equal(await kemUploaded(c.events), KEM_PRE_KEY_BATCH - 9);
    await c.client.idle();
    assert.equal(await kem.countOneTimeKemPreKeys('pq-carol', 1), KEM_PRE_KEY_BATCH);
    assert.equal(await sessionVersion(carol, 'pq-dave', 1), 4);
    await c.client.close();

    // Keys taken while carol was away are replaced at her next login.
    for (let i = 0; i < 3; i++) await kem.takeOneTimeKemPreKey('pq-carol', 1);
    const again = await carol.online();
    assert.equal(await kemUploaded(again.events), 3);
    await again.client.idle();
    assert.equal(await kem.countOneTimeKemPreKeys('pq-carol', 1), KEM_PRE_KEY_BATCH);
    await Promise.all([again.client.close(), d.client.close()]);
  });

  it('a default device and devices that opted out talk over v3', async () => {
    const erin = await registerDevice(server, 'pq-erin');
    const frank = await registerDevice(server, 'pq-frank', undefined, V3_ONLY);
    const gus = await registerDevice(server, 'pq-gus', undefined, V3_ONLY);
    const e = await erin.online();
    const f = await frank.online(V3_ONLY);
    const g = await gus.online(V3_ONLY);
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

  it('opted out (postQuantum: false), no KEM prekey is uploaded and sessions stay v3', async () => {
    const gina = await registerDevice(server, 'pq-gina', undefined, V3_ONLY);
    const hal = await registerDevice(server, 'pq-hal', undefined, V3_ONLY);
    const g = await gina.online(V3_ONLY);
    const h = await hal.online(V3_ONLY);
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

  it('upgrade: v3 sessions made with the option off keep working; the next new session is v4', async () => {
    // Before the upgrade: two v3-only accounts with v3 sessions.
    const ivy = await registerDevice(server, 'pq-ivy', undefined, V3_ONLY);
    const jon = await registerDevice(server, 'pq-jon', undefined, V3_ONLY);
    const oldIvy = await ivy.online(V3_ONLY);
    const oldJon = await jon.online(V3_ONLY);
    await oldIvy.client.sendText('pq-jon', 'before 1');
    await text(oldJon.events, 'before 1');
    await oldJon.client.sendText('pq-ivy', 'before 2');
    await text(oldIvy.events, 'before 2');
    const number = (await oldIvy.client.safetyNumber('pq-jon')).displayable;
    await Promise.all([oldIvy.client.close(), oldJon.client.close()]);
    assert.equal(await sessionVersion(ivy, 'pq-jon', 1), 3);
    assert.equal(await sessionVersion(jon, 'pq-ivy', 1), 3);
    const v3Record = await ivy.store.protocol.sessions.loadSession(protocolAddress('pq-jon', 1));

    // After: the same stores restarted with the new default. Each publishes
    // its first KEM prekeys at start; the open v3 sessions stay in use.
    const i = await ivy.online();
    const j = await jon.online();
    assert.equal(await kemUploaded(i.events), KEM_PRE_KEY_BATCH + 1);
    assert.equal(await kemUploaded(j.events), KEM_PRE_KEY_BATCH + 1);
    await i.client.sendText('pq-jon', 'after 1');
    await text(j.events, 'after 1');
    await j.client.sendText('pq-ivy', 'after 2');
    await text(i.events, 'after 2');
    await Promise.all([i.client.idle(), j.client.idle()]);
    assert.equal(await sessionVersion(ivy, 'pq-jon', 1), 3);
    assert.equal(await sessionVersion(jon, 'pq-ivy', 1), 3);
    // Still the same session (continued, not rebuilt as another v3 one).
    const continued = await ivy.store.protocol.sessions.loadSession(protocolAddress('pq-jon', 1));
    assert.deepEqual(continued?.current?.aliceBaseKey, v3Record?.current?.aliceBaseKey);
    assert.equal(continued?.previous.length, 0);
    assert.equal((await i.client.safetyNumber('pq-jon')).displayable, number);

    // A reset (what a retry request makes): the next session is v4, both sides.
    await resetStoredSession(ivy.store, protocolAddress('pq-jon', 1));
    await i.client.sendText('pq-jon', 'after reset');
    await text(j.events, 'after reset');
    await j.client.sendText('pq-ivy', 'after reset back');
    await text(i.events, 'after reset back');
    await Promise.all([i.client.idle(), j.client.idle()]);
    assert.equal(await sessionVersion(ivy, 'pq-jon', 1), 4);
    assert.equal(await sessionVersion(jon, 'pq-ivy', 1), 4);

    // A new device of the peer: v4 from the start. (The approval takes
    // jon's primary's connection, so it is closed first and comes back.)
    await j.client.close();
    const jon2 = await linkDevice(server, jon, 'tablet');
    const j1 = await jon.online();
    const j2 = await jon2.online();
    await i.client.sendText('pq-jon', 'to both of jon');
    await text(j1.events, 'to both of jon');
    await text(j2.events, 'to both of jon');
    await Promise.all([i.client.idle(), j1.client.idle(), j2.client.idle()]);
    assert.equal(await sessionVersion(ivy, 'pq-jon', jon2.deviceId), 4);
    assert.equal(await sessionVersion(jon2, 'pq-ivy', 1), 4);
    assert.equal(await sessionVersion(ivy, 'pq-jon', 1), 4);
    assert.equal((await i.client.safetyNumber('pq-jon')).displayable, number);
    await Promise.all([i.client.close(), j1.client.close(), j2.client.close()]);
  });
});
