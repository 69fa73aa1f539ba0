/**
 * Known-answer tests for every CryptoProvider: RFC 7748 (X25519), RFC 5869
 * (HKDF-SHA256), RFC 4231 (HMAC-SHA256), RFC 8032 (Ed25519), Wycheproof
 * low-order X25519 keys, NIST SP 800-38A (AES-256-CBC) and the GCM spec's
 * AES-256 test cases 13/14.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CryptoError } from '../../src/crypto/provider.js';
import { hex, providers, repeat, sequence, toHex } from './providers.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Wycheproof x25519_test.json "low order public key" / "non-canonical" small-order points. */
const LOW_ORDER_PUBLIC_KEYS = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  // The same points with bit 255 set, which X25519 must ignore (RFC 7748 §5).
  '0000000000000000000000000000000000000000000000000000000000000080',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
];

const RFC8032 = [
  {
    seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature:
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    publicKey: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature:
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    seed: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    publicKey: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    message: 'af82',
    signature:
      '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
];

for (const crypto of providers) {
  describe(`known answers: ${crypto.name}`, () => {
    it('SHA-256 / SHA-512 of "abc" (FIPS 180-2 appendix)', async () => {
      assert.equal(
        toHex(await crypto.sha256(text('abc'))),
        'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
      );
      assert.equal(
        toHex(await crypto.sha512(text('abc'))),
        'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f',
      );
    });

    it('RFC 7748 §5.2 X25519 function vectors', async () => {
      assert.equal(
        toHex(
          await crypto.x25519(
            hex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'),
            hex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c'),
          ),
        ),
        'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552',
      );
      // This u has bit 255 set: X25519 must mask it.
      assert.equal(
        toHex(
          await crypto.x25519(
            hex('4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d'),
            hex('e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493'),
          ),
        ),
        '95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957',
      );
    });

    it('RFC 7748 §5.2 iterated X25519 (1 and, natively, 1000 rounds)', async () => {
      let k = hex('0900000000000000000000000000000000000000000000000000000000000000');
      let u = k;
      const rounds = crypto.name === 'browser-noble' ? 1 : 1000;
      for (let i = 1; i <= rounds; i++) {
        const next = await crypto.x25519(k, u);
        u = k;
        k = next;
        if (i === 1) {
          assert.equal(
            toHex(k),
            '422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079',
          );
        }
      }
      if (rounds === 1000) {
        assert.equal(toHex(k), '684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51');
      }
    });

    it('RFC 7748 §6.1 Diffie-Hellman', async () => {
      const alice = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
      const bob = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
      const alicePublic = await crypto.x25519PublicKey(alice);
      const bobPublic = await crypto.x25519PublicKey(bob);
      assert.equal(
        toHex(alicePublic),
        '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
      );
      assert.equal(
        toHex(bobPublic),
        'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f',
      );
      const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
      assert.equal(toHex(await crypto.x25519(alice, bobPublic)), shared);
      assert.equal(toHex(await crypto.x25519(bob, alicePublic)), shared);
    });

    it('rejects low-order X25519 public keys (Wycheproof) with invalid-key', async () => {
      const scalar = hex('c8a9d5a91091ad851c668b0736c1c9a02936c0d3ad62670858088047ba057475');
      for (const publicKey of LOW_ORDER_PUBLIC_KEYS) {
        await assert.rejects(
          crypto.x25519(scalar, hex(publicKey)),
          (err: unknown) => CryptoError.is(err, 'invalid-key'),
          publicKey,
        );
      }
    });

    it('rejects wrong X25519 argument lengths with invalid-argument', async () => {
      await assert.rejects(crypto.x25519(new Uint8Array(31), new Uint8Array(32)), (e: unknown) =>
        CryptoError.is(e, 'invalid-argument'),
      );
      await assert.rejects(crypto.x25519PublicKey(new Uint8Array(33)), (e: unknown) =>
        CryptoError.is(e, 'invalid-argument'),
      );
      await assert.rejects(crypto.ed25519Sign(new Uint8Array(0), new Uint8Array(1)), (e: unknown) =>
        CryptoError.is(e, 'invalid-argument'),
      );
    });

    it('RFC 5869 HKDF-SHA256 test cases 1-3', async () => {
      assert.equal(
        toHex(
          await crypto.hkdfSha256(repeat(0x0b, 22), sequence(0x00, 13), sequence(0xf0, 10), 42),
        ),
        '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
      );
      assert.equal(
        toHex(
          await crypto.hkdfSha256(sequence(0x00, 80), sequence(0x60, 80), sequence(0xb0, 80), 82),
        ),
        'b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87',
      );
      assert.equal(
        toHex(await crypto.hkdfSha256(repeat(0x0b, 22), new Uint8Array(0), new Uint8Array(0), 42)),
        '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
      );
      await assert.rejects(
        crypto.hkdfSha256(repeat(1, 32), new Uint8Array(0), new Uint8Array(0), 255 * 32 + 1),
        (e: unknown) => CryptoError.is(e, 'invalid-argument'),
      );
    });

    it('RFC 4231 HMAC-SHA256 test cases 1, 2, 3, 6', async () => {
      const cases: [Uint8Array, Uint8Array, string][] = [
        [
          repeat(0x0b, 20),
          text('Hi There'),
          'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
        ],
        [
          text('Jefe'),
          text('what do ya want for nothing?'),
          '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
        ],
        [
          repeat(0xaa, 20),
          repeat(0xdd, 50),
          '773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe',
        ],
        [
          repeat(0xaa, 131),
          text('Test Using Larger Than Block-Size Key - Hash Key First'),
          '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
        ],
      ];
      for (const [key, data, mac] of cases) {
        assert.equal(toHex(await crypto.hmacSha256(key, data)), mac);
      }
    });

    it('HMAC with an empty key equals HMAC with a zero key (RFC 2104 padding)', async () => {
      const data = text('x');
      assert.deepEqual(
        await crypto.hmacSha256(new Uint8Array(0), data),
        await crypto.hmacSha256(new Uint8Array(32), data),
      );
    });

    it('RFC 8032 §7.1 Ed25519 tests 1-3', async () => {
      for (const v of RFC8032) {
        const seed = hex(v.seed);
        const message = hex(v.message);
        assert.equal(toHex(await crypto.ed25519PublicKey(seed)), v.publicKey);
        assert.equal(toHex(await crypto.ed25519Sign(seed, message)), v.signature);
        assert.equal(await crypto.ed25519Verify(hex(v.publicKey), message, hex(v.signature)), true);
        const tampered = hex(v.signature);
        tampered[5] = (tampered[5] ?? 0) ^ 1;
        assert.equal(await crypto.ed25519Verify(hex(v.publicKey), message, tampered), false);
      }
    });

    it('Ed25519 verify returns false (never throws) on malformed input', async () => {
      const v = RFC8032[0];
      assert.ok(v);
      assert.equal(
        await crypto.ed25519Verify(new Uint8Array(31), new Uint8Array(0), hex(v.signature)),
        false,
      );
      assert.equal(
        await crypto.ed25519Verify(hex(v.publicKey), new Uint8Array(0), new Uint8Array(63)),
        false,
      );
      // y = 2 is not on the curve: the key does not decode.
      const offCurve = new Uint8Array(32);
      offCurve[0] = 2;
      assert.equal(
        await crypto.ed25519Verify(offCurve, new Uint8Array(0), hex(v.signature)),
        false,
      );
      // s ≥ L: the malleable twin of a valid signature must not verify.
      const sig = hex(v.signature);
      const L = hex('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010');
      let carry = 0;
      for (let i = 0; i < 32; i++) {
        const sum = (sig[32 + i] ?? 0) + (L[i] ?? 0) + carry;
        sig[32 + i] = sum & 0xff;
        carry = sum >> 8;
      }
      assert.equal(await crypto.ed25519Verify(hex(v.publicKey), new Uint8Array(0), sig), false);
    });

    it('NIST SP 800-38A F.2.5 CBC-AES256 (plus one PKCS#7 block)', async () => {
      const key = hex('603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4');
      const iv = hex('000102030405060708090a0b0c0d0e0f');
      const plaintext = hex(
        '6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710',
      );
      const expected =
        'f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b';
      const ciphertext = await crypto.aes256CbcEncrypt(key, iv, plaintext);
      assert.equal(ciphertext.length, 80);
      assert.equal(toHex(ciphertext.subarray(0, 64)), expected);
      assert.deepEqual(await crypto.aes256CbcDecrypt(key, iv, ciphertext), plaintext);
    });

    it('CBC: bad padding, truncation and bad lengths fail with typed errors', async () => {
      const key = repeat(7, 32);
      const iv = repeat(9, 16);
      const ciphertext = await crypto.aes256CbcEncrypt(key, iv, text('hello'));
      const wrongKey = repeat(8, 32);
      // A wrong key decrypts to random padding: 255/256 of keys fail the check;
      // try a few so the test does not depend on one lucky byte.
      let failures = 0;
      for (let i = 0; i < 4; i++) {
        const k = wrongKey.slice();
        k[0] = i;
        try {
          await crypto.aes256CbcDecrypt(k, iv, ciphertext);
        } catch (err) {
          assert.ok(CryptoError.is(err, 'decrypt-failed'));
          failures++;
        }
      }
      assert.ok(failures >= 3);
      await assert.rejects(
        crypto.aes256CbcDecrypt(key, iv, ciphertext.subarray(0, 15)),
        (e: unknown) => CryptoError.is(e, 'decrypt-failed'),
      );
      await assert.rejects(crypto.aes256CbcDecrypt(key, iv, new Uint8Array(0)), (e: unknown) =>
        CryptoError.is(e, 'decrypt-failed'),
      );
      await assert.rejects(crypto.aes256CbcEncrypt(repeat(1, 16), iv, text('x')), (e: unknown) =>
        CryptoError.is(e, 'invalid-argument'),
      );
      await assert.rejects(crypto.aes256CbcEncrypt(key, repeat(1, 12), text('x')), (e: unknown) =>
        CryptoError.is(e, 'invalid-argument'),
      );
    });

    it('AES-256-GCM test cases 13 and 14 (McGrew-Viega), AAD and tag checks', async () => {
      const key = new Uint8Array(32);
      const iv = new Uint8Array(12);
      assert.equal(
        toHex(await crypto.aes256GcmEncrypt(key, iv, new Uint8Array(0))),
        '530f8afbc74536b9a963b4f1c4cb738b',
      );
      assert.equal(
        toHex(await crypto.aes256GcmEncrypt(key, iv, new Uint8Array(16))),
        'cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919',
      );
      const k2 = repeat(3, 32);
      const iv2 = repeat(4, 12);
      const sealed = await crypto.aes256GcmEncrypt(k2, iv2, text('at rest'), text('aad'));
      assert.deepEqual(
        await crypto.aes256GcmDecrypt(k2, iv2, sealed, text('aad')),
        text('at rest'),
      );
      await assert.rejects(crypto.aes256GcmDecrypt(k2, iv2, sealed, text('aaD')), (e: unknown) =>
        CryptoError.is(e, 'decrypt-failed'),
      );
      await assert.rejects(crypto.aes256GcmDecrypt(k2, iv2, sealed), (e: unknown) =>
        CryptoError.is(e, 'decrypt-failed'),
      );
      const flipped = sealed.slice();
      flipped[0] = (flipped[0] ?? 0) ^ 0x80;
      await assert.rejects(crypto.aes256GcmDecrypt(k2, iv2, flipped, text('aad')), (e: unknown) =>
        CryptoError.is(e, 'decrypt-failed'),
      );
      await assert.rejects(crypto.aes256GcmDecrypt(k2, iv2, sealed.subarray(0, 15)), (e: unknown) =>
        CryptoError.is(e, 'decrypt-failed'),
      );
      await assert.rejects(crypto.aes256GcmEncrypt(k2, repeat(1, 16), text('x')), (e: unknown) =>
        CryptoError.is(e, 'invalid-argument'),
      );
    });

    it('key caches follow the bytes, not just the array object', async () => {
      // One buffer reused for two different keys must give two different answers.
      const scalar = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
      const first = await crypto.x25519PublicKey(scalar);
      scalar.set(hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'));
      const second = await crypto.x25519PublicKey(scalar);
      assert.equal(
        toHex(first),
        '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
      );
      assert.equal(
        toHex(second),
        'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f',
      );
    });

    it('randomBytes returns the requested length and differs between calls', () => {
      const a = crypto.randomBytes(32);
      const b = crypto.randomBytes(32);
      assert.equal(a.length, 32);
      assert.notDeepEqual(a, b);
      assert.equal(crypto.randomBytes(70000).length, 70000);
      assert.throws(
        () => crypto.randomBytes(-1),
        (e: unknown) => CryptoError.is(e, 'invalid-argument'),
      );
    });

    it('returns plain Uint8Arrays', async () => {
      const out = await crypto.sha256(text('x'));
      assert.equal(Object.getPrototypeOf(out), Uint8Array.prototype);
    });
  });
}
