/**
 * PQXDH between two Quintet parties, the version-4 message formats, the SPQR
 * message codec, and the attacks the PQXDH pieces must refuse with a typed
 * error before they change anything.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ed25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import { checkProperty } from '../../property.js';
import { nodeCrypto } from '../../../src/crypto/node.js';
import type { ProtocolContext } from '../../../src/protocol/context.js';
import {
  generateKeyPair,
  generateSigningKeyPair,
  PublicKey,
  type KeyPair,
} from '../../../src/protocol/curve.js';
import { ProtocolError } from '../../../src/protocol/errors.js';
import { edwardsToMontgomery, montgomeryToEdwards } from '../../../src/protocol/xeddsa.js';
import { encapsulate, KemKeyType } from '../../../src/protocol/pq/kem.js';
import {
  generateKyberPreKey,
  KyberPreKeyRecord,
} from '../../../src/protocol/pq/kyber-prekey-record.js';
import {
  PQ_VERSION_BYTE,
  PreKeySignalMessageV4,
  SignalMessageV4,
} from '../../../src/protocol/pq/messages-v4.js';
import {
  isCanonicalPublicKey,
  pqxdhAccept,
  pqxdhInitiate,
  PQXDH_INFO,
} from '../../../src/protocol/pq/pqxdh.js';
import {
  decodeSpqrMessage,
  encodeSpqrMessage,
  SpqrMessageType,
} from '../../../src/protocol/pq/spqr-message.js';
import { spqrChainStart, spqrKeyAt } from '../../../src/protocol/pq/spqr-chain.js';
import { FirstFlightReceiver, firstFlightSender } from './first-flight.js';
import { fixedClock, seededRandom } from '../session-helpers.js';

const ctx: ProtocolContext = {
  crypto: nodeCrypto,
  random: (n) => nodeCrypto.randomBytes(n),
  clock: fixedClock(),
};
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

async function bob() {
  const identity = await generateSigningKeyPair(ctx.crypto, ctx.random);
  const signedPreKey = await generateKeyPair(ctx.crypto, ctx.random);
  const oneTimePreKey = await generateKeyPair(ctx.crypto, ctx.random);
  const kyber = await generateKyberPreKey(ctx, identity, 7);
  return { identity, signedPreKey, oneTimePreKey, kyber };
}

async function initiate(b: Awaited<ReturnType<typeof bob>>, oneTime: boolean, alice: KeyPair) {
  const base = await generateKeyPair(ctx.crypto, ctx.random);
  const run = await pqxdhInitiate(ctx, {
    ourIdentityKeyPair: alice,
    ourBaseKeyPair: base,
    theirIdentityKey: b.identity.publicKey,
    theirSignedPreKey: b.signedPreKey.publicKey,
    theirOneTimePreKey: oneTime ? b.oneTimePreKey.publicKey : undefined,
    theirKemPreKey: b.kyber.keyPair.publicKey,
  });
  return { base, ...run };
}

describe('PQXDH between Quintet parties', () => {
  for (const oneTime of [true, false]) {
    it(`both sides derive the same root, chain and PQR keys (${oneTime ? 'with' : 'without'} DH4)`, async () => {
      const b = await bob();
      const alice = await generateSigningKeyPair(ctx.crypto, ctx.random);
      const sent = await initiate(b, oneTime, alice);
      const keys = await pqxdhAccept(ctx, {
        ourIdentityKeyPair: b.identity,
        ourSignedPreKeyPair: b.signedPreKey,
        ourOneTimePreKeyPair: oneTime ? b.oneTimePreKey : undefined,
        ourKemPreKey: b.kyber.keyPair.secretKey,
        theirIdentityKey: alice.publicKey,
        theirBaseKey: sent.base.publicKey,
        theirKemCiphertext: sent.kemCiphertext,
      });
      assert.deepEqual(keys, sent.keys);
      assert.equal(keys.pqrKey.length, 32);
      // A responder who skips DH4 (or adds one) derives other keys.
      const mismatched = await pqxdhAccept(ctx, {
        ourIdentityKeyPair: b.identity,
        ourSignedPreKeyPair: b.signedPreKey,
        ourOneTimePreKeyPair: oneTime ? undefined : b.oneTimePreKey,
        ourKemPreKey: b.kyber.keyPair.secretKey,
        theirIdentityKey: alice.publicKey,
        theirBaseKey: sent.base.publicKey,
        theirKemCiphertext: sent.kemCiphertext,
      });
      assert.notDeepEqual(mismatched.rootKey, keys.rootKey);
    });
  }

  it("the KDF label is libsignal's, whatever the KEM type", () => {
    assert.equal(
      new TextDecoder().decode(PQXDH_INFO),
      'WhisperText_X25519_SHA-256_CRYSTALS-KYBER-1024',
    );
  });

  it('first flight: Quintet → Quintet over v4 messages with SPQR epoch-0 keys', async () => {
    const b = await bob();
    const alice = await generateSigningKeyPair(ctx.crypto, ctx.random);
    const sender = await firstFlightSender(
      ctx,
      { identity: alice, registrationId: 9 },
      {
        registrationId: 10,
        identityKey: b.identity.publicKey,
        signedPreKeyId: 1,
        signedPreKey: b.signedPreKey.publicKey,
        preKeyId: 2,
        preKey: b.oneTimePreKey.publicKey,
        kyberPreKeyId: b.kyber.id,
        kyberPreKey: b.kyber.keyPair.publicKey,
      },
    );
    const chunk = new Uint8Array(32).fill(7);
    const spqr = (index: number) =>
      encodeSpqrMessage({
        epoch: 1,
        index,
        type: SpqrMessageType.header,
        chunk: { index: 0, data: chunk },
      });
    const bodies = [
      await sender.encrypt(text('one'), spqr),
      await sender.encrypt(text(''), spqr),
      await sender.encrypt(text('three'), spqr),
    ];
    const keys = {
      identity: b.identity,
      signedPreKey: b.signedPreKey,
      oneTimePreKey: b.oneTimePreKey,
      kemSecretKey: b.kyber.keyPair.secretKey,
    };
    const first = bodies[0];
    assert.ok(first !== undefined);
    const receiver = await FirstFlightReceiver.start(ctx, keys, first);
    assert.deepEqual(receiver.keys, sender.keys);
    const plain = [];
    for (const body of bodies) {
      const message = PreKeySignalMessageV4.deserialize(body);
      plain.push(new TextDecoder().decode(await receiver.decrypt(message.message)));
    }
    assert.deepEqual(plain, ['one', '', 'three']);
  });
});

describe('PQXDH attacks: refused with a typed error, nothing derived', () => {
  it('a KEM ciphertext of the wrong length', async () => {
    const b = await bob();
    const alice = await generateSigningKeyPair(ctx.crypto, ctx.random);
    const sent = await initiate(b, true, alice);
    for (const ciphertext of [
      sent.kemCiphertext.subarray(0, 1000),
      new Uint8Array([...sent.kemCiphertext, 0]),
      new Uint8Array(0),
    ]) {
      await assert.rejects(
        pqxdhAccept(ctx, {
          ourIdentityKeyPair: b.identity,
          ourSignedPreKeyPair: b.signedPreKey,
          ourOneTimePreKeyPair: b.oneTimePreKey,
          ourKemPreKey: b.kyber.keyPair.secretKey,
          theirIdentityKey: alice.publicKey,
          theirBaseKey: sent.base.publicKey,
          theirKemCiphertext: ciphertext,
        }),
        { code: 'invalid-message' },
      );
    }
  });

  it('a KEM ciphertext of an unknown or other key type', async () => {
    const b = await bob();
    const alice = await generateSigningKeyPair(ctx.crypto, ctx.random);
    const sent = await initiate(b, true, alice);
    for (const [type, code] of [
      [0x09, 'invalid-message'],
      [KemKeyType.mlkem1024, 'invalid-key'],
    ] as const) {
      const ciphertext = new Uint8Array(sent.kemCiphertext);
      ciphertext[0] = type;
      await assert.rejects(
        pqxdhAccept(ctx, {
          ourIdentityKeyPair: b.identity,
          ourSignedPreKeyPair: b.signedPreKey,
          ourOneTimePreKeyPair: b.oneTimePreKey,
          ourKemPreKey: b.kyber.keyPair.secretKey,
          theirIdentityKey: alice.publicKey,
          theirBaseKey: sent.base.publicKey,
          theirKemCiphertext: ciphertext,
        }),
        { code },
      );
    }
  });

  it('a non-canonical base key (libsignal is_canonical): torsion or u ≥ p', async () => {
    const b = await bob();
    const alice = await generateSigningKeyPair(ctx.crypto, ctx.random);
    const sent = await initiate(b, true, alice);
    assert.ok(isCanonicalPublicKey(sent.base.publicKey));
    // u + p, the same point under a second encoding (bit 255 clear).
    const u = sent.base.publicKey.raw;
    const p = (1n << 255n) - 19n;
    let value = 0n;
    for (let i = 31; i >= 0; i--) value = (value << 8n) | BigInt(u[i] ?? 0);
    const candidates: Uint8Array[] = [];
    if (value + p < 1n << 255n) {
      const bytes = new Uint8Array(32);
      let v = value + p;
      for (let i = 0; i < 32; i++) {
        bytes[i] = Number(v & 0xffn);
        v >>= 8n;
      }
      candidates.push(bytes);
    }
    // Bit 255 set: X25519 ignores it, libsignal refuses it.
    const high = new Uint8Array(u);
    high[31] = (high[31] ?? 0) | 0x80;
    candidates.push(high);
    // The base key plus a point of order 8: same X25519 results with a
    // clamped scalar, but a torsion component libsignal refuses.
    const order8 = ed25519.Point.fromBytes(
      Uint8Array.from(
        Buffer.from('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', 'hex'),
      ),
    );
    assert.ok(order8.isSmallOrder() && !order8.is0());
    const edwards = montgomeryToEdwards(u, 0);
    assert.ok(edwards !== undefined);
    const torsioned = edwardsToMontgomery(ed25519.Point.fromBytes(edwards).add(order8).toBytes());
    assert.ok(torsioned !== undefined);
    candidates.push(torsioned);
    // A twist point (no Edwards point at all) is refused too.
    const twist = new Uint8Array(32);
    twist[0] = 2; // u = 2 lies on the twist of Curve25519
    candidates.push(twist);
    for (const raw of candidates) {
      const key = PublicKey.fromRaw(raw);
      assert.equal(isCanonicalPublicKey(key), false);
      await assert.rejects(
        pqxdhAccept(ctx, {
          ourIdentityKeyPair: b.identity,
          ourSignedPreKeyPair: b.signedPreKey,
          ourOneTimePreKeyPair: b.oneTimePreKey,
          ourKemPreKey: b.kyber.keyPair.secretKey,
          theirIdentityKey: alice.publicKey,
          theirBaseKey: key,
          theirKemCiphertext: sent.kemCiphertext,
        }),
        { code: 'invalid-key' },
      );
    }
  });

  it('a stored KEM prekey record that does not parse is a local fault (invalid-state)', async () => {
    const b = await bob();
    const bytes = b.kyber.serialize();
    const round = KyberPreKeyRecord.deserialize(bytes);
    assert.deepEqual(round.serialize(), bytes);
    assert.equal(String(round), '[KyberPreKeyRecord]');
    for (const cut of [1, 10, 1000, bytes.length - 1]) {
      assert.throws(() => KyberPreKeyRecord.deserialize(bytes.subarray(0, cut)), {
        code: 'invalid-state',
      });
    }
  });
});

describe('version-4 messages', () => {
  async function sample() {
    const crypto = nodeCrypto;
    const ratchet = await generateKeyPair(crypto, seededRandom('ratchet'));
    const identity = await generateSigningKeyPair(crypto, seededRandom('identity'));
    const base = await generateKeyPair(crypto, seededRandom('base'));
    const kyber = await generateKyberPreKey(ctx, identity, 3);
    const { ciphertext } = encapsulate(kyber.keyPair.publicKey, seededRandom('kem'));
    const macKey = new Uint8Array(32).fill(1);
    const inner = await SignalMessageV4.create(
      crypto,
      {
        senderRatchetKey: ratchet.publicKey,
        counter: 3,
        previousCounter: 2,
        ciphertext: new Uint8Array(32).fill(9),
        pqRatchet: encodeSpqrMessage({
          epoch: 1,
          index: 4,
          type: SpqrMessageType.none,
          chunk: undefined,
        }),
      },
      macKey,
      identity.publicKey.serialize(),
      identity.publicKey.serialize(),
    );
    const outer = PreKeySignalMessageV4.create({
      registrationId: 77,
      preKeyId: 5,
      signedPreKeyId: 6,
      kyberPreKeyId: 3,
      kyberCiphertext: ciphertext,
      baseKey: base.publicKey,
      identityKey: identity.publicKey,
      message: inner,
    });
    return { inner, outer, macKey, identity };
  }

  it('round-trip, version byte 0x44, fields in number order, MAC over the v4 bytes', async () => {
    const { inner, outer, macKey, identity } = await sample();
    assert.equal(outer.serialized[0], PQ_VERSION_BYTE);
    assert.equal(PQ_VERSION_BYTE, 0x44);
    const parsed = PreKeySignalMessageV4.deserialize(outer.serialized);
    assert.deepEqual(parsed.serialized, outer.serialized);
    assert.equal(parsed.kyberPreKeyId, 3);
    assert.equal(parsed.preKeyId, 5);
    assert.equal(parsed.registrationId, 77);
    assert.equal(parsed.message.counter, 3);
    assert.equal(parsed.message.previousCounter, 2);
    assert.deepEqual(decodeSpqrMessage(parsed.message.pqRatchet), {
      epoch: 1,
      index: 4,
      type: SpqrMessageType.none,
      chunk: undefined,
    });
    const id = identity.publicKey.serialize();
    assert.ok(await parsed.message.verifyMac(nodeCrypto, macKey, id, id));
    assert.ok(!(await parsed.message.verifyMac(nodeCrypto, new Uint8Array(32), id, id)));
    // The embedded message's field tags appear in order 1, 2, 3, 4, 5.
    assert.deepEqual(
      [inner.serialized[1], inner.serialized[36], inner.serialized[38], inner.serialized[40]],
      [0x0a, 0x10, 0x18, 0x22],
    );
  });

  it('a v4 prekey message without its KEM id or ciphertext is refused (downgrade)', async () => {
    const { outer } = await sample();
    // Drop field 7 and 8 by re-encoding only the prefix up to them.
    const body = outer.serialized;
    const kyberAt = body.length - (2 + 1 + 2 + 1569); // tag 7 + id, tag 8 + length (2) + ciphertext
    const truncated = body.subarray(0, kyberAt);
    assert.throws(() => PreKeySignalMessageV4.deserialize(truncated), {
      code: 'invalid-message',
      message: /KEM prekey id or ciphertext/,
    });
  });

  it('v3 bytes are not v4 messages, and v4 bytes are not v3 ones', async () => {
    const { outer, inner } = await sample();
    const v3 = new Uint8Array(outer.serialized);
    v3[0] = 0x33;
    assert.throws(() => PreKeySignalMessageV4.deserialize(v3), { code: 'invalid-version' });
    const { PreKeySignalMessage } = await import('../../../src/protocol/prekey-signal-message.js');
    const { SignalMessage } = await import('../../../src/protocol/signal-message.js');
    assert.throws(() => PreKeySignalMessage.deserialize(outer.serialized), {
      code: 'invalid-version',
    });
    assert.throws(() => SignalMessage.deserialize(inner.serialized), { code: 'invalid-version' });
  });

  it('fuzz: the v4 decoders only ever throw ProtocolError, on mutations and random bytes', async () => {
    const { outer, inner } = await sample();
    checkProperty(
      fc.property(
        fc.constantFrom(outer.serialized, inner.serialized),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.nat(),
        (original, edits, cut) => {
          const bytes = new Uint8Array(original);
          for (const [at, value] of edits) bytes[at % bytes.length] = value;
          const input = bytes.subarray(0, bytes.length - (cut % 8));
          for (const parse of [
            (b: Uint8Array) => PreKeySignalMessageV4.deserialize(b),
            (b: Uint8Array) => SignalMessageV4.deserialize(b),
          ]) {
            try {
              parse(input);
            } catch (error) {
              assert.ok(error instanceof ProtocolError, String(error));
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('SPQR message codec and chain', () => {
  it('round-trips every message type; chunk-less types carry none', () => {
    const data = Uint8Array.from({ length: 32 }, (_, i) => i);
    for (const type of Object.values(SpqrMessageType)) {
      const withChunk = [1, 2, 3, 5, 6].includes(type);
      const message = {
        epoch: 300,
        index: 70_000,
        type,
        chunk: withChunk ? { index: 65_535, data } : undefined,
      };
      const bytes = encodeSpqrMessage(message);
      assert.equal(bytes[0], 1);
      assert.deepEqual(decodeSpqrMessage(bytes), message);
      // Trailing bytes are allowed (spqr keeps room for later versions).
      assert.deepEqual(decodeSpqrMessage(new Uint8Array([...bytes, 1, 2, 3])), message);
    }
    assert.equal(decodeSpqrMessage(new Uint8Array(0)), undefined);
    // spqr's own varint example: 300 = 0xAC 0x02.
    assert.deepEqual(
      encodeSpqrMessage({ epoch: 300, index: 0, type: SpqrMessageType.none, chunk: undefined }),
      new Uint8Array([1, 0xac, 0x02, 0, 0]),
    );
  });

  it('property: encode/decode round-trip; any bytes decode or fail with ProtocolError', () => {
    const messageArb = fc
      .record({
        epoch: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        index: fc.integer({ min: 0, max: 0xffffffff }),
        type: fc.constantFrom(...Object.values(SpqrMessageType)),
        chunkIndex: fc.integer({ min: 0, max: 0xffff }),
        data: fc.uint8Array({ minLength: 32, maxLength: 32 }),
      })
      .map(({ epoch, index, type, chunkIndex, data }) => ({
        epoch,
        index,
        type,
        chunk: [1, 2, 3, 5, 6].includes(type) ? { index: chunkIndex, data } : undefined,
      }));
    checkProperty(
      fc.property(messageArb, fc.uint8Array({ maxLength: 60 }), (message, noise) => {
        assert.deepEqual(decodeSpqrMessage(encodeSpqrMessage(message)), message);
        try {
          decodeSpqrMessage(noise);
        } catch (error) {
          assert.ok(error instanceof ProtocolError, String(error));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('malformed SPQR messages are typed errors', () => {
    const cases: [number[], string][] = [
      [[2, 1, 0, 0], 'invalid-version'],
      [[1, 0, 0, 0], 'invalid-message'], // epoch 0
      [[1, 1, 0, 7], 'invalid-message'], // unknown type
      [[1, 1, 0], 'invalid-message'], // truncated
      [[1, 1, 0, 1, 0, 1, 2], 'invalid-message'], // chunk truncated
      [[1, 1, 0, 1, 0xff, 0xff, 0x04, ...new Array<number>(32).fill(0)], 'invalid-message'], // chunk index > 65535
      [[1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], 'invalid-message'],
    ];
    for (const [bytes, code] of cases) {
      assert.throws(() => decodeSpqrMessage(Uint8Array.from(bytes)), { code }, bytes.join(','));
    }
  });

  it('chain keys: directions differ, indexes are one-way, jumps are bounded', async () => {
    const start = await spqrChainStart(nodeCrypto, new Uint8Array(32).fill(3));
    assert.notDeepEqual(start.a2b.next, start.b2a.next);
    const direct = await spqrKeyAt(nodeCrypto, start.a2b, 5);
    let walk = await spqrKeyAt(nodeCrypto, start.a2b, 1);
    for (let i = 2; i <= 5; i++) walk = await spqrKeyAt(nodeCrypto, walk.chain, i);
    assert.deepEqual(direct.key, walk.key);
    await assert.rejects(spqrKeyAt(nodeCrypto, direct.chain, 5), { code: 'duplicate-message' });
    await assert.rejects(spqrKeyAt(nodeCrypto, start.a2b, 25_001), { code: 'too-far-in-future' });
  });
});
