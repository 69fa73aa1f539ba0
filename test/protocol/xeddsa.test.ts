/**
 * XEdDSA sign/verify properties on every provider: round trips for seed and
 * raw-scalar keys, every single-bit change fails, malformed input is `false`,
 * and the §2.5 range checks hold.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkProperty } from '../property.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import {
  PrivateKey,
  PublicKey,
  generateKeyPair,
  generateSigningKeyPair,
  keyPairFromPrivate,
  sign,
  verify,
  type KeyPair,
} from '../../src/protocol/curve.js';
import {
  edwardsToMontgomery,
  montgomeryToEdwards,
  xeddsaSign,
  xeddsaSigningKey,
} from '../../src/protocol/xeddsa.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import { nodeCrypto } from '../../src/crypto/node.js';
import { providers } from '../crypto/providers.js';

const random = (n: number): Uint8Array => nodeCrypto.randomBytes(n);

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice();
  const index = bit >> 3;
  out[index] = (out[index] ?? 0) ^ (1 << (bit & 7));
  return out;
}

for (const crypto of providers) {
  describe(`XEdDSA on ${crypto.name}`, () => {
    let seedPair: KeyPair;
    let rawPair: KeyPair;

    before(async () => {
      seedPair = await generateSigningKeyPair(crypto, random);
      rawPair = await generateKeyPair(crypto, random);
      assert.equal(seedPair.privateKey.hasSeed, true);
      assert.equal(rawPair.privateKey.hasSeed, false);
    });

    it('sign/verify round trip for any message (seed and raw keys)', async () => {
      await checkProperty(
        fc.asyncProperty(
          fc.uint8Array({ maxLength: 300 }),
          fc.boolean(),
          async (message, useSeed) => {
            const pair = useSeed ? seedPair : rawPair;
            const signature = await sign(crypto, pair.privateKey, message, random);
            return (
              signature.length === 64 && (await verify(crypto, pair.publicKey, message, signature))
            );
          },
        ),
        { numRuns: crypto.name === 'browser-noble' ? 20 : 60 },
      );
    });

    it('any single-bit flip of message, signature or key fails', async () => {
      await checkProperty(
        fc.asyncProperty(
          fc.uint8Array({ minLength: 1, maxLength: 64 }),
          fc.boolean(),
          fc.constantFrom('message', 'signature', 'key'),
          fc.nat(),
          async (message, useSeed, target, position) => {
            const pair = useSeed ? seedPair : rawPair;
            const signature = await sign(crypto, pair.privateKey, message, random);
            if (target === 'message') {
              return !(await verify(
                crypto,
                pair.publicKey,
                flipBit(message, position % (message.length * 8)),
                signature,
              ));
            }
            if (target === 'signature') {
              return !(await verify(
                crypto,
                pair.publicKey,
                message,
                flipBit(signature, position % 512),
              ));
            }
            let key: PublicKey;
            try {
              key = PublicKey.fromRaw(flipBit(pair.publicKey.raw, position % 256));
            } catch (err) {
              return ProtocolError.is(err, 'invalid-key');
            }
            return !(await verify(crypto, key, message, signature));
          },
        ),
        { numRuns: crypto.name === 'browser-noble' ? 30 : 150 },
      );
    });

    it('random bytes as signature or key are false, never a throw', async () => {
      await checkProperty(
        fc.asyncProperty(
          fc.uint8Array({ maxLength: 80 }),
          fc.uint8Array({ minLength: 32, maxLength: 32 }),
          async (sig, raw) => {
            let key: PublicKey;
            try {
              key = PublicKey.fromRaw(raw);
            } catch (err) {
              return ProtocolError.is(err, 'invalid-key');
            }
            return (await verify(crypto, key, new Uint8Array(3), sig)) === false;
          },
        ),
        { numRuns: 200 },
      );
    });
  });
}

describe('XEdDSA details', () => {
  it('pure XEdDSA follows §2.3: A has sign bit 0 and so does the signature', async () => {
    for (let i = 0; i < 20; i++) {
      const key = xeddsaSigningKey(PrivateKey.fromRaw(random(32)).serialize());
      assert.equal((key.publicEdwards[31] ?? 0) & 0x80, 0);
      const signature = await xeddsaSign(nodeCrypto, key, new Uint8Array([i]), random(64));
      assert.equal((signature[63] ?? 0) & 0x80, 0);
      // It is a plain Ed25519 signature under A.
      assert.equal(
        ed25519.verify(signature, new Uint8Array([i]), key.publicEdwards, { zip215: false }),
        true,
      );
    }
  });

  it('the nonce depends on Z: same Z same signature, new Z new signature', async () => {
    const key = xeddsaSigningKey(PrivateKey.fromRaw(random(32)).serialize());
    const z = random(64);
    const message = new Uint8Array([1, 2, 3]);
    const a = await xeddsaSign(nodeCrypto, key, message, z);
    assert.deepEqual(await xeddsaSign(nodeCrypto, key, message, z), a);
    assert.notDeepEqual(await xeddsaSign(nodeCrypto, key, message, random(64)), a);
    await assert.rejects(xeddsaSign(nodeCrypto, key, message, random(32)), RangeError);
  });

  it('Montgomery ↔ Edwards conversion inverts for real keys', () => {
    for (let i = 0; i < 20; i++) {
      const edwards = ed25519.getPublicKey(random(32));
      const u = edwardsToMontgomery(edwards);
      assert.ok(u);
      assert.deepEqual(u, ed25519.utils.toMontgomery(edwards));
      assert.deepEqual(montgomeryToEdwards(u, ((edwards[31] ?? 0) >> 7) as 0 | 1), edwards);
    }
  });

  it('§2.5: rejects u ≥ p, s ≥ 2^253 and s ≥ q', async () => {
    const pair = await keyPairFromPrivate(nodeCrypto, PrivateKey.fromRaw(random(32)));
    const message = new Uint8Array([9]);
    const signature = await sign(nodeCrypto, pair.privateKey, message, random);
    assert.equal(await verify(nodeCrypto, pair.publicKey, message, signature), true);
    // u + 2^255: the same X25519 key, but not a canonical u, so no signature.
    const highBit = pair.publicKey.raw.slice();
    highBit[31] = (highBit[31] ?? 0) | 0x80;
    assert.equal(await verify(nodeCrypto, PublicKey.fromRaw(highBit), message, signature), false);
    assert.equal(montgomeryToEdwards(highBit, 0), undefined);
    // s + q: same value mod q, still < 2^253, must not verify (malleability).
    const q = 2n ** 252n + 27742317777372353535851937790883648493n;
    let s = 0n;
    for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(signature[i] ?? 0);
    s += q;
    const malleated = signature.slice();
    for (let i = 32; i < 64; i++) {
      malleated[i] = Number(s & 0xffn);
      s >>= 8n;
    }
    assert.equal(await verify(nodeCrypto, pair.publicKey, message, malleated), false);
    assert.equal(await verify(nodeCrypto, pair.publicKey, message, flipBit(signature, 509)), false);
  });
});
