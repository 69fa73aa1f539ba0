/**
 * Curve25519 keys in libsignal's formats: X25519 agreement (RFC 7748) and
 * XEdDSA signatures (see `xeddsa.ts`).
 *
 * A private key is a clamped X25519 scalar. Keys made by
 * `generateSigningKeyPair` (identity keys, sender-key signing keys) also keep
 * the 32-byte Ed25519 seed the scalar was derived from (RFC 8032 §5.1.5:
 * scalar = clamp(SHA-512(seed)[0..32])), so they sign with the platform's
 * native Ed25519; the public key is then the Montgomery form of the Ed25519
 * public key, and libsignal verifies the result as an XEdDSA signature.
 */
import { sha512 } from '@noble/hashes/sha2.js';
import { CryptoError, type CryptoProvider, type RandomSource } from '../crypto/provider.js';
import { ProtocolError } from './errors.js';
import {
  isSmallOrderU,
  montgomeryToEdwards,
  xeddsaSign,
  xeddsaSigningKey,
  type XeddsaSigningKey,
} from './xeddsa.js';

/** libsignal's key type byte for Curve25519 ("DJB") public keys. */
export const DJB_TYPE = 0x05;

const KEY_LENGTH = 32;
const SIGNATURE_LENGTH = 64;

/** RFC 7748 §5 `decodeScalar25519`: clear the 3 low bits and bit 255, set bit 254. */
function clamp(scalar: Uint8Array): Uint8Array {
  const out = new Uint8Array(scalar);
  out[0] = (out[0] ?? 0) & 248;
  out[31] = ((out[31] ?? 0) & 127) | 64;
  return out;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A key's Edwards form for sign bit 0 and 1 (null: none exists; undefined: not yet computed). */
type EdwardsForms = [Uint8Array | null | undefined, Uint8Array | null | undefined];

/** Per-PublicKey-object cache: the fast path when a caller keeps its key objects. */
const edwardsByObject = new WeakMap<PublicKey, EdwardsForms>();

/**
 * A bounded cache by key VALUE (public data only) for callers that
 * deserialize the same key again for every message, e.g. a sender-key
 * signing key. It returns the same Edwards array each time, so the
 * provider's per-array KeyObject cache hits as well.
 */
const edwardsByValue = new Map<string, EdwardsForms>();
const EDWARDS_CACHE_LIMIT = 512;

function edwardsFormsOf(publicKey: PublicKey): EdwardsForms {
  const own = edwardsByObject.get(publicKey);
  if (own !== undefined) return own;
  const id = hexOf(publicKey.raw);
  let forms = edwardsByValue.get(id);
  if (forms === undefined) {
    forms = [undefined, undefined];
    // Oldest-first eviction: Map iterates in insertion order.
    if (edwardsByValue.size >= EDWARDS_CACHE_LIMIT) {
      const oldest = edwardsByValue.keys().next();
      if (oldest.done !== true) edwardsByValue.delete(oldest.value);
    }
    edwardsByValue.set(id, forms);
  }
  edwardsByObject.set(publicKey, forms);
  return forms;
}

const HEX_BYTE = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function hexOf(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += HEX_BYTE[b] ?? '00';
  return out;
}

/** A Curve25519 public key (the Montgomery u-coordinate). Immutable. */
export class PublicKey {
  /** The 32-byte little-endian u-coordinate. Do not mutate. */
  readonly raw: Uint8Array;
  #serialized: Uint8Array | undefined;

  private constructor(raw: Uint8Array) {
    this.raw = raw;
  }

  /**
   * Parses libsignal's 33-byte form `0x05 ‖ u`. Rejects any other length or
   * type byte, and points of small order, which no honest party produces and
   * which would let a peer fix a shared secret or forge signatures.
   */
  static deserialize(bytes: Uint8Array): PublicKey {
    if (!(bytes instanceof Uint8Array) || bytes.length !== KEY_LENGTH + 1) {
      throw new ProtocolError('invalid-key', `public key must be ${KEY_LENGTH + 1} bytes`);
    }
    if (bytes[0] !== DJB_TYPE) throw new ProtocolError('invalid-key', 'unknown public key type');
    return PublicKey.fromRaw(bytes.subarray(1));
  }

  /** Wraps a raw 32-byte u-coordinate (copied). Same checks as `deserialize`. */
  static fromRaw(raw: Uint8Array): PublicKey {
    if (!(raw instanceof Uint8Array) || raw.length !== KEY_LENGTH) {
      throw new ProtocolError('invalid-key', `raw public key must be ${KEY_LENGTH} bytes`);
    }
    if (isSmallOrderU(raw)) throw new ProtocolError('invalid-key', 'public key has small order');
    return new PublicKey(new Uint8Array(raw));
  }

  /** The 33-byte form `0x05 ‖ raw`, computed once. Callers must not mutate it. */
  serialize(): Uint8Array {
    if (this.#serialized === undefined) {
      const out = new Uint8Array(KEY_LENGTH + 1);
      out[0] = DJB_TYPE;
      out.set(this.raw, 1);
      this.#serialized = out;
    }
    return this.#serialized;
  }

  /** Byte equality of the keys (public data, so no constant-time need). */
  equals(other: PublicKey): boolean {
    return this === other || bytesEqual(this.raw, other.raw);
  }
}

/** What a PrivateKey holds; kept off the object so nothing can print it. */
interface Secret {
  readonly scalar: Uint8Array;
  readonly seed: Uint8Array | undefined;
  /** Lazily: the Ed25519 public key of the seed (for the sign bit). */
  edwardsPublic?: Uint8Array;
  /** Lazily: the prepared scalar for pure-JS XEdDSA. */
  xeddsa?: XeddsaSigningKey;
}

const secrets = new WeakMap<PrivateKey, Secret>();

function secretOf(key: PrivateKey): Secret {
  const secret = secrets.get(key);
  // Only reachable with an object that was never built by this module.
  if (secret === undefined) throw new ProtocolError('invalid-key', 'not a PrivateKey');
  return secret;
}

/** Storage tags: what follows the tag byte in `toStorageBytes`. */
const STORAGE_SCALAR = 0x01;
const STORAGE_SEED = 0x02;

const REDACTED = '[PrivateKey]';

/**
 * A Curve25519 private key. Its bytes live in a module-private map, and
 * `toString`, `toJSON` and Node's inspect all print a placeholder, so a key
 * logged by mistake leaks nothing.
 */
export class PrivateKey {
  private constructor(secret: Secret) {
    secrets.set(this, secret);
  }

  /** A key from a raw 32-byte scalar, clamped per RFC 7748 §5 (libsignal's format). */
  static fromRaw(scalar: Uint8Array): PrivateKey {
    if (!(scalar instanceof Uint8Array) || scalar.length !== KEY_LENGTH) {
      throw new ProtocolError('invalid-key', `private key must be ${KEY_LENGTH} bytes`);
    }
    return new PrivateKey({ scalar: clamp(scalar), seed: undefined });
  }

  /**
   * A key from a 32-byte Ed25519 seed: scalar = clamp(SHA-512(seed)[0..32]),
   * exactly the Ed25519 secret scalar of RFC 8032 §5.1.5, so the key both
   * agrees (X25519) and signs (native Ed25519) consistently.
   */
  static fromSeed(seed: Uint8Array): PrivateKey {
    if (!(seed instanceof Uint8Array) || seed.length !== KEY_LENGTH) {
      throw new ProtocolError('invalid-key', `Ed25519 seed must be ${KEY_LENGTH} bytes`);
    }
    const copy = new Uint8Array(seed);
    return new PrivateKey({ scalar: clamp(sha512(copy).subarray(0, KEY_LENGTH)), seed: copy });
  }

  /** The 32-byte clamped scalar (a copy): libsignal's private key serialization. */
  serialize(): Uint8Array {
    return new Uint8Array(secretOf(this).scalar);
  }

  /** True when the key keeps an Ed25519 seed and so signs natively. */
  get hasSeed(): boolean {
    return secretOf(this).seed !== undefined;
  }

  /**
   * 33 bytes for local storage: `0x02 ‖ seed` when the key has an Ed25519
   * seed (so signing stays native after a reload), else `0x01 ‖ scalar`.
   */
  toStorageBytes(): Uint8Array {
    const secret = secretOf(this);
    const out = new Uint8Array(KEY_LENGTH + 1);
    if (secret.seed !== undefined) {
      out[0] = STORAGE_SEED;
      out.set(secret.seed, 1);
    } else {
      out[0] = STORAGE_SCALAR;
      out.set(secret.scalar, 1);
    }
    return out;
  }

  /** Parses `toStorageBytes` output; `ProtocolError('invalid-key')` on anything else. */
  static fromStorageBytes(bytes: Uint8Array): PrivateKey {
    if (!(bytes instanceof Uint8Array) || bytes.length !== KEY_LENGTH + 1) {
      throw new ProtocolError('invalid-key', `stored private key must be ${KEY_LENGTH + 1} bytes`);
    }
    const body = bytes.subarray(1);
    if (bytes[0] === STORAGE_SEED) return PrivateKey.fromSeed(body);
    if (bytes[0] === STORAGE_SCALAR) {
      // A stored scalar was clamped when made; an unclamped one means the
      // bytes are not what we wrote, so refuse rather than silently change it.
      if (!bytesEqual(clamp(body), body))
        throw new ProtocolError('invalid-key', 'stored scalar is not clamped');
      return PrivateKey.fromRaw(body);
    }
    throw new ProtocolError('invalid-key', 'unknown stored private key tag');
  }

  /** A placeholder: never the key. */
  toString(): string {
    return REDACTED;
  }

  /** A placeholder: never the key. */
  toJSON(): string {
    return REDACTED;
  }

  /** A placeholder for `util.inspect` / `console.log`. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return REDACTED;
  }
}

/** A private key and its public key. */
export interface KeyPair {
  readonly publicKey: PublicKey;
  readonly privateKey: PrivateKey;
}

/**
 * X3DH/ratchet/prekey keys: the private key is EXACTLY clamp(random(32)) —
 * one draw of 32 bytes, nothing else — as in libsignal's `KeyPair::generate`.
 */
export async function generateKeyPair(
  crypto: CryptoProvider,
  random: RandomSource,
): Promise<KeyPair> {
  const privateKey = PrivateKey.fromRaw(random(KEY_LENGTH));
  return keyPairFromPrivate(crypto, privateKey);
}

/** The key pair of a private key (X25519 base-point multiplication). */
export async function keyPairFromPrivate(
  crypto: CryptoProvider,
  privateKey: PrivateKey,
): Promise<KeyPair> {
  const raw = await crypto.x25519PublicKey(secretOf(privateKey).scalar);
  return { publicKey: PublicKey.fromRaw(raw), privateKey };
}

/**
 * Identity keys and sender-key signing keys: made from a 32-byte Ed25519 seed
 * so signing runs natively. X25519 scalar = clamp(SHA-512(seed)[0..32]);
 * public = X25519(scalar, 9), which equals the Montgomery form of the Ed25519
 * public key of the seed (the same scalar times the same base point).
 */
export async function generateSigningKeyPair(
  crypto: CryptoProvider,
  random: RandomSource,
): Promise<KeyPair> {
  return keyPairFromPrivate(crypto, PrivateKey.fromSeed(random(KEY_LENGTH)));
}

/**
 * X25519 agreement. `ProtocolError('invalid-key')` when the result is all
 * zeros (RFC 7748 §6.1), i.e. the peer sent a low-order point to force a
 * secret it knows.
 */
export async function agree(
  crypto: CryptoProvider,
  privateKey: PrivateKey,
  publicKey: PublicKey,
): Promise<Uint8Array> {
  try {
    return await crypto.x25519(secretOf(privateKey).scalar, publicKey.raw);
  } catch (cause) {
    if (CryptoError.is(cause, 'invalid-key')) {
      throw new ProtocolError('invalid-key', 'key agreement with a low-order key', { cause });
    }
    throw cause;
  }
}

/**
 * A 64-byte XEdDSA signature, libsignal-compatible. Native Ed25519 when the
 * key has a seed (the Edwards sign bit goes into the top bit of byte 63, as
 * libsignal's verifier expects), else pure XEdDSA with 64 bytes from `random`.
 */
export async function sign(
  crypto: CryptoProvider,
  privateKey: PrivateKey,
  message: Uint8Array,
  random: RandomSource,
): Promise<Uint8Array> {
  const secret = secretOf(privateKey);
  if (secret.seed !== undefined) {
    secret.edwardsPublic ??= await crypto.ed25519PublicKey(secret.seed);
    const signature = await crypto.ed25519Sign(secret.seed, message);
    // s < q < 2^253, so bit 255 is free; libsignal reads A's sign from it.
    signature[63] = ((signature[63] ?? 0) & 0x7f) | ((secret.edwardsPublic[31] ?? 0) & 0x80);
    return signature;
  }
  secret.xeddsa ??= xeddsaSigningKey(secret.scalar);
  return xeddsaSign(crypto, secret.xeddsa, message, random(64));
}

/**
 * Verifies an XEdDSA signature (XEdDSA §2.5 with libsignal's sign bit): map u
 * to the Edwards key whose sign is the top bit of byte 63, clear that bit in
 * s, and run Ed25519 verification. False for any wrong or malformed
 * signature; never throws on untrusted bytes.
 */
export async function verify(
  crypto: CryptoProvider,
  publicKey: PublicKey,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_LENGTH) return false;
  const last = signature[63] ?? 0;
  const signBit = (last >> 7) as 0 | 1;
  // §2.5: s ≥ 2^253 is rejected before any point work (the platform's
  // Ed25519 further insists on s < q, refusing malleable variants).
  if ((last & 0x60) !== 0) return false;
  const cached = edwardsFormsOf(publicKey);
  let edwards = cached[signBit];
  if (edwards === undefined) {
    edwards = montgomeryToEdwards(publicKey.raw, signBit) ?? null;
    cached[signBit] = edwards;
  }
  if (edwards === null) return false;
  const edSignature = new Uint8Array(signature);
  edSignature[63] = last & 0x7f;
  return crypto.ed25519Verify(edwards, message, edSignature);
}
