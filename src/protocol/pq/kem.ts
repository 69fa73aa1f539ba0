/**
 * The KEM of PQXDH prekeys, as libsignal serializes it (`rust/protocol/src/kem.rs`):
 *
 *   public key  = type byte ‖ encapsulation key   (1 + 1568 bytes)
 *   secret key  = type byte ‖ decapsulation key   (1 + 3168 bytes)
 *   ciphertext  = type byte ‖ KEM ciphertext       (1 + 1568 bytes)
 *
 * Type 0x08 is Kyber1024 (CRYSTALS-Kyber round 3), the only type the
 * libsignal-client 0.103 Node build accepts and the one it generates; type
 * 0x0A is ML-KEM-1024 (FIPS 203), which libsignal compiles only behind its
 * `mlkem1024` feature. The lattice arithmetic is `@noble/post-quantum`'s
 * ML-KEM-1024 in both cases. Kyber round 3 differs from ML-KEM only in three
 * hashes around it (FIPS 203 Appendix C; libcrux `variant.rs`, the code
 * libsignal runs):
 *
 *   encapsulate: the 32 random bytes m are hashed first, m' = SHA3-256(m)
 *   shared key:  K = SHAKE256(K̄ ‖ SHA3-256(c), 32), where K̄ is ML-KEM's key
 *                (on decapsulation failure K̄ is ML-KEM's implicit-rejection
 *                key, and libcrux applies the same KDF to it)
 *   key pairs:   the seed expansion is G(d) instead of G(d ‖ k); the key
 *                formats and the encryption are identical, so an ML-KEM key
 *                pair is a valid Kyber key pair (only seed → key differs)
 *
 * so Kyber1024 here is ML-KEM-1024 with those two hashes added; no lattice
 * code is written here.
 */
import { ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import { sha3_256, shake256 } from '@noble/hashes/sha3.js';
import type { RandomSource } from '../../crypto/provider.js';
import { bytesEqual, copyBytes } from '../bytes.js';
import { ProtocolError } from '../errors.js';

/** The KEM key types libsignal knows (`kem.rs` `KeyType::value`). */
export const KemKeyType = { kyber1024: 0x08, mlkem1024: 0x0a } as const;
export type KemKeyType = (typeof KemKeyType)[keyof typeof KemKeyType];

/** Lengths of the raw (untyped) material; both types share them. */
export const KEM_PUBLIC_KEY_LENGTH = 1568;
export const KEM_SECRET_KEY_LENGTH = 3168;
export const KEM_CIPHERTEXT_LENGTH = 1568;
export const KEM_SHARED_SECRET_LENGTH = 32;

const REDACTED = '[KemSecretKey]';
const INSPECT = Symbol.for('nodejs.util.inspect.custom');

function keyType(byte: number | undefined, code: 'invalid-key' | 'invalid-message'): KemKeyType {
  if (byte === KemKeyType.kyber1024 || byte === KemKeyType.mlkem1024) return byte;
  // A type we do not speak is refused before any length or lattice work.
  throw new ProtocolError(code, `unknown KEM key type ${byte === undefined ? 'none' : byte}`);
}

function typed(type: KemKeyType, raw: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + raw.length);
  out[0] = type;
  out.set(raw, 1);
  return out;
}

/** A KEM public key (a PQXDH prekey's public half). Immutable; holds no secret. */
export class KemPublicKey {
  private constructor(
    readonly type: KemKeyType,
    /** The raw encapsulation key (no type byte). Do not mutate. */
    readonly raw: Uint8Array,
  ) {}

  /** Parses `type ‖ key`; `ProtocolError('invalid-key')` for an unknown type or a wrong length. */
  static deserialize(bytes: Uint8Array): KemPublicKey {
    if (!(bytes instanceof Uint8Array) || bytes.length === 0) {
      throw new ProtocolError('invalid-key', 'KEM public key must be non-empty bytes');
    }
    const type = keyType(bytes[0], 'invalid-key');
    if (bytes.length !== 1 + KEM_PUBLIC_KEY_LENGTH) {
      throw new ProtocolError(
        'invalid-key',
        `KEM public key must be ${1 + KEM_PUBLIC_KEY_LENGTH} bytes`,
      );
    }
    return new KemPublicKey(type, bytes.slice(1));
  }

  /** `type ‖ key`: the bytes the identity key signs and a bundle carries. */
  serialize(): Uint8Array {
    return typed(this.type, this.raw);
  }

  equals(other: KemPublicKey): boolean {
    return this.type === other.type && bytesEqual(this.raw, other.raw);
  }
}

/** A KEM secret key. Never printed, logged or JSON-encoded. */
export class KemSecretKey {
  readonly #raw: Uint8Array;

  private constructor(
    readonly type: KemKeyType,
    raw: Uint8Array,
  ) {
    this.#raw = raw;
  }

  /** Parses `type ‖ key` from storage; `ProtocolError('invalid-key')` when malformed. */
  static deserialize(bytes: Uint8Array): KemSecretKey {
    if (!(bytes instanceof Uint8Array) || bytes.length === 0) {
      throw new ProtocolError('invalid-key', 'KEM secret key must be non-empty bytes');
    }
    const type = keyType(bytes[0], 'invalid-key');
    if (bytes.length !== 1 + KEM_SECRET_KEY_LENGTH) {
      throw new ProtocolError(
        'invalid-key',
        `KEM secret key must be ${1 + KEM_SECRET_KEY_LENGTH} bytes`,
      );
    }
    return new KemSecretKey(type, bytes.slice(1));
  }

  /** `type ‖ key` for a store. */
  serialize(): Uint8Array {
    return typed(this.type, this.#raw);
  }

  /**
   * Recovers the shared secret of a serialized ciphertext (`type ‖ c`).
   * Typed errors, before any lattice work: 'invalid-message' for an unknown
   * type or a wrong length, 'invalid-key' for a ciphertext of another type
   * than this key. A well-formed but wrong ciphertext yields an unrelated
   * secret (implicit rejection), which later fails the message MAC.
   */
  decapsulate(ciphertext: Uint8Array): Uint8Array {
    const raw = parseCiphertext(ciphertext);
    if (ciphertext[0] !== this.type) {
      throw new ProtocolError('invalid-key', 'KEM ciphertext type does not match the key');
    }
    let kbar: Uint8Array;
    try {
      kbar = ml_kem1024.decapsulate(raw, this.#raw);
    } catch (cause) {
      // The library refuses a secret key whose embedded hash is wrong: a
      // local storage fault, never a remote one (the ciphertext was checked).
      throw new ProtocolError('invalid-state', 'stored KEM secret key is corrupt', { cause });
    }
    return this.type === KemKeyType.kyber1024 ? kyberKdf(kbar, raw) : kbar;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [INSPECT](): string {
    return REDACTED;
  }
}

/** A KEM key pair. */
export interface KemKeyPair {
  readonly publicKey: KemPublicKey;
  readonly secretKey: KemSecretKey;
}

/** Checks a serialized ciphertext's type and length; returns the raw ciphertext. */
export function parseCiphertext(bytes: Uint8Array): Uint8Array {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) {
    throw new ProtocolError('invalid-message', 'KEM ciphertext must be non-empty bytes');
  }
  keyType(bytes[0], 'invalid-message');
  // A ciphertext of the wrong length would make the lattice code throw or
  // read past the end; it is refused here with a stable code instead.
  if (bytes.length !== 1 + KEM_CIPHERTEXT_LENGTH) {
    throw new ProtocolError(
      'invalid-message',
      `KEM ciphertext must be ${1 + KEM_CIPHERTEXT_LENGTH} bytes`,
    );
  }
  return bytes.subarray(1);
}

/** Kyber round 3's final KDF: SHAKE256(K̄ ‖ SHA3-256(c)), 32 bytes. */
function kyberKdf(kbar: Uint8Array, rawCiphertext: Uint8Array): Uint8Array {
  return shake256
    .create({ dkLen: KEM_SHARED_SECRET_LENGTH })
    .update(kbar)
    .update(sha3_256(rawCiphertext))
    .digest();
}

/** A fresh key pair of `type`: exactly one draw of 64 bytes (d ‖ z). */
export function generateKemKeyPair(
  random: RandomSource,
  type: KemKeyType = KemKeyType.kyber1024,
): KemKeyPair {
  const seed = random(64);
  const { publicKey, secretKey } = ml_kem1024.keygen(seed);
  seed.fill(0);
  const pair = {
    publicKey: KemPublicKey.deserialize(typed(type, publicKey)),
    secretKey: KemSecretKey.deserialize(typed(type, secretKey)),
  };
  secretKey.fill(0);
  return pair;
}

/** The serialized ciphertext (`type ‖ c`) and the 32-byte shared secret. */
export interface Encapsulation {
  readonly ciphertext: Uint8Array;
  readonly sharedSecret: Uint8Array;
}

/**
 * Encapsulates to `publicKey`: exactly one draw of 32 bytes. Throws
 * 'invalid-key' for a public key the library refuses (FIPS 203's modulus
 * check: coefficients ≥ q, which no honest key has).
 */
export function encapsulate(publicKey: KemPublicKey, random: RandomSource): Encapsulation {
  const m = random(32);
  const message = publicKey.type === KemKeyType.kyber1024 ? sha3_256(m) : copyBytes(m);
  m.fill(0);
  let result: { cipherText: Uint8Array; sharedSecret: Uint8Array };
  try {
    result = ml_kem1024.encapsulate(publicKey.raw, message);
  } catch (cause) {
    throw new ProtocolError('invalid-key', 'KEM public key is not a valid key', { cause });
  } finally {
    message.fill(0);
  }
  const sharedSecret =
    publicKey.type === KemKeyType.kyber1024
      ? kyberKdf(result.sharedSecret, result.cipherText)
      : result.sharedSecret;
  return { ciphertext: typed(publicKey.type, result.cipherText), sharedSecret };
}
