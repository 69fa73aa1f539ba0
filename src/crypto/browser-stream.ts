/**
 * Streaming AES-256-CBC on WebCrypto, which only offers one-shot calls with
 * PKCS#7 padding always applied. Chunking works because CBC chains through
 * the last ciphertext block: each chunk is encrypted with the previous
 * chunk's last ciphertext block as its IV. Streaming hashes come from
 * @noble/hashes, because WebCrypto has no incremental digest or HMAC.
 *
 * Pure module (no Node built-ins): bundled into the browser companion.
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { CryptoError, type StreamingCipher, type StreamingDigest } from './provider.js';

const BLOCK = 16;
const EMPTY = new Uint8Array(0);
/** A whole PKCS#7 padding block: what a block-aligned plaintext gets appended. */
const FULL_PAD = new Uint8Array(BLOCK).fill(BLOCK);

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (s === undefined) throw new CryptoError('invalid-argument', 'WebCrypto is not available here');
  return s;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function copy(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes);
}

/** Chunked CBC encryption; `key` must allow "encrypt". */
export function webCbcEncryptor(key: Promise<CryptoKey>, iv: Uint8Array): StreamingCipher {
  let chain = copy(iv);
  let pending: Uint8Array = EMPTY;
  return {
    async update(chunk) {
      const data = concat(pending, chunk);
      const whole = data.length - (data.length % BLOCK);
      pending = data.slice(whole);
      if (whole === 0) return EMPTY;
      const out = new Uint8Array(
        await subtle().encrypt({ name: 'AES-CBC', iv: chain }, await key, data.subarray(0, whole)),
      );
      // WebCrypto padded the aligned chunk with one more block; the stream
      // continues instead, so that block is dropped.
      const body = out.subarray(0, whole);
      chain = body.slice(whole - BLOCK);
      return body;
    },
    async final() {
      return new Uint8Array(
        await subtle().encrypt({ name: 'AES-CBC', iv: chain }, await key, copy(pending)),
      );
    },
  };
}

/**
 * Chunked CBC decryption; `key` must allow "encrypt" and "decrypt". The last
 * block is always held back for `final`, which alone checks the padding. An
 * intermediate chunk gets a crafted extra block that decrypts to a full
 * padding block, so WebCrypto's padding check passes and strips just it.
 */
export function webCbcDecryptor(key: Promise<CryptoKey>, iv: Uint8Array): StreamingCipher {
  let chain = copy(iv);
  let pending: Uint8Array = EMPTY;
  return {
    async update(chunk) {
      const data = concat(pending, chunk);
      const rest = data.length % BLOCK;
      const whole = data.length - (rest === 0 ? BLOCK : rest);
      if (whole <= 0) {
        pending = data;
        return EMPTY;
      }
      pending = data.slice(whole);
      const body = data.subarray(0, whole);
      const last = body.slice(whole - BLOCK);
      const cryptoKey = await key;
      // E(FULL_PAD ⊕ last): after `last` it decrypts to FULL_PAD.
      const filler = new Uint8Array(
        await subtle().encrypt({ name: 'AES-CBC', iv: last }, cryptoKey, FULL_PAD),
      ).subarray(0, BLOCK);
      const out = new Uint8Array(
        await subtle().decrypt({ name: 'AES-CBC', iv: chain }, cryptoKey, concat(body, filler)),
      );
      chain = last;
      return out;
    },
    async final() {
      if (pending.length !== BLOCK) {
        throw new CryptoError('decrypt-failed', 'CBC ciphertext is not a whole number of blocks');
      }
      try {
        return new Uint8Array(
          await subtle().decrypt({ name: 'AES-CBC', iv: chain }, await key, copy(pending)),
        );
      } catch {
        // One undetailed error for every padding failure (no padding oracle).
        throw new CryptoError('decrypt-failed', 'CBC padding check failed');
      }
    },
  };
}

export function nobleHmacSha256(key: Uint8Array): StreamingDigest {
  const mac = hmac.create(sha256, key);
  return { update: (chunk) => void mac.update(chunk), digest: () => mac.digest() };
}

export function nobleSha256(): StreamingDigest {
  const hash = sha256.create();
  return { update: (chunk) => void hash.update(chunk), digest: () => hash.digest() };
}
