/**
 * End-to-end encryption of attachments, WhatsApp's construction (WhatsApp
 * Encryption Overview, "Transmitting Media and Other Attachments"): a fresh
 * random 32-byte media key is expanded with HKDF-SHA256 (empty salt, a
 * per-media-type info string) into 112 bytes — IV (16) ‖ AES-256-CBC key (32)
 * ‖ HMAC-SHA256 key (32) ‖ reserved (32). The blob is
 * AES-CBC(PKCS#7) ‖ first 10 bytes of HMAC(iv ‖ ciphertext).
 *
 * Both directions stream (bounded memory whatever the file size). The
 * receiver's output is unauthenticated until the stream ends: the MAC, the
 * ciphertext hash, the padding, the size and the plaintext hash are checked
 * at the end and a mismatch throws, so callers must write to a temporary
 * place and publish only after the iteration completed (see `AttachmentSink`).
 *
 * Both SHA-256 passes go through `hashStream`: on a provider that can hash
 * on another thread (Node) they run beside AES + HMAC instead of after them,
 * for files of `OFFLOAD_MIN_BYTES` or more (or of unknown size): below that
 * the inline hash costs less than a first use of the other thread.
 *
 * Pure module: primitives come from the injected `CryptoProvider`.
 */
import type { CryptoProvider, OffloadedDigest } from '../../../crypto/provider.js';
import { AttachmentError } from './errors.js';

export const MEDIA_KEY_LENGTH = 32;
export const MAC_LENGTH = 10;
const BLOCK = 16;
const EXPANDED_LENGTH = 112;

/** Which info string keys a blob; the type is implied by the pointer's MIME type. */
export type MediaType = 'image' | 'video' | 'audio' | 'document' | 'history';

/** HKDF info strings, one per media type (listed in docs/protocol.md). */
export const MEDIA_KEY_INFO: Readonly<Record<MediaType, string>> = {
  image: 'Quintet Image Keys',
  video: 'Quintet Video Keys',
  audio: 'Quintet Audio Keys',
  document: 'Quintet Document Keys',
  history: 'Quintet History Keys',
};

/** The media type of a MIME type: image/*, video/*, audio/*, else document. */
export function mediaTypeOf(mimeType: string): MediaType {
  const major = mimeType.split('/')[0]?.toLowerCase();
  if (major === 'image' || major === 'video' || major === 'audio') return major;
  return 'document';
}

/** The keys one media key expands to. */
export interface MediaKeys {
  readonly iv: Uint8Array;
  readonly cipherKey: Uint8Array;
  readonly macKey: Uint8Array;
}

export async function deriveMediaKeys(
  crypto: CryptoProvider,
  mediaKey: Uint8Array,
  type: MediaType,
): Promise<MediaKeys> {
  if (mediaKey.length !== MEDIA_KEY_LENGTH) {
    throw new AttachmentError('invalid-pointer', 'media key must be 32 bytes');
  }
  const info = new TextEncoder().encode(MEDIA_KEY_INFO[type]);
  const expanded = await crypto.hkdfSha256(mediaKey, new Uint8Array(0), info, EXPANDED_LENGTH);
  return {
    iv: expanded.slice(0, 16),
    cipherKey: expanded.slice(16, 48),
    macKey: expanded.slice(48, 80),
  };
}

/** A fresh media key: never reused for a second file. */
export function newMediaKey(crypto: CryptoProvider): Uint8Array {
  return crypto.randomBytes(MEDIA_KEY_LENGTH);
}

/** Size of the encrypted blob for a plaintext of `size` bytes (PKCS#7 always adds 1..16). */
export function encryptedSize(size: number): number {
  return (Math.floor(size / BLOCK) + 1) * BLOCK + MAC_LENGTH;
}

/** What the sender learns once the ciphertext was read to its end. */
export interface AttachmentDigests {
  readonly size: number;
  readonly encryptedSize: number;
  readonly plaintextSha256: Uint8Array;
  readonly ciphertextSha256: Uint8Array;
}

/** A running encryption: read `ciphertext` to its end, then call `digests()`. */
export interface AttachmentEncryption {
  readonly ciphertext: AsyncIterable<Uint8Array>;
  /** Throws until `ciphertext` has been read to its end. */
  digests(): AttachmentDigests;
}

/** Encrypts `source` under `mediaKey`; see the module comment for the format. */
export function encryptAttachment(
  crypto: CryptoProvider,
  mediaKey: Uint8Array,
  type: MediaType,
  source: AsyncIterable<Uint8Array> | Uint8Array,
  /** The plaintext size when the caller knows it (chooses where to hash). */
  sizeHint?: number,
): AttachmentEncryption {
  let result: AttachmentDigests | undefined;
  const size = source instanceof Uint8Array ? source.length : sizeHint;
  async function* run(): AsyncGenerator<Uint8Array> {
    const keys = await deriveMediaKeys(crypto, mediaKey, type);
    const cipher = crypto.createAes256CbcEncryptor(keys.cipherKey, keys.iv);
    const mac = crypto.createHmacSha256(keys.macKey);
    mac.update(keys.iv);
    const plainHash = hashStream(crypto, size);
    const cipherHash = hashStream(crypto, size);
    try {
      let size = 0;
      let encrypted = 0;
      for await (const chunk of chunks(source)) {
        if (chunk.length === 0) continue;
        await plainHash.update(chunk);
        size += chunk.length;
        const out = await cipher.update(chunk);
        if (out.length > 0) {
          mac.update(out);
          await cipherHash.update(out);
          encrypted += out.length;
          yield out;
        }
      }
      const last = await cipher.final();
      mac.update(last);
      await cipherHash.update(last);
      encrypted += last.length;
      yield last;
      const tag = mac.digest().slice(0, MAC_LENGTH);
      await cipherHash.update(tag);
      encrypted += tag.length;
      result = {
        size,
        encryptedSize: encrypted,
        plaintextSha256: await plainHash.digest(),
        ciphertextSha256: await cipherHash.digest(),
      };
      yield tag;
    } finally {
      // A consumer that stopped early (or an error) leaves no hash running.
      plainHash.abort();
      cipherHash.abort();
    }
  }
  return {
    ciphertext: run(),
    digests() {
      if (result === undefined) {
        throw new Error('attachment digests read before the ciphertext was consumed');
      }
      return result;
    },
  };
}

/** What the receiver checks the blob against (from the message's pointer). */
export interface AttachmentExpectation {
  readonly mediaKey: Uint8Array;
  readonly type: MediaType;
  readonly size: number;
  readonly plaintextSha256: Uint8Array;
  readonly ciphertextSha256: Uint8Array;
}

/**
 * Decrypts a blob, yielding plaintext as it goes; throws
 * `AttachmentError('tampered')` at the end unless the MAC, the ciphertext
 * hash, the padding, the size and the plaintext hash all match. The MAC is
 * checked before the padding, so a forged blob never reaches the padding
 * check (no padding oracle).
 */
export async function* decryptAttachment(
  crypto: CryptoProvider,
  expected: AttachmentExpectation,
  source: AsyncIterable<Uint8Array> | Uint8Array,
): AsyncGenerator<Uint8Array> {
  const keys = await deriveMediaKeys(crypto, expected.mediaKey, expected.type);
  const decipher = crypto.createAes256CbcDecryptor(keys.cipherKey, keys.iv);
  const mac = crypto.createHmacSha256(keys.macKey);
  mac.update(keys.iv);
  const plainHash = hashStream(crypto, expected.size);
  const cipherHash = hashStream(crypto, expected.size);
  try {
    // The last MAC_LENGTH bytes seen so far may be the tag: held back.
    let tail: Uint8Array = new Uint8Array(0);
    let size = 0;
    const limit = encryptedSize(expected.size);
    let received = 0;
    for await (const chunk of chunks(source)) {
      received += chunk.length;
      // A blob longer than the pointer promises is refused as soon as it shows,
      // so a hostile server cannot make the receiver decrypt without bound.
      if (received > limit) throw tampered('the blob is longer than the message says');
      await cipherHash.update(chunk);
      // Split into what is surely ciphertext and the new held-back tail,
      // without copying the (usually large) chunk itself.
      let bodies: Uint8Array[];
      if (chunk.length >= MAC_LENGTH) {
        bodies = [tail, chunk.subarray(0, chunk.length - MAC_LENGTH)];
        tail = chunk.slice(chunk.length - MAC_LENGTH);
      } else {
        const data = join(tail, chunk);
        const cut = Math.max(0, data.length - MAC_LENGTH);
        bodies = [data.subarray(0, cut)];
        tail = data.slice(cut);
      }
      for (const body of bodies) {
        if (body.length === 0) continue;
        mac.update(body);
        const out = await decipher.update(body);
        if (out.length > 0) {
          size += out.length;
          await plainHash.update(out);
          yield out;
        }
      }
    }
    if (received !== limit || tail.length !== MAC_LENGTH) {
      throw tampered('the blob size does not match the message');
    }
    if (!sameBytes(mac.digest().subarray(0, MAC_LENGTH), tail)) {
      throw tampered('the attachment MAC does not verify');
    }
    if (!sameBytes(await cipherHash.digest(), expected.ciphertextSha256)) {
      throw tampered('the encrypted attachment hash does not match');
    }
    let last: Uint8Array;
    try {
      last = await decipher.final();
    } catch (cause) {
      throw new AttachmentError('tampered', 'the attachment padding is invalid', { cause });
    }
    size += last.length;
    await plainHash.update(last);
    if (size !== expected.size) throw tampered('the attachment size does not match');
    if (!sameBytes(await plainHash.digest(), expected.plaintextSha256)) {
      throw tampered('the attachment hash does not match');
    }
    if (last.length > 0) yield last;
  } finally {
    plainHash.abort();
    cipherHash.abort();
  }
}

/** Smallest file whose hashes go to another thread (measured: a worker's first use costs ~60 ms). */
export const OFFLOAD_MIN_BYTES = 1024 * 1024;

/**
 * A SHA-256 for the attachment's bulk hashes: off the calling thread when
 * the provider offers it and the file is large or of unknown size, else the
 * provider's inline hash behind the same interface.
 */
function hashStream(crypto: CryptoProvider, size: number | undefined): OffloadedDigest {
  const offloaded =
    size === undefined || size >= OFFLOAD_MIN_BYTES ? crypto.createOffloadedSha256?.() : undefined;
  if (offloaded !== undefined) return offloaded;
  const hash = crypto.createSha256();
  return {
    update: (chunk) => {
      hash.update(chunk);
      return undefined;
    },
    digest: () => Promise.resolve(hash.digest()),
    abort: () => undefined,
  };
}

function tampered(message: string): AttachmentError {
  return new AttachmentError('tampered', message);
}

async function* chunks(source: AsyncIterable<Uint8Array> | Uint8Array): AsyncGenerator<Uint8Array> {
  if (source instanceof Uint8Array) {
    yield source;
    return;
  }
  yield* source;
}

function join(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** Comparison without an early exit (a MAC check must not leak a prefix through timing). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}
