/**
 * The browser crypto backend: WebCrypto (`globalThis.crypto.subtle`) for every
 * primitive, with `@noble/curves` as the fallback for X25519 and Ed25519 on
 * engines whose WebCrypto lacks them ("Secure Curves in the Web Cryptography
 * API"; Chromium, Firefox, Safari and Node 20 ship both).
 *
 * Pure module: no Node built-ins, so it bundles for the browser unchanged and
 * can also be tested in Node, whose WebCrypto has the same API.
 */
import { ed25519, x25519 as nobleX25519 } from '@noble/curves/ed25519.js';
import {
  nobleHmacSha256,
  nobleSha256,
  webCbcDecryptor,
  webCbcEncryptor,
} from './browser-stream.js';
import { CryptoError, type CryptoProvider } from './provider.js';

/** RFC 8410 PKCS#8 prefixes that wrap a raw 32-byte private key (see node.ts). */
const X25519_PKCS8_PREFIX = [
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
];
const ED25519_PKCS8_PREFIX = [
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

const AES_BLOCK = 16;
const GCM_IV = 12;
const GCM_TAG = 16;
/** RFC 5869 §2.3: L ≤ 255·HashLen. */
const HKDF_MAX = 255 * 32;
/** WebCrypto's per-call limit for getRandomValues. */
const RANDOM_CHUNK = 65536;

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (s === undefined) throw new CryptoError('invalid-argument', 'WebCrypto is not available here');
  return s;
}

/**
 * WebCrypto's types take `ArrayBuffer`-backed views only; reuse the caller's
 * memory when it is one, copy otherwise (a SharedArrayBuffer view).
 */
function view(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const buffer = bytes.buffer;
  if (buffer instanceof ArrayBuffer)
    return new Uint8Array(buffer, bytes.byteOffset, bytes.byteLength);
  return new Uint8Array(bytes);
}

function withPrefix(prefix: readonly number[], raw: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(prefix.length + raw.length);
  out.set(prefix, 0);
  out.set(raw, prefix.length);
  return out;
}

function requireLength(value: Uint8Array, length: number, what: string): void {
  if (!(value instanceof Uint8Array) || value.length !== length) {
    throw new CryptoError('invalid-argument', `${what} must be ${length} bytes`);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (const b of bytes) acc |= b;
  return acc === 0;
}

function base64UrlDecode(text: string): Uint8Array {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of text) {
    const index = alphabet.indexOf(ch);
    if (index < 0) throw new CryptoError('invalid-key', 'bad base64url in exported key');
    value = (value << 6) | index;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >> bits) & 0xff);
    }
  }
  return Uint8Array.from(out);
}

/**
 * Imported `CryptoKey`s keyed by the identity of the caller's array (never by
 * its value), re-checked against a private copy of the bytes on every hit;
 * the same design and reasons as the KeyObject cache in `node.ts`.
 */
class KeyCache {
  readonly #entries = new WeakMap<Uint8Array, { bytes: Uint8Array; key: Promise<CryptoKey> }>();
  constructor(private readonly make: (raw: Uint8Array<ArrayBuffer>) => Promise<CryptoKey>) {}

  get(raw: Uint8Array): Promise<CryptoKey> {
    const hit = this.#entries.get(raw);
    if (hit !== undefined && sameBytes(hit.bytes, raw)) return hit.key;
    const entry = { bytes: new Uint8Array(raw), key: this.make(new Uint8Array(raw)) };
    this.#entries.set(raw, entry);
    // A failed import must not stay cached as a rejected promise; the caller
    // still sees the rejection through the promise returned below.
    entry.key.catch(() => {
      if (this.#entries.get(raw) === entry) this.#entries.delete(raw);
    });
    return entry.key;
  }
}

async function importOrFail(kind: string, make: () => Promise<CryptoKey>): Promise<CryptoKey> {
  try {
    return await make();
  } catch (cause) {
    throw new CryptoError(
      'invalid-key',
      `cannot import ${kind} key: ${cause instanceof Error ? cause.name : 'error'}`,
    );
  }
}

const hmacKeys = new KeyCache((raw) =>
  importOrFail('HMAC', () =>
    subtle().importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']),
  ),
);
const cbcKeys = new KeyCache((raw) =>
  importOrFail('AES-CBC', () =>
    subtle().importKey('raw', raw, { name: 'AES-CBC' }, false, ['encrypt', 'decrypt']),
  ),
);
const gcmKeys = new KeyCache((raw) =>
  importOrFail('AES-GCM', () =>
    subtle().importKey('raw', raw, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']),
  ),
);
/** Extractable, so the public key can be read back through its JWK `x`. */
const x25519Private = new KeyCache((raw) =>
  importOrFail('X25519 private', () =>
    subtle().importKey('pkcs8', withPrefix(X25519_PKCS8_PREFIX, raw), { name: 'X25519' }, true, [
      'deriveBits',
    ]),
  ),
);
const x25519Public = new KeyCache((raw) =>
  importOrFail('X25519 public', () =>
    subtle().importKey('raw', raw, { name: 'X25519' }, false, []),
  ),
);
const ed25519Private = new KeyCache((raw) =>
  importOrFail('Ed25519 private', () =>
    subtle().importKey('pkcs8', withPrefix(ED25519_PKCS8_PREFIX, raw), { name: 'Ed25519' }, true, [
      'sign',
    ]),
  ),
);
const ed25519Public = new KeyCache((raw) =>
  importOrFail('Ed25519 public', () =>
    subtle().importKey('raw', raw, { name: 'Ed25519' }, false, ['verify']),
  ),
);

/** The raw public key of an extractable X25519/Ed25519 private CryptoKey. */
async function publicFromPrivate(key: CryptoKey): Promise<Uint8Array> {
  const jwk = await subtle().exportKey('jwk', key);
  if (typeof jwk.x !== 'string')
    throw new CryptoError('invalid-key', 'exported key has no public part');
  return base64UrlDecode(jwk.x);
}

/**
 * Whether this WebCrypto implements an algorithm, probed once by importing a
 * fixed public key (the base point / RFC 8032 test key 1: public values).
 */
function probe(
  name: 'X25519' | 'Ed25519',
  publicKey: Uint8Array<ArrayBuffer>,
): () => Promise<boolean> {
  let answer: Promise<boolean> | undefined;
  return () =>
    (answer ??= subtle()
      .importKey('raw', publicKey, { name }, false, name === 'X25519' ? [] : ['verify'])
      .then(
        () => true,
        // NotSupportedError (or any refusal) means: use the pure-JS fallback.
        () => false,
      ));
}

const X25519_BASE_POINT = new Uint8Array(32);
X25519_BASE_POINT[0] = 9;
const probeX25519 = probe('X25519', X25519_BASE_POINT);
const probeEd25519 = probe(
  'Ed25519',
  Uint8Array.from([
    0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a,
    0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a,
  ]),
);

function decryptFailed(what: string): CryptoError {
  return new CryptoError('decrypt-failed', `${what} failed`);
}

/** Options for `createBrowserCrypto`. */
export interface BrowserCryptoOptions {
  /**
   * `false` forces the @noble/curves path for X25519 and Ed25519 even where
   * WebCrypto has them (tests use it to run the fallback on every engine).
   * Default: use WebCrypto when it implements the curve.
   */
  readonly nativeCurves?: boolean;
}

const never = (): Promise<boolean> => Promise.resolve(false);

/** Builds a WebCrypto provider; see `BrowserCryptoOptions`. */
export function createBrowserCrypto(options: BrowserCryptoOptions = {}): CryptoProvider {
  const native = options.nativeCurves !== false;
  const hasX25519 = native ? probeX25519 : never;
  const hasEd25519 = native ? probeEd25519 : never;
  return {
    name: native ? 'browser' : 'browser-noble',

    randomBytes(length: number): Uint8Array {
      if (!Number.isInteger(length) || length < 0) {
        throw new CryptoError('invalid-argument', 'length must be a non-negative integer');
      }
      const out = new Uint8Array(length);
      for (let offset = 0; offset < length; offset += RANDOM_CHUNK) {
        globalThis.crypto.getRandomValues(
          out.subarray(offset, Math.min(length, offset + RANDOM_CHUNK)),
        );
      }
      return out;
    },

    async sha256(data) {
      return new Uint8Array(await subtle().digest('SHA-256', view(data)));
    },

    async sha512(data) {
      return new Uint8Array(await subtle().digest('SHA-512', view(data)));
    },

    async hmacSha256(key, data) {
      // WebCrypto refuses zero-length HMAC keys; RFC 2104 pads any key shorter
      // than a block with zeros, so one zero byte is the same key.
      const usable = key.length === 0 ? new Uint8Array(1) : key;
      return new Uint8Array(await subtle().sign('HMAC', await hmacKeys.get(usable), view(data)));
    },

    async hkdfSha256(ikm, salt, info, length) {
      if (!Number.isInteger(length) || length < 1 || length > HKDF_MAX) {
        throw new CryptoError('invalid-argument', `HKDF length must be 1..${HKDF_MAX}`);
      }
      const key = await subtle().importKey('raw', view(ikm), 'HKDF', false, ['deriveBits']);
      const bits = await subtle().deriveBits(
        { name: 'HKDF', hash: 'SHA-256', salt: view(salt), info: view(info) },
        key,
        length * 8,
      );
      return new Uint8Array(bits);
    },

    async aes256CbcEncrypt(key, iv, plaintext) {
      requireLength(key, 32, 'AES-256 key');
      requireLength(iv, AES_BLOCK, 'CBC IV');
      // WebCrypto's AES-CBC always applies PKCS#7 padding.
      return new Uint8Array(
        await subtle().encrypt(
          { name: 'AES-CBC', iv: view(iv) },
          await cbcKeys.get(key),
          view(plaintext),
        ),
      );
    },

    async aes256CbcDecrypt(key, iv, ciphertext) {
      requireLength(key, 32, 'AES-256 key');
      requireLength(iv, AES_BLOCK, 'CBC IV');
      if (ciphertext.length === 0 || ciphertext.length % AES_BLOCK !== 0) {
        throw new CryptoError('decrypt-failed', 'CBC ciphertext is not a whole number of blocks');
      }
      const cryptoKey = await cbcKeys.get(key);
      try {
        return new Uint8Array(
          await subtle().decrypt({ name: 'AES-CBC', iv: view(iv) }, cryptoKey, view(ciphertext)),
        );
      } catch {
        // WebCrypto reports every padding failure as one OperationError with
        // no detail, which is also what a padding oracle must not reveal.
        throw decryptFailed('CBC padding check');
      }
    },

    async aes256GcmEncrypt(key, iv, plaintext, aad) {
      requireLength(key, 32, 'AES-256 key');
      requireLength(iv, GCM_IV, 'GCM IV');
      const params: AesGcmParams = { name: 'AES-GCM', iv: view(iv), tagLength: GCM_TAG * 8 };
      if (aad !== undefined) params.additionalData = view(aad);
      return new Uint8Array(
        await subtle().encrypt(params, await gcmKeys.get(key), view(plaintext)),
      );
    },

    async aes256GcmDecrypt(key, iv, ciphertext, aad) {
      requireLength(key, 32, 'AES-256 key');
      requireLength(iv, GCM_IV, 'GCM IV');
      if (ciphertext.length < GCM_TAG)
        throw new CryptoError('decrypt-failed', 'GCM ciphertext shorter than its tag');
      const params: AesGcmParams = { name: 'AES-GCM', iv: view(iv), tagLength: GCM_TAG * 8 };
      if (aad !== undefined) params.additionalData = view(aad);
      const cryptoKey = await gcmKeys.get(key);
      try {
        return new Uint8Array(await subtle().decrypt(params, cryptoKey, view(ciphertext)));
      } catch {
        // An OperationError without detail: the tag did not verify.
        throw decryptFailed('GCM tag check');
      }
    },

    async x25519PublicKey(privateKey) {
      requireLength(privateKey, 32, 'X25519 private key');
      if (!(await hasX25519())) return nobleX25519.getPublicKey(privateKey);
      return publicFromPrivate(await x25519Private.get(privateKey));
    },

    async x25519(privateKey, publicKey) {
      requireLength(privateKey, 32, 'X25519 private key');
      requireLength(publicKey, 32, 'X25519 public key');
      let shared: Uint8Array;
      if (await hasX25519()) {
        const priv = await x25519Private.get(privateKey);
        const pub = await x25519Public.get(publicKey);
        try {
          // The Secure Curves draft makes deriveBits fail on an all-zero result.
          shared = new Uint8Array(
            await subtle().deriveBits({ name: 'X25519', public: pub }, priv, 256),
          );
        } catch (cause) {
          throw new CryptoError(
            'invalid-key',
            `X25519 agreement failed: ${cause instanceof Error ? cause.name : 'error'}`,
          );
        }
      } else {
        try {
          shared = nobleX25519.getSharedSecret(privateKey, publicKey);
        } catch (cause) {
          // noble refuses low-order peers (all-zero output) by throwing.
          throw new CryptoError(
            'invalid-key',
            `X25519 agreement failed: ${cause instanceof Error ? cause.message : 'error'}`,
          );
        }
      }
      // RFC 7748 §6.1: refuse the all-zero secret a low-order key would force.
      if (isAllZero(shared)) throw new CryptoError('invalid-key', 'X25519 result is all zeros');
      return shared;
    },

    async ed25519PublicKey(seed) {
      requireLength(seed, 32, 'Ed25519 seed');
      if (!(await hasEd25519())) return ed25519.getPublicKey(seed);
      return publicFromPrivate(await ed25519Private.get(seed));
    },

    async ed25519Sign(seed, message) {
      requireLength(seed, 32, 'Ed25519 seed');
      if (!(await hasEd25519())) return ed25519.sign(message, seed);
      return new Uint8Array(
        await subtle().sign('Ed25519', await ed25519Private.get(seed), view(message)),
      );
    },

    async ed25519Verify(publicKey, message, signature) {
      if (publicKey.length !== 32 || signature.length !== 64) return false;
      if (!(await hasEd25519())) {
        try {
          // RFC 8032 rules (not ZIP-215), the same acceptance as OpenSSL/BoringSSL.
          return ed25519.verify(signature, message, publicKey, { zip215: false });
        } catch (cause) {
          // Contract: malformed untrusted input is "does not verify", not a throw.
          if (cause instanceof Error) return false;
          throw cause;
        }
      }
      let key: CryptoKey;
      try {
        key = await ed25519Public.get(publicKey);
      } catch (cause) {
        // A public key WebCrypto cannot decode cannot have signed anything.
        if (CryptoError.is(cause, 'invalid-key')) return false;
        throw cause;
      }
      try {
        return await subtle().verify('Ed25519', key, view(signature), view(message));
      } catch (cause) {
        // Same contract: an engine that throws on odd input means "invalid".
        if (cause instanceof Error) return false;
        throw cause;
      }
    },

    createAes256CbcEncryptor(key, iv) {
      requireLength(key, 32, 'AES-256 key');
      requireLength(iv, AES_BLOCK, 'CBC IV');
      return webCbcEncryptor(cbcKeys.get(key), iv);
    },

    createAes256CbcDecryptor(key, iv) {
      requireLength(key, 32, 'AES-256 key');
      requireLength(iv, AES_BLOCK, 'CBC IV');
      return webCbcDecryptor(cbcKeys.get(key), iv);
    },

    createHmacSha256: nobleHmacSha256,
    createSha256: nobleSha256,
  };
}

/** The `CryptoProvider` on WebCrypto, with @noble/curves where WebCrypto lacks a curve. */
export const browserCrypto: CryptoProvider = createBrowserCrypto();
