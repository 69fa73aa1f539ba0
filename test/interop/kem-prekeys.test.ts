/**
 * KEM keys and signed KEM prekeys, byte for byte against
 * @signalapp/libsignal-client 0.103: each side parses what the other makes,
 * the stored records are identical, and each side's signatures verify on
 * the other.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as Signal from '@signalapp/libsignal-client';
import { nodeCrypto } from '../../src/crypto/node.js';
import type { ProtocolContext } from '../../src/protocol/context.js';
import { generateSigningKeyPair, PublicKey } from '../../src/protocol/curve.js';
import { encapsulate, KemKeyType, KemPublicKey, KemSecretKey } from '../../src/protocol/pq/kem.js';
import {
  generateKyberPreKey,
  KyberPreKeyRecord,
  verifiedKemPreKey,
} from '../../src/protocol/pq/kyber-prekey-record.js';
import { fixedClock } from '../protocol/session-helpers.js';

type Bytes = Uint8Array<ArrayBuffer>;
const ab = (bytes: Uint8Array): Bytes => new Uint8Array(bytes);

const ctx: ProtocolContext = {
  crypto: nodeCrypto,
  random: (n) => nodeCrypto.randomBytes(n),
  clock: fixedClock(1_765_000_000_000),
};

describe('KEM prekeys against libsignal-client 0.103', () => {
  it('libsignal generates Kyber1024 (type 0x08) keys; ours parse and re-serialize them exactly', () => {
    const pair = Signal.KEMKeyPair.generate();
    const pub = pair.getPublicKey().serialize();
    const secret = pair.getSecretKey().serialize();
    assert.equal(pub[0], KemKeyType.kyber1024);
    const ours = KemPublicKey.deserialize(pub);
    assert.equal(ours.type, KemKeyType.kyber1024);
    assert.deepEqual(ours.serialize(), new Uint8Array(pub));
    assert.deepEqual(KemSecretKey.deserialize(secret).serialize(), new Uint8Array(secret));
  });

  it('libsignal accepts our Kyber1024 public keys and refuses ML-KEM-1024 (type 0x0A)', async () => {
    const identity = await generateSigningKeyPair(ctx.crypto, ctx.random);
    const record = await generateKyberPreKey(ctx, identity, 9);
    const bytes = record.keyPair.publicKey.serialize();
    assert.deepEqual(new Uint8Array(Signal.KEMPublicKey.deserialize(ab(bytes)).serialize()), bytes);
    const mlkem = await generateKyberPreKey(ctx, identity, 10, KemKeyType.mlkem1024);
    assert.throws(
      () => Signal.KEMPublicKey.deserialize(ab(mlkem.keyPair.publicKey.serialize())),
      /bad KEM key type <0x0a>/,
    );
  });

  it('our encapsulation to a libsignal key decapsulates with its secret key (Kyber round 3 both ways)', () => {
    const pair = Signal.KEMKeyPair.generate();
    const pub = KemPublicKey.deserialize(pair.getPublicKey().serialize());
    const secret = KemSecretKey.deserialize(pair.getSecretKey().serialize());
    const { ciphertext, sharedSecret } = encapsulate(pub, ctx.random);
    assert.deepEqual(secret.decapsulate(ciphertext), sharedSecret);
  });

  it('a libsignal KyberPreKeyRecord parses and re-serializes byte-identically, and its signature verifies', async () => {
    const identity = Signal.IdentityKeyPair.generate();
    const pair = Signal.KEMKeyPair.generate();
    const signature = identity.privateKey.sign(pair.getPublicKey().serialize());
    const theirs = Signal.KyberPreKeyRecord.new(4711, 1_765_000_123_456, pair, signature);
    const ours = KyberPreKeyRecord.deserialize(theirs.serialize());
    assert.equal(ours.id, 4711);
    assert.equal(ours.timestamp, 1_765_000_123_456);
    assert.deepEqual(ours.serialize(), new Uint8Array(theirs.serialize()));
    const identityKey = PublicKey.deserialize(identity.publicKey.serialize());
    const verified = await verifiedKemPreKey(
      ctx.crypto,
      identityKey,
      ours.keyPair.publicKey.serialize(),
      ours.signature,
    );
    assert.ok(verified.equals(ours.keyPair.publicKey));
  });

  it('our KyberPreKeyRecord is read by libsignal field for field, and libsignal verifies our signature', async () => {
    const identity = await generateSigningKeyPair(ctx.crypto, ctx.random);
    const ours = await generateKyberPreKey(ctx, identity, 123);
    const theirs = Signal.KyberPreKeyRecord.deserialize(ab(ours.serialize()));
    assert.equal(theirs.id(), 123);
    assert.equal(theirs.timestamp(), 1_765_000_000_000);
    assert.deepEqual(
      new Uint8Array(theirs.publicKey().serialize()),
      ours.keyPair.publicKey.serialize(),
    );
    assert.deepEqual(
      new Uint8Array(theirs.secretKey().serialize()),
      ours.keyPair.secretKey.serialize(),
    );
    assert.deepEqual(new Uint8Array(theirs.signature()), ours.signature);
    assert.deepEqual(new Uint8Array(theirs.serialize()), ours.serialize());
    const signalIdentity = Signal.PublicKey.deserialize(ab(identity.publicKey.serialize()));
    assert.ok(signalIdentity.verify(theirs.publicKey().serialize(), theirs.signature()));
  });

  it('attack: a bundle whose KEM prekey signature is wrong is refused by both libraries', async () => {
    const identity = await generateSigningKeyPair(ctx.crypto, ctx.random);
    const record = await generateKyberPreKey(ctx, identity, 1);
    const bad = new Uint8Array(record.signature);
    bad[5] = (bad[5] ?? 0) ^ 0x10;
    await assert.rejects(
      verifiedKemPreKey(ctx.crypto, identity.publicKey, record.keyPair.publicKey.serialize(), bad),
      { code: 'invalid-signature' },
    );
    // The signature covers the type byte: the same key relabelled is refused.
    const relabelled = record.keyPair.publicKey.serialize();
    relabelled[0] = KemKeyType.mlkem1024;
    await assert.rejects(
      verifiedKemPreKey(ctx.crypto, identity.publicKey, relabelled, record.signature),
      { code: 'invalid-signature' },
    );
    // An unknown type is refused before the signature is even checked.
    const unknown = record.keyPair.publicKey.serialize();
    unknown[0] = 0x09;
    await assert.rejects(
      verifiedKemPreKey(ctx.crypto, identity.publicKey, unknown, record.signature),
      { code: 'invalid-key' },
    );
    // libsignal refuses the same bundle and stores no session.
    const signed = Signal.PrivateKey.generate();
    const idPair = Signal.IdentityKeyPair.generate();
    const bundle = Signal.PreKeyBundle.new(
      1,
      1,
      null,
      null,
      1,
      signed.getPublicKey(),
      idPair.privateKey.sign(signed.getPublicKey().serialize()),
      idPair.publicKey,
      1,
      Signal.KEMPublicKey.deserialize(ab(record.keyPair.publicKey.serialize())),
      ab(bad),
    );
    const { LibsignalDevice } = await import('../../bench/libsignal-client.js');
    const alice = new LibsignalDevice('alice', 1, 1);
    const bob = Signal.ProtocolAddress.new('bob', 1);
    await assert.rejects(alice.processBundle(bob, bundle), /signature/i);
    assert.equal(await alice.sessions.getSession(bob), null);
  });
});
