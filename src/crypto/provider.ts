/**
 * The primitive façade. Every cryptographic primitive Quintet uses goes
 * through this interface, so the protocol core never imports a platform API:
 * Node gets `node:crypto` (see `node.ts`), a browser gets WebCrypto plus
 * `@noble/curves` where WebCrypto lacks an operation (see `browser.ts`).
 *
 * All operations are asynchronous because WebCrypto is. Inputs are plain
 * `Uint8Array`s; implementations never keep a reference to secret inputs
 * beyond the call except in caches keyed by public values.
 */
export interface CryptoProvider {
  /** A short name for diagnostics ("node", "browser"). Never secret. */
  readonly name: string;
  /** Cryptographically secure random bytes; the default random source. */
  randomBytes(length: number): Uint8Array;
  sha256(data: Uint8Array): Promise<Uint8Array>;
  sha512(data: Uint8Array): Promise<Uint8Array>;
  hmacSha256(key: Uint8Array, data: Uint8Array): Promise<Uint8Array>;
  /** RFC 5869 HKDF with SHA-256. An empty salt means HashLen zero bytes. */
  hkdfSha256(
    ikm: Uint8Array,
    salt: Uint8Array,
    info: Uint8Array,
    length: number,
  ): Promise<Uint8Array>;
  /** AES-256-CBC with PKCS#7 padding. */
  aes256CbcEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array>;
  /** AES-256-CBC with PKCS#7 padding; rejects with `CryptoError('decrypt-failed')` on bad padding. */
  aes256CbcDecrypt(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array>;
  /** AES-256-GCM (12-byte IV, 16-byte tag appended); used for data at rest. */
  aes256GcmEncrypt(
    key: Uint8Array,
    iv: Uint8Array,
    plaintext: Uint8Array,
    aad?: Uint8Array,
  ): Promise<Uint8Array>;
  /** Rejects with `CryptoError('decrypt-failed')` when the tag does not verify. */
  aes256GcmDecrypt(
    key: Uint8Array,
    iv: Uint8Array,
    ciphertext: Uint8Array,
    aad?: Uint8Array,
  ): Promise<Uint8Array>;
  /** RFC 7748 X25519 public key (raw 32 bytes) of a raw 32-byte private key. */
  x25519PublicKey(privateKey: Uint8Array): Promise<Uint8Array>;
  /**
   * RFC 7748 X25519 agreement. Rejects with `CryptoError('invalid-key')` when
   * the result is all zeros (a low-order public key: the peer would force a
   * known shared secret).
   */
  x25519(privateKey: Uint8Array, publicKey: Uint8Array): Promise<Uint8Array>;
  /** RFC 8032 Ed25519 public key of a 32-byte seed. */
  ed25519PublicKey(seed: Uint8Array): Promise<Uint8Array>;
  /** RFC 8032 Ed25519 signature (64 bytes) with a 32-byte seed. */
  ed25519Sign(seed: Uint8Array, message: Uint8Array): Promise<Uint8Array>;
  /** RFC 8032 Ed25519 verification; false (never a throw) on any malformed input. */
  ed25519Verify(
    publicKey: Uint8Array,
    message: Uint8Array,
    signature: Uint8Array,
  ): Promise<boolean>;
  /**
   * Streaming AES-256-CBC with PKCS#7 padding, for inputs too large to hold
   * in memory (attachments). `update` may return less than it was given (a
   * partial block waits for the next call); `final` pads and flushes.
   */
  createAes256CbcEncryptor(key: Uint8Array, iv: Uint8Array): StreamingCipher;
  /**
   * Streaming AES-256-CBC decryption. `update` keeps the last block back;
   * `final` checks and strips the padding and rejects with
   * `CryptoError('decrypt-failed')` when it is wrong.
   */
  createAes256CbcDecryptor(key: Uint8Array, iv: Uint8Array): StreamingCipher;
  /** Incremental HMAC-SHA256. */
  createHmacSha256(key: Uint8Array): StreamingDigest;
  /** Incremental SHA-256. */
  createSha256(): StreamingDigest;
  /**
   * Optional: an incremental SHA-256 computed away from the calling thread
   * (Node: a worker thread, see `node-sha256-offload.ts`), for the bulk
   * hashes of attachments. Absent where there is no second thread to use;
   * callers then fall back to `createSha256`.
   */
  createOffloadedSha256?(): OffloadedDigest;
}

/**
 * An incremental hash running elsewhere. `update` copies its input before it
 * returns (the caller may reuse the chunk); when it returns a promise, the
 * caller must await it before the next `update` (the queue to the other
 * thread is full). `abort` discards an unfinished hash; it is a no-op after
 * `digest` or a second `abort`.
 */
export interface OffloadedDigest {
  update(chunk: Uint8Array): Promise<void> | undefined;
  digest(): Promise<Uint8Array>;
  abort(): void;
}

/** An incremental cipher: feed chunks in order, then call `final` once. */
export interface StreamingCipher {
  update(chunk: Uint8Array): Promise<Uint8Array>;
  final(): Promise<Uint8Array>;
}

/** An incremental hash or MAC: feed chunks in order, then call `digest` once. */
export interface StreamingDigest {
  update(chunk: Uint8Array): void;
  digest(): Uint8Array;
}

/** Error codes a crypto provider can raise. */
export type CryptoErrorCode =
  | 'decrypt-failed'
  | 'invalid-key'
  | 'invalid-argument'
  /** The thread an offloaded operation ran on failed or was stopped. */
  | 'offload-failed';

/** A typed failure of a primitive. The message never contains key material. */
export class CryptoError extends Error {
  override readonly name = 'CryptoError';
  constructor(
    readonly code: CryptoErrorCode,
    message: string,
  ) {
    super(message);
  }
  static is(value: unknown, code?: CryptoErrorCode): value is CryptoError {
    return value instanceof CryptoError && (code === undefined || value.code === code);
  }
}

/** A source of random bytes. Injected so tests can be deterministic. */
export type RandomSource = (length: number) => Uint8Array;

/** A clock in milliseconds since the Unix epoch. Injected so tests can move time. */
export interface Clock {
  now(): number;
}

/** The real clock. */
export const systemClock: Clock = { now: () => Date.now() };
