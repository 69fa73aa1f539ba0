/**
 * The Node.js crypto backend: every primitive on `node:crypto` (OpenSSL).
 *
 * Speed matters here — the 1:1 session path does several X25519 agreements,
 * HMACs and an AES-CBC per message — so every operation runs the synchronous
 * `node:crypto` call inside the async function (no thread-pool hop), and the
 * costly step of turning raw key bytes into an OpenSSL `KeyObject` is cached
 * per `Uint8Array` object (see `KeyCache`).
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  randomFillSync,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto';
import { createOffloadedSha256 } from './node-sha256-offload.js';
import {
  CryptoError,
  type CryptoProvider,
  type StreamingCipher,
  type StreamingDigest,
} from './provider.js';

/*
 * Keys are imported as JWK (RFC 8037 "OKP" keys), not as PKCS#8/SPKI DER:
 * measured on Node 20, OpenSSL's DER decoder path costs 3-7x more per import
 * (~150 µs public, ~700 µs private) than the JWK path (~40 / ~100 µs), which
 * builds the key straight from raw bytes.
 *
 * Node insists on an `x` member in a private JWK but derives the key from `d`
 * alone (checked: a wrong `x` still yields the right public key and valid
 * signatures; the known-answer tests would fail if that ever changed), so a
 * placeholder is passed rather than computing the public key first.
 */
/** RFC 5869 §2.2: an absent salt is HashLen zero bytes. */
const ZERO_SALT = new Uint8Array(32);
/** HKDF's one-byte block counters T(1)..T(255), made once rather than per block. */
const HKDF_COUNTERS = Array.from({ length: 256 }, (_, i) => new Uint8Array([i]));
const NO_BYTES = new Uint8Array(0);

const PLACEHOLDER_X = 'A'.repeat(43);

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/**
 * Returns a plain `Uint8Array` over a Node `Buffer` without copying when the
 * Buffer owns its whole ArrayBuffer. A Buffer carved from Node's shared pool
 * is copied instead, so `.buffer` of a result never exposes unrelated bytes.
 */
function plain(buf: Buffer | ArrayBuffer): Uint8Array {
  if (buf instanceof ArrayBuffer) return new Uint8Array(buf);
  if (buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength) {
    return new Uint8Array(buf.buffer, 0, buf.byteLength);
  }
  return new Uint8Array(buf);
}

/**
 * `update` and `final` outputs as one plain array. Written out rather than
 * `plain(Buffer.concat(...))`, which would copy twice (into a pooled Buffer,
 * then out of the pool); when one part is empty the other is used as it is.
 */
function joined(head: Buffer, tail: Buffer): Uint8Array {
  if (tail.length === 0) return plain(head);
  if (head.length === 0) return plain(tail);
  const out = new Uint8Array(head.length + tail.length);
  out.set(head, 0);
  out.set(tail, head.length);
  return out;
}

function requireLength(value: Uint8Array, length: number, what: string): void {
  if (!(value instanceof Uint8Array) || value.length !== length) {
    throw new CryptoError('invalid-argument', `${what} must be ${length} bytes`);
  }
}

/** Equality without an early exit, so a cache check leaks no key bits through timing. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

interface CacheEntry {
  /** A private copy of the bytes the KeyObject was made from. */
  readonly bytes: Uint8Array;
  readonly key: KeyObject;
}

/**
 * Caches imported `KeyObject`s keyed by the identity of the caller's
 * `Uint8Array` (never by its value, so no secret becomes a map key and no
 * table of secrets is ever searchable). Key classes in `src/protocol/curve.ts`
 * hold one stable array per key, so the second and later uses of a key skip
 * the DER import. A `WeakMap` lets an entry die with its array. Each entry
 * keeps a copy of the bytes and is re-checked on every hit, so a caller that
 * reuses one buffer for different keys gets the right key, not a stale one.
 */
class KeyCache {
  readonly #entries = new WeakMap<Uint8Array, CacheEntry>();
  constructor(private readonly make: (raw: Uint8Array) => KeyObject) {}

  get(raw: Uint8Array): KeyObject {
    const hit = this.#entries.get(raw);
    if (hit !== undefined && sameBytes(hit.bytes, raw)) return hit.key;
    const bytes = new Uint8Array(raw);
    const key = this.make(bytes);
    this.#entries.set(raw, { bytes, key });
    return key;
  }
}

function importKey(kind: string, make: () => KeyObject): KeyObject {
  try {
    return make();
  } catch (cause) {
    throw new CryptoError('invalid-key', `cannot import ${kind} key: ${describe(cause)}`);
  }
}

/** OpenSSL's error text names the failing step; it never contains key bytes. */
function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : 'unknown error';
}

const x25519Private = new KeyCache((raw) =>
  importKey('X25519 private', () =>
    createPrivateKey({
      key: { kty: 'OKP', crv: 'X25519', d: b64url(raw), x: PLACEHOLDER_X },
      format: 'jwk',
    }),
  ),
);
const x25519Public = new KeyCache((raw) =>
  importKey('X25519 public', () =>
    createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(raw) }, format: 'jwk' }),
  ),
);
const ed25519Private = new KeyCache((raw) =>
  importKey('Ed25519 private', () =>
    createPrivateKey({
      key: { kty: 'OKP', crv: 'Ed25519', d: b64url(raw), x: PLACEHOLDER_X },
      format: 'jwk',
    }),
  ),
);
const ed25519Public = new KeyCache((raw) =>
  importKey('Ed25519 public', () =>
    createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(raw) }, format: 'jwk' }),
  ),
);

/** The raw public key of an X25519/Ed25519 private KeyObject (JWK export: the fast path). */
function rawPublic(privateKey: KeyObject): Uint8Array {
  const { x } = createPublicKey(privateKey).export({ format: 'jwk' });
  if (typeof x !== 'string')
    throw new CryptoError('invalid-key', 'exported key has no public part');
  const raw = plain(Buffer.from(x, 'base64url'));
  if (raw.length !== 32)
    throw new CryptoError('invalid-key', 'exported public key has the wrong length');
  return raw;
}

function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (const b of bytes) acc |= b;
  return acc === 0;
}

const AES_BLOCK = 16;
const GCM_IV = 12;
const GCM_TAG = 16;
/** RFC 5869 §2.3: L ≤ 255·HashLen. */
const HKDF_MAX = 255 * 32;

function decryptFailed(what: string, cause: unknown): CryptoError {
  const error = new CryptoError('decrypt-failed', `${what} failed`);
  // Keep OpenSSL's reason for debugging without putting it in the message.
  Object.defineProperty(error, 'cause', { value: cause, enumerable: false });
  return error;
}

/** The `CryptoProvider` on `node:crypto`. Stateless apart from the key caches. */
export const nodeCrypto: CryptoProvider = {
  name: 'node',

  randomBytes(length: number): Uint8Array {
    if (!Number.isInteger(length) || length < 0) {
      throw new CryptoError('invalid-argument', 'length must be a non-negative integer');
    }
    const out = new Uint8Array(length);
    randomFillSync(out);
    return out;
  },

  async sha256(data) {
    return plain(createHash('sha256').update(data).digest());
  },

  async sha512(data) {
    return plain(createHash('sha512').update(data).digest());
  },

  async hmacSha256(key, data) {
    return plain(createHmac('sha256', key).update(data).digest());
  },

  async hkdfSha256(ikm, salt, info, length) {
    if (!Number.isInteger(length) || length < 1 || length > HKDF_MAX) {
      throw new CryptoError('invalid-argument', `HKDF length must be 1..${HKDF_MAX}`);
    }
    // An empty salt and HashLen zero bytes give the same HMAC key (RFC 2104
    // pads keys with zeros), which is what RFC 5869 §2.2 asks for.
    // RFC 5869 spelled out with HMAC calls: on Node 20 one `hkdfSync` costs
    // ~25 µs against ~4 µs per `createHmac`, and HKDF sits on every message's
    // hot path (message keys), so the two-or-three-HMAC form is several times
    // faster for the 32..80-byte outputs the protocol asks for.
    const prk = createHmac('sha256', salt.length === 0 ? ZERO_SALT : salt)
      .update(ikm)
      .digest();
    const out = new Uint8Array(length);
    let block: Uint8Array = NO_BYTES;
    for (let offset = 0, counter = 1; offset < length; counter++) {
      const counterByte = HKDF_COUNTERS[counter];
      // Unreachable after the length check above (counter ≤ 255).
      if (counterByte === undefined) throw new CryptoError('invalid-argument', 'HKDF too long');
      block = createHmac('sha256', prk).update(block).update(info).update(counterByte).digest();
      out.set(block.subarray(0, Math.min(block.length, length - offset)), offset);
      offset += block.length;
    }
    return out;
  },

  async aes256CbcEncrypt(key, iv, plaintext) {
    requireLength(key, 32, 'AES-256 key');
    requireLength(iv, AES_BLOCK, 'CBC IV');
    const cipher = createCipheriv('aes-256-cbc', key, iv);
    return joined(cipher.update(plaintext), cipher.final());
  },

  async aes256CbcDecrypt(key, iv, ciphertext) {
    requireLength(key, 32, 'AES-256 key');
    requireLength(iv, AES_BLOCK, 'CBC IV');
    if (ciphertext.length === 0 || ciphertext.length % AES_BLOCK !== 0) {
      throw new CryptoError('decrypt-failed', 'CBC ciphertext is not a whole number of blocks');
    }
    const decipher = createDecipheriv('aes-256-cbc', key, iv);
    try {
      return joined(decipher.update(ciphertext), decipher.final());
    } catch (cause) {
      throw decryptFailed('CBC padding check', cause);
    }
  },

  async aes256GcmEncrypt(key, iv, plaintext, aad) {
    requireLength(key, 32, 'AES-256 key');
    requireLength(iv, GCM_IV, 'GCM IV');
    const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: GCM_TAG });
    if (aad !== undefined) cipher.setAAD(aad);
    const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return plain(body);
  },

  async aes256GcmDecrypt(key, iv, ciphertext, aad) {
    requireLength(key, 32, 'AES-256 key');
    requireLength(iv, GCM_IV, 'GCM IV');
    if (ciphertext.length < GCM_TAG) {
      throw new CryptoError('decrypt-failed', 'GCM ciphertext shorter than its tag');
    }
    const split = ciphertext.length - GCM_TAG;
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: GCM_TAG });
    decipher.setAuthTag(ciphertext.subarray(split));
    if (aad !== undefined) decipher.setAAD(aad);
    try {
      return plain(
        Buffer.concat([decipher.update(ciphertext.subarray(0, split)), decipher.final()]),
      );
    } catch (cause) {
      throw decryptFailed('GCM tag check', cause);
    }
  },

  async x25519PublicKey(privateKey) {
    requireLength(privateKey, 32, 'X25519 private key');
    return rawPublic(x25519Private.get(privateKey));
  },

  async x25519(privateKey, publicKey) {
    requireLength(privateKey, 32, 'X25519 private key');
    requireLength(publicKey, 32, 'X25519 public key');
    let shared: Buffer;
    try {
      shared = diffieHellman({
        privateKey: x25519Private.get(privateKey),
        publicKey: x25519Public.get(publicKey),
      });
    } catch (cause) {
      // OpenSSL refuses an all-zero result itself ("failed during derivation").
      if (CryptoError.is(cause)) throw cause;
      throw new CryptoError('invalid-key', `X25519 agreement failed: ${describe(cause)}`);
    }
    const out = plain(shared);
    // RFC 7748 §6.1: a low-order public key forces the all-zero secret; the
    // check stops a peer from steering the session to a key it can predict.
    if (isAllZero(out)) throw new CryptoError('invalid-key', 'X25519 result is all zeros');
    return out;
  },

  async ed25519PublicKey(seed) {
    requireLength(seed, 32, 'Ed25519 seed');
    return rawPublic(ed25519Private.get(seed));
  },

  async ed25519Sign(seed, message) {
    requireLength(seed, 32, 'Ed25519 seed');
    return plain(nodeSign(null, message, ed25519Private.get(seed)));
  },

  async ed25519Verify(publicKey, message, signature) {
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    try {
      return nodeVerify(null, message, ed25519Public.get(publicKey), signature);
    } catch (cause) {
      // The contract is "false, never a throw" for untrusted input: a key
      // OpenSSL cannot decode is simply a signature that does not verify.
      if (CryptoError.is(cause, 'invalid-key') || cause instanceof Error) return false;
      throw cause;
    }
  },

  createAes256CbcEncryptor(key, iv): StreamingCipher {
    requireLength(key, 32, 'AES-256 key');
    requireLength(iv, AES_BLOCK, 'CBC IV');
    const cipher = createCipheriv('aes-256-cbc', key, iv);
    return {
      update: async (chunk) => plain(cipher.update(chunk)),
      final: async () => plain(cipher.final()),
    };
  },

  createAes256CbcDecryptor(key, iv): StreamingCipher {
    requireLength(key, 32, 'AES-256 key');
    requireLength(iv, AES_BLOCK, 'CBC IV');
    const decipher = createDecipheriv('aes-256-cbc', key, iv);
    return {
      update: async (chunk) => plain(decipher.update(chunk)),
      final: async () => {
        try {
          return plain(decipher.final());
        } catch (cause) {
          throw decryptFailed('CBC padding check', cause);
        }
      },
    };
  },

  createHmacSha256(key): StreamingDigest {
    const hmac = createHmac('sha256', key);
    return { update: (chunk) => void hmac.update(chunk), digest: () => plain(hmac.digest()) };
  },

  createSha256(): StreamingDigest {
    const hash = createHash('sha256');
    return { update: (chunk) => void hash.update(chunk), digest: () => plain(hash.digest()) };
  },

  createOffloadedSha256,
};
