/**
 * Curve25519 key classes: formats, clamping, generation draws, agreement,
 * low-order rejection, storage round trips and secret hygiene.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { checkProperty } from '../property.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import {
  DJB_TYPE,
  PrivateKey,
  PublicKey,
  agree,
  generateKeyPair,
  generateSigningKeyPair,
  keyPairFromPrivate,
} from '../../src/protocol/curve.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import { nodeCrypto } from '../../src/crypto/node.js';
import { browserCrypto } from '../../src/crypto/browser.js';
import { hex, toHex } from '../crypto/providers.js';

const random = (n: number): Uint8Array => nodeCrypto.randomBytes(n);
const isInvalidKey = (e: unknown): boolean => ProtocolError.is(e, 'invalid-key');

/** A RandomSource that records every draw. */
function recordingRandom(): { random: (n: number) => Uint8Array; draws: Uint8Array[] } {
  const draws: Uint8Array[] = [];
  return {
    draws,
    random: (n) => {
      const bytes = nodeCrypto.randomBytes(n);
      draws.push(bytes.slice());
      return bytes;
    },
  };
}

describe('PublicKey', () => {
  it('serializes as 0x05 ‖ raw and round-trips', async () => {
    const { publicKey } = await generateKeyPair(nodeCrypto, random);
    const bytes = publicKey.serialize();
    assert.equal(bytes.length, 33);
    assert.equal(bytes[0], DJB_TYPE);
    assert.deepEqual(bytes.subarray(1), publicKey.raw);
    assert.equal(publicKey.serialize(), bytes, 'serialization is cached');
    const back = PublicKey.deserialize(bytes);
    assert.ok(back.equals(publicKey));
    assert.ok(PublicKey.fromRaw(publicKey.raw).equals(publicKey));
    const other = await generateKeyPair(nodeCrypto, random);
    assert.equal(other.publicKey.equals(publicKey), false);
  });

  it('copies its input, so later changes to the caller buffer do not leak in', () => {
    const raw = hex('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    const key = PublicKey.fromRaw(raw);
    raw[0] = 0;
    assert.equal(
      toHex(key.raw),
      '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
    );
  });

  it('rejects wrong lengths, type bytes and small-order points with invalid-key', () => {
    const good = hex('058520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    assert.throws(() => PublicKey.deserialize(good.subarray(0, 32)), isInvalidKey);
    assert.throws(() => PublicKey.deserialize(new Uint8Array([...good, 0])), isInvalidKey);
    const wrongType = good.slice();
    wrongType[0] = 0x06;
    assert.throws(() => PublicKey.deserialize(wrongType), isInvalidKey);
    assert.throws(() => PublicKey.deserialize(new Uint8Array(0)), isInvalidKey);
    for (const u of [
      '0000000000000000000000000000000000000000000000000000000000000000',
      '0100000000000000000000000000000000000000000000000000000000000000',
      'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
      '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
      'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880',
    ]) {
      assert.throws(() => PublicKey.fromRaw(hex(u)), isInvalidKey, u);
      assert.throws(() => PublicKey.deserialize(hex(`05${u}`)), isInvalidKey, u);
      // X25519 ignores bit 255, so the same value with it set is just as bad.
      const high = hex(u);
      high[31] = (high[31] ?? 0) | 0x80;
      assert.throws(() => PublicKey.fromRaw(high), isInvalidKey, `${u} with bit 255`);
    }
    // Neighbours of the table entries are ordinary (if off-curve) values.
    for (const u of [
      '0200000000000000000000000000000000000000000000000000000000000000',
      'e1eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
      'efffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    ]) {
      assert.equal(PublicKey.fromRaw(hex(u)).raw.length, 32, u);
    }
  });

  it('random bytes into deserialize give a key or ProtocolError, nothing else', () => {
    checkProperty(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.boolean(), (bytes, typed) => {
        const input =
          typed && bytes.length > 0 ? Uint8Array.from([DJB_TYPE, ...bytes.subarray(1)]) : bytes;
        try {
          const key = PublicKey.deserialize(input);
          return key.serialize().length === 33;
        } catch (err) {
          return isInvalidKey(err);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('PrivateKey', () => {
  it('fromRaw clamps per RFC 7748 and serialize returns the clamped scalar', () => {
    const key = PrivateKey.fromRaw(new Uint8Array(32).fill(0xff));
    const scalar = key.serialize();
    assert.equal(scalar[0], 0xf8);
    assert.equal(scalar[31], 0x7f);
    assert.equal(toHex(scalar.subarray(1, 31)), 'ff'.repeat(30));
    const zero = PrivateKey.fromRaw(new Uint8Array(32)).serialize();
    assert.equal(zero[31], 0x40);
    assert.throws(() => PrivateKey.fromRaw(new Uint8Array(31)), isInvalidKey);
  });

  it('serialize returns a copy', () => {
    const key = PrivateKey.fromRaw(random(32));
    const first = key.serialize();
    first.fill(0);
    assert.notDeepEqual(key.serialize(), first);
  });

  it('never prints its secret', async () => {
    for (const pair of [
      await generateKeyPair(nodeCrypto, random),
      await generateSigningKeyPair(nodeCrypto, random),
    ]) {
      const secretHex = toHex(pair.privateKey.serialize());
      const storedHex = toHex(pair.privateKey.toStorageBytes());
      const renderings = [
        String(pair.privateKey),
        // eslint-disable-next-line @typescript-eslint/restrict-template-expressions -- the case under test: a key in a template literal
        `${pair.privateKey}`,
        JSON.stringify(pair),
        JSON.stringify({ k: pair.privateKey }),
        inspect(pair, { depth: 10, showHidden: true }),
        inspect(pair.privateKey, { depth: 10, showHidden: true }),
      ];
      for (const text of renderings) {
        assert.ok(!text.includes(secretHex.slice(0, 16)), text);
        assert.ok(!text.includes(storedHex.slice(2, 18)), text);
        assert.ok(
          !text.includes(Buffer.from(pair.privateKey.serialize()).toString('base64').slice(0, 12)),
          text,
        );
      }
      assert.equal(String(pair.privateKey), '[PrivateKey]');
      assert.equal(Object.keys(pair.privateKey).length, 0);
    }
  });

  it('storage bytes keep the seed of signing keys and round-trip both kinds', async () => {
    const signing = await generateSigningKeyPair(nodeCrypto, random);
    const plain = await generateKeyPair(nodeCrypto, random);
    assert.equal(signing.privateKey.hasSeed, true);
    assert.equal(plain.privateKey.hasSeed, false);
    for (const pair of [signing, plain]) {
      const stored = pair.privateKey.toStorageBytes();
      assert.equal(stored.length, 33);
      const back = PrivateKey.fromStorageBytes(stored);
      assert.equal(back.hasSeed, pair.privateKey.hasSeed);
      assert.deepEqual(back.serialize(), pair.privateKey.serialize());
      const again = await keyPairFromPrivate(nodeCrypto, back);
      assert.ok(again.publicKey.equals(pair.publicKey));
    }
  });

  it('fromStorageBytes refuses unknown tags, bad lengths and unclamped scalars', () => {
    assert.throws(() => PrivateKey.fromStorageBytes(new Uint8Array(33)), isInvalidKey);
    assert.throws(() => PrivateKey.fromStorageBytes(new Uint8Array(32)), isInvalidKey);
    const unclamped = new Uint8Array(33).fill(0xff);
    unclamped[0] = 0x01;
    assert.throws(() => PrivateKey.fromStorageBytes(unclamped), isInvalidKey);
    checkProperty(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        try {
          return PrivateKey.fromStorageBytes(bytes).serialize().length === 32;
        } catch (err) {
          return isInvalidKey(err);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('key generation', () => {
  it('generateKeyPair draws exactly 32 bytes once and the key is their clamp', async () => {
    for (let i = 0; i < 20; i++) {
      const { random: rng, draws } = recordingRandom();
      const pair = await generateKeyPair(nodeCrypto, rng);
      assert.equal(draws.length, 1);
      const draw = draws[0];
      assert.ok(draw);
      assert.equal(draw.length, 32);
      assert.deepEqual(pair.privateKey.serialize(), PrivateKey.fromRaw(draw).serialize());
      const expected = draw.slice();
      expected[0] = (expected[0] ?? 0) & 248;
      expected[31] = ((expected[31] ?? 0) & 127) | 64;
      assert.deepEqual(pair.privateKey.serialize(), expected);
    }
  });

  it('signing keys: scalar = clamp(SHA-512(seed)[0..32]), public = Montgomery form of the Ed25519 key', async () => {
    const { random: rng, draws } = recordingRandom();
    const pair = await generateSigningKeyPair(nodeCrypto, rng);
    assert.equal(draws.length, 1);
    const seed = draws[0];
    assert.ok(seed);
    const digest = await nodeCrypto.sha512(seed);
    const scalar = digest.slice(0, 32);
    scalar[0] = (scalar[0] ?? 0) & 248;
    scalar[31] = ((scalar[31] ?? 0) & 127) | 64;
    assert.deepEqual(pair.privateKey.serialize(), scalar);
    const montgomery = ed25519.utils.toMontgomery(ed25519.getPublicKey(seed));
    assert.deepEqual(pair.publicKey.raw, montgomery);
  });

  it('both providers derive the same public key', async () => {
    const priv = PrivateKey.fromRaw(random(32));
    const a = await keyPairFromPrivate(nodeCrypto, priv);
    const b = await keyPairFromPrivate(browserCrypto, priv);
    assert.ok(a.publicKey.equals(b.publicKey));
  });
});

describe('agree', () => {
  it('is symmetric across key kinds and providers', async () => {
    const a = await generateKeyPair(nodeCrypto, random);
    const b = await generateSigningKeyPair(nodeCrypto, random);
    const ab = await agree(nodeCrypto, a.privateKey, b.publicKey);
    assert.equal(ab.length, 32);
    assert.deepEqual(await agree(nodeCrypto, b.privateKey, a.publicKey), ab);
    assert.deepEqual(await agree(browserCrypto, b.privateKey, a.publicKey), ab);
    const c = await generateKeyPair(nodeCrypto, random);
    assert.notDeepEqual(await agree(nodeCrypto, a.privateKey, c.publicKey), ab);
  });
});
