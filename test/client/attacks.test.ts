/**
 * A malicious server against the client's device verification (ADV), each
 * attack a test, with the real server in-process: the attacker writes into
 * the server's store (its own API) and, for the replay, serves an older
 * signed list from a store that lies.
 *
 * - a device inserted into bob's account with the attacker's own keys gets
 *   nothing (listed as refused, with a warning event);
 * - companion identities with a wrong account or device signature: refused;
 * - a replayed older signed list resurrecting a removed companion: refused
 *   (rollback);
 * - a prekey message from an inserted "companion" carrying a forged
 *   `source_device_identity`: no session, the message is dropped — for a
 *   v4 (PQXDH, the default) and a v3 prekey message alike.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateSigningKeyPair, type KeyPair } from '../../src/protocol/curve.js';
import { protocolAddress } from '../../src/protocol/address.js';
import { generatePreKeys, generateSignedPreKey } from '../../src/protocol/prekeys.js';
import {
  createSignedDeviceIdentity,
  decodeSignedDeviceIdentity,
  encodeSignedDeviceIdentity,
} from '../../src/protocol/adv/index.js';
import { startServer, type RunningServer } from '../../src/server/main.js';
import { createMemoryStore } from '../../src/server/store/memory.js';
import type { ServerStore, StoredDeviceList } from '../../src/server/store/types.js';
import { createDeviceStore } from '../../src/client/core/store/device-store.js';
import { MemoryBackend } from '../../src/client/core/store/memory-backend.js';
import {
  ctx,
  deviceOn,
  linkDevice,
  registerDevice,
  SendRecorder,
  unlinkDevice,
  type TestDevice,
} from './helpers/clients.js';

/** Lists the lying store serves instead of the real ones, per account. */
const replayedLists = new Map<string, StoredDeviceList>();

/** A memory store whose `getDeviceList` can be made to serve an old list. */
function lyingStore(): ServerStore {
  const store = createMemoryStore();
  const accounts = new Proxy(store.accounts, {
    get(target, property, receiver) {
      if (property === 'getDeviceList') {
        return async (account: string): ReturnType<typeof target.getDeviceList> =>
          replayedLists.get(account) ?? target.getDeviceList(account);
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value.bind(target) as unknown) : value;
    },
  });
  return { ...store, accounts, close: () => store.close() };
}

/**
 * Inserts a device straight into the server's store, as a malicious server
 * would: its own identity key, prekeys, and optionally a signed identity.
 */
async function insertDevice(
  server: RunningServer,
  account: string,
  signedDeviceIdentity?: Uint8Array,
): Promise<{ deviceId: number; identity: KeyPair; registrationId: number }> {
  const identity = await generateSigningKeyPair(ctx.crypto, ctx.random);
  const registrationId = 4242;
  const device = await server.store.accounts.addDevice(account, {
    identityKey: identity.publicKey.serialize(),
    registrationId,
    name: 'inserted',
    createdAt: Date.now(),
    keyIndex: 9,
    ...(signedDeviceIdentity === undefined ? {} : { signedDeviceIdentity }),
  });
  const signed = await generateSignedPreKey(ctx, identity, 1);
  await server.store.preKeys.setSignedPreKey(account, device.deviceId, {
    id: signed.id,
    publicKey: signed.keyPair.publicKey.serialize(),
    signature: signed.signature,
  });
  const [preKey] = await generatePreKeys(ctx, 1, 1);
  assert.ok(preKey);
  await server.store.preKeys.addOneTimePreKeys(
    account,
    device.deviceId,
    [{ id: preKey.id, publicKey: preKey.keyPair.publicKey.serialize() }],
    100,
  );
  return { deviceId: device.deviceId, identity, registrationId };
}

async function signedIdentityOf(device: TestDevice): Promise<Uint8Array> {
  const signed = (await device.store.account.getRequired()).signedDeviceIdentity;
  assert.ok(signed !== undefined && signed.length > 0);
  return signed;
}

describe('a malicious server against ADV (real server)', { timeout: 60_000 }, () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer({ port: 0, store: lyingStore(), logLevel: 'silent' });
  });
  after(async () => {
    await server.close();
  });

  it('refuses to encrypt to a device inserted into the store', async () => {
    const alice = await registerDevice(server, 'i-alice');
    const bob = await registerDevice(server, 'i-bob');
    const bob2 = await linkDevice(server, bob, 'desktop');
    const inserted = await insertDevice(server, 'i-bob');
    const a = await alice.online();
    const b2 = await bob2.online();
    const sent = await a.client.sendText('i-bob', 'for bob only');
    assert.deepEqual([...sent.outcome.devices].sort(), [1, bob2.deviceId]);
    assert.deepEqual(sent.outcome.refused, [
      { deviceId: inserted.deviceId, reason: 'missing-identity' },
    ]);
    const warning = await a.events.next('device-refused');
    assert.deepEqual(
      [warning.account, warning.deviceId, warning.reason],
      ['i-bob', inserted.deviceId, 'missing-identity'],
    );
    assert.equal((await b2.events.next('message')).message.text, 'for bob only');
    // Nothing at all was queued for the inserted device, and no session exists.
    assert.equal(await server.store.queue.count('i-bob', inserted.deviceId), 0);
    assert.equal(
      await alice.store.protocol.sessions.loadSession(protocolAddress('i-bob', inserted.deviceId)),
      undefined,
    );
    await a.client.close();
    await b2.client.close();
  });

  it('refuses companions whose account or device signature is wrong', async () => {
    const alice = await registerDevice(server, 's-alice');
    const bob = await registerDevice(server, 's-bob');
    const bob2 = await linkDevice(server, bob, 'desktop');
    const genuine = await signedIdentityOf(bob2);
    // A genuine identity copied onto another key: the account signature
    // covers bob2's key, not this one.
    const copied = await insertDevice(server, 's-bob', genuine);
    // The attacker's own "account" signature, relabelled with bob's key.
    const attacker = await generateSigningKeyPair(ctx.crypto, ctx.random);
    const victimKey = await insertDevice(server, 's-bob');
    const forgedUnsigned = decodeSignedDeviceIdentity(
      await createSignedDeviceIdentity(ctx, {
        accountKeyPair: attacker,
        companionIdentityKey: victimKey.identity.publicKey,
        keyIndex: 7,
        rawId: 1,
        timestamp: Math.floor(Date.now() / 1000),
      }),
    );
    const bobKey = (await bob.store.protocol.identity.getIdentityKeyPair()).publicKey;
    const relabelled = await insertDevice(
      server,
      's-bob',
      encodeSignedDeviceIdentity({
        ...forgedUnsigned,
        accountSignatureKey: bobKey.raw,
        deviceSignature: new Uint8Array(64).fill(1),
      }),
    );
    const a = await alice.online();
    const sent = await a.client.sendText('s-bob', 'hello');
    assert.deepEqual([...sent.outcome.devices].sort(), [1, bob2.deviceId]);
    const refused = new Map(sent.outcome.refused.map((r) => [r.deviceId, r.reason]));
    assert.equal(refused.get(copied.deviceId), 'signature-mismatch');
    assert.equal(refused.get(relabelled.deviceId), 'signature-mismatch');
    assert.equal(refused.get(victimKey.deviceId), 'missing-identity');
    for (const id of [copied.deviceId, relabelled.deviceId]) {
      assert.equal(await server.store.queue.count('s-bob', id), 0);
    }
    await a.client.close();
  });

  it('refuses a replayed older signed list that would resurrect a removed companion', async () => {
    const alice = await registerDevice(server, 'r-alice');
    const bob = await registerDevice(server, 'r-bob');
    const bob2 = await linkDevice(server, bob, 'desktop');
    const oldList = await server.store.accounts.getDeviceList('r-bob');
    assert.ok(oldList);
    const a = await alice.online();
    await a.client.sendText('r-bob', 'one');
    // Ensure the newer list is at least a second newer (timestamps are seconds).
    await new Promise((done) => setTimeout(done, 1_100));
    await unlinkDevice(server, bob, bob2.deviceId);
    await a.events.next('devices-changed');
    const second = await a.client.sendText('r-bob', 'two');
    assert.deepEqual(second.outcome.devices, [1]);

    // The server now replays the old list and serves bob2's identity again
    // under a fresh device id.
    replayedLists.set('r-bob', oldList);
    const resurrected = await insertDevice(server, 'r-bob', await signedIdentityOf(bob2));
    try {
      await a.client.verifiedDevices('r-bob');
      const third = await a.client.sendText('r-bob', 'three');
      assert.deepEqual(third.outcome.devices, [1]);
      assert.deepEqual(third.outcome.refused, [
        { deviceId: resurrected.deviceId, reason: 'device-list-rollback' },
      ]);
      assert.equal(await server.store.queue.count('r-bob', resurrected.deviceId), 0);
    } finally {
      replayedLists.delete('r-bob');
    }
    await a.client.close();
  });

  // The rogue's own option decides its prekey message's version: v4 from
  // bob's default bundle, v3 when it ignores the KEM prekey.
  for (const [version, rogueOptions] of [
    [4, {}],
    [3, { postQuantum: false }],
  ] as const) {
    it(`accepts no session from a companion with a forged source_device_identity (v${version})`, async () => {
      const alice = await registerDevice(server, `x${version}-alice`);
      const alice2 = await linkDevice(server, alice, 'laptop');
      const bob = await registerDevice(server, `x${version}-bob`);
      // An inserted "companion" of alice that carries alice2's genuine
      // identity as its own, on every prekey message it sends.
      const forged = await signedIdentityOf(alice2);
      const inserted = await insertDevice(server, `x${version}-alice`, forged);
      const backend = new MemoryBackend();
      const store = createDeviceStore(backend);
      await store.protocol.identity.setLocalIdentity(inserted.identity, inserted.registrationId);
      await store.account.put({
        account: `x${version}-alice`,
        deviceId: inserted.deviceId,
        registrationId: inserted.registrationId,
        serverUrl: server.url,
        createdAt: Date.now(),
        nextPreKeyId: 2,
        signedPreKeyId: 1,
        keyIndex: 9,
        signedDeviceIdentity: forged,
      });
      const recorder = new SendRecorder();
      const rogue = await deviceOn(server, `x${version}-alice`, store, backend).online({
        ...rogueOptions,
        wrap: recorder.wrap,
      });
      const b = await bob.online();
      await rogue.client.sendText(`x${version}-bob`, 'trust me');
      const sent = recorder.envelopes.find((e) => e.destination === `x${version}-bob`);
      assert.equal((sent?.content[0] ?? 0) >> 4, version, 'the prekey message version');
      const refusal = await b.events.next('session-refused');
      assert.equal(refusal.from, `x${version}-alice`);
      assert.equal(refusal.fromDevice, inserted.deviceId);
      assert.equal(refusal.reason, 'signature-mismatch');
      await b.client.idle();
      assert.equal(b.events.all('message').length, 0, 'the message is dropped');
      assert.equal(
        await bob.store.protocol.sessions.loadSession(
          protocolAddress(`x${version}-alice`, inserted.deviceId),
        ),
        undefined,
        'no session was stored',
      );
      assert.equal(
        await server.store.queue.count(`x${version}-bob`, 1),
        0,
        'the envelope was acked',
      );
      await rogue.client.close();
      await b.client.close();
    });
  }
});
