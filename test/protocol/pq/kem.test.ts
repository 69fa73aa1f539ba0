/**
 * The PQXDH KEM: a FIPS 203 known answer (NIST ACVP, ML-KEM-1024), the
 * Kyber round-3 wrapping, and typed errors for every malformed input.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { sha3_256, shake256 } from '@noble/hashes/sha3.js';
import { ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import fc from 'fast-check';
import { inspect } from 'node:util';
import { checkProperty } from '../../property.js';
import { ProtocolError } from '../../../src/protocol/errors.js';
import {
  encapsulate,
  generateKemKeyPair,
  KEM_CIPHERTEXT_LENGTH,
  KEM_PUBLIC_KEY_LENGTH,
  KemKeyType,
  KemPublicKey,
  KemSecretKey,
  parseCiphertext,
} from '../../../src/protocol/pq/kem.js';
import { seededRandom } from '../session-helpers.js';

const vector = JSON.parse(
  readFileSync(new URL('./mlkem1024-acvp.json', import.meta.url), 'utf8'),
) as { ek: string; m: string; c: string; k: string };
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const typed = (type: number, raw: Uint8Array): Uint8Array => {
  const out = new Uint8Array(1 + raw.length);
  out[0] = type;
  out.set(raw, 1);
  return out;
};
/** A random source that returns `bytes` once (for the KEM's one draw). */
const once = (bytes: Uint8Array) => (length: number) => {
  assert.equal(length, bytes.length);
  return new Uint8Array(bytes);
};

describe('KEM', () => {
  it('ML-KEM-1024 encapsulation matches NIST ACVP (FIPS 203) tcId 51', () => {
    const key = KemPublicKey.deserialize(typed(KemKeyType.mlkem1024, hex(vector.ek)));
    const { ciphertext, sharedSecret } = encapsulate(key, once(hex(vector.m)));
    assert.deepEqual(ciphertext, typed(KemKeyType.mlkem1024, hex(vector.c)));
    assert.deepEqual(sharedSecret, hex(vector.k));
  });

  it('Kyber1024 is round 3: m hashed first, K = SHAKE256(K̄ ‖ SHA3-256(c))', () => {
    const key = KemPublicKey.deserialize(typed(KemKeyType.kyber1024, hex(vector.ek)));
    const m = hex(vector.m);
    const { ciphertext, sharedSecret } = encapsulate(key, once(m));
    // The same lattice step as ML-KEM with the hashed message, then the KDF.
    const inner = ml_kem1024.encapsulate(hex(vector.ek), sha3_256(m));
    assert.deepEqual(ciphertext, typed(KemKeyType.kyber1024, inner.cipherText));
    const expected = shake256
      .create({ dkLen: 32 })
      .update(inner.sharedSecret)
      .update(sha3_256(inner.cipherText))
      .digest();
    assert.deepEqual(sharedSecret, expected);
    assert.notDeepEqual(sharedSecret, inner.sharedSecret);
  });

  for (const type of [KemKeyType.kyber1024, KemKeyType.mlkem1024]) {
    it(`type 0x${type.toString(16)}: generate, encapsulate, decapsulate agree; serializations round-trip`, () => {
      const random = seededRandom(`kem-${type}`);
      const pair = generateKemKeyPair(random, type);
      assert.equal(pair.publicKey.serialize().length, 1 + KEM_PUBLIC_KEY_LENGTH);
      assert.equal(pair.publicKey.serialize()[0], type);
      assert.ok(KemPublicKey.deserialize(pair.publicKey.serialize()).equals(pair.publicKey));
      const secret = KemSecretKey.deserialize(pair.secretKey.serialize());
      const { ciphertext, sharedSecret } = encapsulate(pair.publicKey, random);
      assert.equal(ciphertext.length, 1 + KEM_CIPHERTEXT_LENGTH);
      assert.deepEqual(secret.decapsulate(ciphertext), sharedSecret);
      // Implicit rejection: another ciphertext of the right shape gives another secret.
      const other = new Uint8Array(ciphertext);
      other[10] = (other[10] ?? 0) ^ 1;
      assert.notDeepEqual(secret.decapsulate(other), sharedSecret);
    });
  }

  it('key generation draws exactly 64 bytes and is a function of them', () => {
    const draws: number[] = [];
    const random = (n: number) => {
      draws.push(n);
      return seededRandom('fixed')(n);
    };
    const a = generateKemKeyPair(random);
    const b = generateKemKeyPair(random);
    assert.deepEqual(draws, [64, 64]);
    assert.deepEqual(a.publicKey.serialize(), b.publicKey.serialize());
  });

  it('unknown key types, wrong lengths and mismatched types are typed errors', () => {
    const pair = generateKemKeyPair(seededRandom('errors'));
    const pub = pair.publicKey.serialize();
    for (const badType of [0x00, 0x05, 0x07, 0x09, 0x0b, 0xff]) {
      const bytes = new Uint8Array(pub);
      bytes[0] = badType;
      assert.throws(() => KemPublicKey.deserialize(bytes), { code: 'invalid-key' });
    }
    assert.throws(() => KemPublicKey.deserialize(new Uint8Array(0)), { code: 'invalid-key' });
    assert.throws(() => KemPublicKey.deserialize(pub.subarray(0, pub.length - 1)), {
      code: 'invalid-key',
    });
    assert.throws(() => KemSecretKey.deserialize(pub), { code: 'invalid-key' });
    const { ciphertext } = encapsulate(pair.publicKey, seededRandom('ct'));
    // A ciphertext one byte short or long: refused before any lattice work.
    assert.throws(() => pair.secretKey.decapsulate(ciphertext.subarray(0, ciphertext.length - 1)), {
      code: 'invalid-message',
    });
    const longer = new Uint8Array(ciphertext.length + 1);
    longer.set(ciphertext);
    assert.throws(() => pair.secretKey.decapsulate(longer), { code: 'invalid-message' });
    const unknown = new Uint8Array(ciphertext);
    unknown[0] = 0x09;
    assert.throws(() => pair.secretKey.decapsulate(unknown), { code: 'invalid-message' });
    const otherType = new Uint8Array(ciphertext);
    otherType[0] = KemKeyType.mlkem1024;
    assert.throws(() => pair.secretKey.decapsulate(otherType), { code: 'invalid-key' });
  });

  it('a public key failing the FIPS 203 modulus check is refused at encapsulation', () => {
    const bytes = typed(KemKeyType.kyber1024, new Uint8Array(KEM_PUBLIC_KEY_LENGTH).fill(0xff));
    const key = KemPublicKey.deserialize(bytes);
    assert.throws(() => encapsulate(key, seededRandom('mod')), { code: 'invalid-key' });
  });

  it('secret keys never print', () => {
    const { secretKey } = generateKemKeyPair(seededRandom('print'));
    assert.equal(String(secretKey), '[KemSecretKey]');
    assert.equal(JSON.stringify({ secretKey }), '{"secretKey":"[KemSecretKey]"}');
    assert.equal(inspect(secretKey), '[KemSecretKey]');
  });

  it('fuzz: the KEM decoders only ever throw ProtocolError', () => {
    checkProperty(
      fc.property(
        fc.constantFrom(0x08, 0x0a, 0x07, 0x00),
        fc.uint8Array({ maxLength: 1600 }),
        (type, body) => {
          for (const parse of [
            (b: Uint8Array) => KemPublicKey.deserialize(b),
            (b: Uint8Array) => KemSecretKey.deserialize(b),
            parseCiphertext,
          ]) {
            try {
              parse(typed(type, body));
            } catch (error) {
              assert.ok(error instanceof ProtocolError, String(error));
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
