/**
 * The one conformance suite every protocol store backend runs (memory here;
 * SQLite, PostgreSQL and IndexedDB later), in the manner of matrix-sdk's
 * `cryptostore_integration_tests!`. It checks the contract the protocol core
 * relies on: round trips byte for byte, loads that return independent
 * copies, per-device and per-account separation, idempotent removal.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nodeCrypto } from '../../src/crypto/node.js';
import { protocolAddress } from '../../src/protocol/address.js';
import type { ProtocolContext } from '../../src/protocol/context.js';
import { generateKeyPair, generateSigningKeyPair } from '../../src/protocol/curve.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import { generateKyberPreKey } from '../../src/protocol/pq/kyber-prekey-record.js';
import { generatePreKeys, generateSignedPreKey } from '../../src/protocol/prekeys.js';
import { SessionRecord } from '../../src/protocol/session-record.js';
import { SessionState } from '../../src/protocol/session-state.js';
import type { ProtocolStores } from '../../src/protocol/stores/protocol-stores.js';

export type { ProtocolStores } from '../../src/protocol/stores/protocol-stores.js';

const ctx: ProtocolContext = {
  crypto: nodeCrypto,
  random: (n) => nodeCrypto.randomBytes(n),
  clock: { now: () => 1_700_000_000_000 },
};

async function sampleState(): Promise<SessionState> {
  const key = async (): Promise<Uint8Array> =>
    (await generateKeyPair(ctx.crypto, ctx.random)).publicKey.serialize();
  const ratchet = await generateKeyPair(ctx.crypto, ctx.random);
  return new SessionState({
    sessionVersion: 3,
    localIdentityKey: await key(),
    remoteIdentityKey: await key(),
    rootKey: ctx.random(32),
    previousCounter: 3,
    senderChain: {
      ratchetKey: ratchet.publicKey.serialize(),
      ratchetPrivateKey: ratchet.privateKey.toStorageBytes(),
      chainKey: { key: ctx.random(32), index: 7 },
    },
    receiverChains: [
      {
        ratchetKey: await key(),
        chainKey: { key: ctx.random(32), index: 2 },
        messageKeys: [{ index: 1, seed: ctx.random(32) }],
      },
    ],
    pendingPreKey: { preKeyId: 5, signedPreKeyId: 1, baseKey: await key() },
    localRegistrationId: 11,
    remoteRegistrationId: 22,
    aliceBaseKey: await key(),
  });
}

async function sampleRecord(): Promise<SessionRecord> {
  const record = SessionRecord.empty();
  record.promoteState(await sampleState());
  record.promoteState(await sampleState());
  return record;
}

/** Runs the protocol store contract against fresh stores from `makeStores`. */
export function runProtocolStoreConformance(
  label: string,
  makeStores: () => Promise<ProtocolStores>,
): void {
  describe(`protocol store conformance: ${label}`, () => {
    const alice1 = protocolAddress('alice', 1);
    const alice2 = protocolAddress('alice', 2);
    const dotted = protocolAddress('alice.1', 3);
    const bob7 = protocolAddress('bob', 7);

    it('identity: own key pair and registration id are stable', async () => {
      const s = await makeStores();
      const kp1 = await s.identity.getIdentityKeyPair();
      const kp2 = await s.identity.getIdentityKeyPair();
      assert.deepEqual(kp1.publicKey.serialize(), kp2.publicKey.serialize());
      assert.equal(kp1.publicKey.serialize().length, 33);
      const reg = await s.identity.getLocalRegistrationId();
      assert.ok(Number.isInteger(reg) && reg >= 0);
      assert.equal(await s.identity.getLocalRegistrationId(), reg);
    });

    it('identity: save reports changes, trust follows what was saved, per device', async () => {
      const s = await makeStores();
      const k1 = (await generateSigningKeyPair(ctx.crypto, ctx.random)).publicKey;
      const k2 = (await generateSigningKeyPair(ctx.crypto, ctx.random)).publicKey;
      assert.equal(await s.identity.getIdentity(alice1), undefined);
      assert.equal(
        await s.identity.isTrustedIdentity(alice1, k1, 'sending'),
        true,
        'first use is trusted',
      );
      assert.equal(
        await s.identity.saveIdentity(alice1, k1),
        false,
        'a first save is not a change',
      );
      assert.equal(
        await s.identity.saveIdentity(alice1, k1),
        false,
        'saving the same key is not a change',
      );
      assert.ok((await s.identity.getIdentity(alice1))?.equals(k1));
      for (const direction of ['sending', 'receiving'] as const) {
        assert.equal(await s.identity.isTrustedIdentity(alice1, k1, direction), true);
        assert.equal(await s.identity.isTrustedIdentity(alice1, k2, direction), false);
      }
      assert.equal(await s.identity.getIdentity(alice2), undefined, 'devices are separate');
      assert.equal(
        await s.identity.getIdentity(dotted),
        undefined,
        'names with dots do not collide',
      );
      assert.equal(await s.identity.saveIdentity(alice1, k2), true, 'a different key is a change');
      assert.ok((await s.identity.getIdentity(alice1))?.equals(k2));
      assert.equal(await s.identity.isTrustedIdentity(alice1, k2, 'sending'), true);
    });

    it('prekeys: round trip, absent ids, idempotent removal', async () => {
      const s = await makeStores();
      const [p1, p2] = await generatePreKeys(ctx, 1, 2);
      assert.ok(p1 !== undefined && p2 !== undefined);
      assert.equal(await s.preKeys.loadPreKey(1), undefined);
      await s.preKeys.storePreKey(p1.id, p1);
      await s.preKeys.storePreKey(p2.id, p2);
      assert.deepEqual((await s.preKeys.loadPreKey(1))?.serialize(), p1.serialize());
      await s.preKeys.removePreKey(1);
      await s.preKeys.removePreKey(1);
      await s.preKeys.removePreKey(999);
      assert.equal(await s.preKeys.loadPreKey(1), undefined);
      assert.deepEqual((await s.preKeys.loadPreKey(2))?.serialize(), p2.serialize());
    });

    it('signed prekeys: round trip, replace, removal', async () => {
      const s = await makeStores();
      const identity = await s.identity.getIdentityKeyPair();
      const a = await generateSignedPreKey(ctx, identity, 1);
      const b = await generateSignedPreKey(ctx, identity, 1);
      assert.equal(await s.signedPreKeys.loadSignedPreKey(1), undefined);
      await s.signedPreKeys.storeSignedPreKey(1, a);
      const loaded = await s.signedPreKeys.loadSignedPreKey(1);
      assert.deepEqual(loaded?.serialize(), a.serialize());
      assert.equal(loaded?.timestamp, a.timestamp);
      await s.signedPreKeys.storeSignedPreKey(1, b);
      assert.deepEqual((await s.signedPreKeys.loadSignedPreKey(1))?.serialize(), b.serialize());
      await s.signedPreKeys.removeSignedPreKey(1);
      await s.signedPreKeys.removeSignedPreKey(1);
      assert.equal(await s.signedPreKeys.loadSignedPreKey(1), undefined);
    });

    it('KEM prekeys: round trip, absent ids, idempotent removal', async () => {
      const s = await makeStores();
      const store = s.kyberPreKeys;
      // Every backend keeps KEM prekeys (post-quantum sessions need them);
      // the field is optional only for hosts that never publish any.
      assert.ok(store !== undefined, 'the backend has a KEM prekey store');
      const identity = await s.identity.getIdentityKeyPair();
      const a = await generateKyberPreKey(ctx, identity, 1);
      const b = await generateKyberPreKey(ctx, identity, 2);
      assert.equal(await store.loadKyberPreKey(1), undefined);
      await store.storeKyberPreKey(1, a);
      await store.storeLastResortKyberPreKey(2, b);
      const loaded = await store.loadKyberPreKey(1);
      assert.deepEqual(loaded?.serialize(), a.serialize());
      assert.equal(loaded?.timestamp, a.timestamp);
      assert.deepEqual((await store.loadKyberPreKey(2))?.serialize(), b.serialize());
      await store.removeKyberPreKey(1);
      await store.removeKyberPreKey(1);
      await store.removeKyberPreKey(999);
      assert.equal(await store.loadKyberPreKey(1), undefined);
      assert.ok((await store.loadKyberPreKey(2)) !== undefined);
    });

    it('KEM prekeys: a one-time key is gone after use; a last-resort key stays and refuses a replayed (signed id, base key)', async () => {
      const s = await makeStores();
      const store = s.kyberPreKeys;
      // Every backend keeps KEM prekeys (post-quantum sessions need them);
      // the field is optional only for hosts that never publish any.
      assert.ok(store !== undefined, 'the backend has a KEM prekey store');
      const identity = await s.identity.getIdentityKeyPair();
      const oneTime = await generateKyberPreKey(ctx, identity, 10);
      const lastResort = await generateKyberPreKey(ctx, identity, 11);
      await store.storeKyberPreKey(10, oneTime);
      await store.storeLastResortKyberPreKey(11, lastResort);
      const base1 = (await generateKeyPair(ctx.crypto, ctx.random)).publicKey.serialize();
      const base2 = (await generateKeyPair(ctx.crypto, ctx.random)).publicKey.serialize();

      await store.markKyberPreKeyUsed(10, 1, base1);
      assert.equal(await store.loadKyberPreKey(10), undefined, 'one-time key removed');
      await assert.rejects(store.markKyberPreKeyUsed(10, 1, base2), (e: unknown) =>
        ProtocolError.is(e, 'invalid-prekey-id'),
      );

      await store.markKyberPreKeyUsed(11, 1, base1);
      await store.markKyberPreKeyUsed(11, 1, base2);
      await store.markKyberPreKeyUsed(11, 2, base1);
      assert.deepEqual(
        (await store.loadKyberPreKey(11))?.serialize(),
        lastResort.serialize(),
        'last-resort key kept',
      );
      await assert.rejects(store.markKyberPreKeyUsed(11, 1, base1), (e: unknown) =>
        ProtocolError.is(e, 'duplicate-message'),
      );
      await assert.rejects(store.markKyberPreKeyUsed(11, 2, base1.slice()), (e: unknown) =>
        ProtocolError.is(e, 'duplicate-message'),
      );
      assert.ok(
        (await store.loadKyberPreKey(11)) !== undefined,
        'a refused replay removes nothing',
      );
      // Changing the caller's bytes after marking changes nothing recorded.
      const base3 = (await generateKeyPair(ctx.crypto, ctx.random)).publicKey.serialize();
      await store.markKyberPreKeyUsed(11, 3, base3);
      const copy = base3.slice();
      base3.fill(0);
      await assert.rejects(store.markKyberPreKeyUsed(11, 3, copy), (e: unknown) =>
        ProtocolError.is(e, 'duplicate-message'),
      );
    });

    it('sessions: byte-exact round trip; loads are independent copies', async () => {
      const s = await makeStores();
      assert.equal(await s.sessions.loadSession(alice1), undefined);
      const record = await sampleRecord();
      const bytes = record.serialize();
      await s.sessions.storeSession(alice1, record);
      // Changing the caller's object after storing changes nothing stored.
      record.archiveCurrentState();
      const loaded = await s.sessions.loadSession(alice1);
      assert.deepEqual(loaded?.serialize(), bytes);
      // Changing a loaded copy changes nothing stored either.
      loaded?.archiveCurrentState();
      const chain = loaded?.previous[0]?.senderChain;
      if (chain !== undefined) chain.chainKey = { key: new Uint8Array(32), index: 99 };
      assert.deepEqual((await s.sessions.loadSession(alice1))?.serialize(), bytes);
    });

    it('sessions: device listing, single and per-account deletion', async () => {
      const s = await makeStores();
      const record = await sampleRecord();
      for (const address of [alice2, alice1, dotted, bob7])
        await s.sessions.storeSession(address, record);
      assert.deepEqual(await s.sessions.listDeviceIds('alice'), [1, 2]);
      assert.deepEqual(await s.sessions.listDeviceIds('alice.1'), [3]);
      assert.deepEqual(await s.sessions.listDeviceIds('carol'), []);
      await s.sessions.deleteSession(alice1);
      await s.sessions.deleteSession(alice1);
      assert.equal(await s.sessions.loadSession(alice1), undefined);
      assert.deepEqual(await s.sessions.listDeviceIds('alice'), [2]);
      await s.sessions.deleteAllSessions('alice');
      assert.deepEqual(await s.sessions.listDeviceIds('alice'), []);
      assert.equal(await s.sessions.loadSession(alice2), undefined);
      assert.ok((await s.sessions.loadSession(dotted)) !== undefined, 'other accounts untouched');
      assert.ok((await s.sessions.loadSession(bob7)) !== undefined);
    });
  });
}
