/**
 * The history archive's byte format (docs/history.md, docs/protocol.md):
 *
 *   plaintext  = (varint length || ArchivedMessageRecord)*
 *   compressed = the plaintext through the injected compressor (raw deflate)
 *   blob       = "QHA1" || frame*
 *   frame      = u32be (length | FINAL bit) || AES-256-CBC(encKey, iv_i, chunk)
 *                || HMAC-SHA256(macKey, "QHA1" || u32be i || u32be lengthField
 *                                        || ciphertext)
 *
 * with encKey || macKey || ivKey = HKDF-SHA256(archive key, salt = empty,
 * info = "Quintet History Archive v1", 96) and iv_i = HMAC(ivKey, u32be i)
 * truncated to 16 bytes. Framing in independent chunks keeps both ends
 * streaming with one-shot primitives: nothing is imported before the chunk
 * holding it verified. The index in the MAC stops reordering or dropping a
 * chunk in the middle, and the FINAL bit (also under the MAC) stops cutting
 * the archive after a whole chunk: a stream that ends without a verified
 * final frame is refused as truncated.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { sha256 } from '@noble/hashes/sha2.js';
import {
  ArchivedMessageRecordSchema,
  StoredMessageRecordSchema,
} from '../../../gen/quintet/v1/client_store_pb.js';
import type { CryptoProvider } from '../../../crypto/provider.js';
import { decodeStoredMessage, encodeStoredMessage, type StoredMessage } from '../store/records.js';
import { HistoryError } from './errors.js';

/** Compression injected by the host (node:zlib, or CompressionStream in a browser). */
export interface Compressor {
  compress(input: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array>;
  decompress(input: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array>;
}

/** One archived message and when it was read on the primary (0: unread). */
export interface ArchiveItem {
  readonly message: StoredMessage;
  readonly readAt: number;
}

/** HKDF info of the archive keys; named in docs/protocol.md. */
export const ARCHIVE_INFO = 'Quintet History Archive v1';
const MAGIC = new TextEncoder().encode('QHA1');
const FINAL = 0x8000_0000;
/** Plaintext (compressed) bytes per frame. */
export const FRAME_PLAINTEXT = 64 * 1024;
const MAC_LENGTH = 32;
/** A frame can never be larger than a padded full chunk. */
const MAX_FRAME_CIPHERTEXT = FRAME_PLAINTEXT + 16;
/** Plaintext records are batched into pieces of about this size. */
const RECORD_BATCH = 64 * 1024;

interface ArchiveKeys {
  readonly enc: Uint8Array;
  readonly mac: Uint8Array;
  readonly iv: Uint8Array;
}

async function deriveKeys(crypto: CryptoProvider, key: Uint8Array): Promise<ArchiveKeys> {
  if (key.length !== 32) throw new HistoryError('bad-key', 'the archive key must be 32 bytes');
  const okm = await crypto.hkdfSha256(
    key,
    new Uint8Array(0),
    new TextEncoder().encode(ARCHIVE_INFO),
    96,
  );
  return { enc: okm.slice(0, 32), mac: okm.slice(32, 64), iv: okm.slice(64, 96) };
}

function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value >>> 0, false);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

async function frameIv(crypto: CryptoProvider, keys: ArchiveKeys, index: number) {
  return (await crypto.hmacSha256(keys.iv, u32(index))).slice(0, 16);
}

async function frameMac(
  crypto: CryptoProvider,
  keys: ArchiveKeys,
  index: number,
  lengthField: number,
  ciphertext: Uint8Array,
): Promise<Uint8Array> {
  return crypto.hmacSha256(keys.mac, concat([MAGIC, u32(index), u32(lengthField), ciphertext]));
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

function varint(value: number): Uint8Array {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return new Uint8Array(out);
}

/** Serializes archive items as length-delimited records, in pieces of ~64 KiB. */
export async function* encodeRecords(items: AsyncIterable<ArchiveItem>): AsyncIterable<Uint8Array> {
  let parts: Uint8Array[] = [];
  let size = 0;
  for await (const item of items) {
    const record = toBinary(
      ArchivedMessageRecordSchema,
      create(ArchivedMessageRecordSchema, {
        message: fromBinary(StoredMessageRecordSchema, encodeStoredMessage(item.message)),
        readAt: BigInt(Math.max(0, Math.floor(item.readAt))),
      }),
    );
    parts.push(varint(record.length), record);
    size += record.length + 5;
    if (size >= RECORD_BATCH) {
      yield concat(parts);
      parts = [];
      size = 0;
    }
  }
  if (parts.length > 0) yield concat(parts);
}

/** Parses length-delimited records back, across piece boundaries. */
export async function* decodeRecords(
  pieces: AsyncIterable<Uint8Array>,
): AsyncIterable<ArchiveItem> {
  let buffer: Uint8Array = new Uint8Array(0);
  for await (const piece of pieces) {
    buffer = buffer.length === 0 ? piece : concat([buffer, piece]);
    let at = 0;
    for (;;) {
      let length = 0;
      let shift = 1;
      let p = at;
      let complete = false;
      while (p < buffer.length) {
        const byte = buffer[p++] ?? 0;
        length += (byte & 0x7f) * shift;
        shift *= 128;
        if ((byte & 0x80) === 0) {
          complete = true;
          break;
        }
        if (shift > 2 ** 35) throw new HistoryError('corrupt', 'an archive record is malformed');
      }
      if (!complete || p + length > buffer.length) break;
      yield parseItem(buffer.subarray(p, p + length));
      at = p + length;
    }
    buffer = buffer.slice(at);
  }
  if (buffer.length > 0) throw new HistoryError('truncated', 'the archive ends inside a record');
}

function parseItem(bytes: Uint8Array): ArchiveItem {
  try {
    const record = fromBinary(ArchivedMessageRecordSchema, bytes);
    if (record.message === undefined) throw new Error('no message');
    const message = decodeStoredMessage(toBinary(StoredMessageRecordSchema, record.message));
    if (message.id.length !== 16 || message.chat === '') throw new Error('bad message');
    return { message, readAt: Number(record.readAt) };
  } catch (error) {
    throw new HistoryError('corrupt', 'an archive record does not parse', { cause: error });
  }
}

/** Re-chunks a byte stream into pieces of exactly `size` bytes (the last may be shorter). */
async function* rechunk(input: AsyncIterable<Uint8Array>, size: number): AsyncIterable<Uint8Array> {
  let parts: Uint8Array[] = [];
  let held = 0;
  for await (const piece of input) {
    let rest = piece;
    while (held + rest.length >= size) {
      const take = size - held;
      parts.push(rest.subarray(0, take));
      yield concat(parts);
      parts = [];
      held = 0;
      rest = rest.subarray(take);
    }
    if (rest.length > 0) {
      parts.push(rest.slice());
      held += rest.length;
    }
  }
  if (held > 0) yield concat(parts);
}

/** Encrypts a compressed stream into archive frames (the blob's bytes, in order). */
export async function* encryptArchive(
  crypto: CryptoProvider,
  key: Uint8Array,
  compressed: AsyncIterable<Uint8Array>,
): AsyncIterable<Uint8Array> {
  const keys = await deriveKeys(crypto, key);
  yield MAGIC.slice();
  let index = 0;
  let pending: Uint8Array | undefined;
  const emit = async (chunk: Uint8Array, final: boolean): Promise<Uint8Array> => {
    const ciphertext = await crypto.aes256CbcEncrypt(
      keys.enc,
      await frameIv(crypto, keys, index),
      chunk,
    );
    const lengthField = (ciphertext.length | (final ? FINAL : 0)) >>> 0;
    const mac = await frameMac(crypto, keys, index, lengthField, ciphertext);
    index++;
    return concat([u32(lengthField), ciphertext, mac]);
  };
  // One chunk of look-ahead: the last chunk must carry the FINAL bit.
  for await (const chunk of rechunk(compressed, FRAME_PLAINTEXT)) {
    if (pending !== undefined) yield await emit(pending, false);
    pending = chunk;
  }
  yield await emit(pending ?? new Uint8Array(0), true);
}

/**
 * Verifies and decrypts archive frames (each before it is released), and
 * refuses a stream that stops before its final frame or goes on after it.
 */
export async function* decryptArchive(
  crypto: CryptoProvider,
  key: Uint8Array,
  blob: AsyncIterable<Uint8Array>,
): AsyncIterable<Uint8Array> {
  const keys = await deriveKeys(crypto, key);
  let buffer: Uint8Array = new Uint8Array(0);
  let magicSeen = false;
  let index = 0;
  let finished = false;
  for await (const piece of blob) {
    buffer = buffer.length === 0 ? piece : concat([buffer, piece]);
    if (!magicSeen) {
      if (buffer.length < MAGIC.length) continue;
      if (!equalBytes(buffer.subarray(0, MAGIC.length), MAGIC)) {
        throw new HistoryError('corrupt', 'this is not a history archive');
      }
      buffer = buffer.slice(MAGIC.length);
      magicSeen = true;
    }
    for (;;) {
      if (buffer.length === 0) break;
      if (finished) throw new HistoryError('corrupt', 'the archive has data after its end');
      if (buffer.length < 4) break;
      const lengthField = new DataView(buffer.buffer, buffer.byteOffset, 4).getUint32(0, false);
      const length = lengthField & ~FINAL;
      if (length > MAX_FRAME_CIPHERTEXT || length % 16 !== 0 || length === 0) {
        throw new HistoryError('corrupt', 'an archive frame has an impossible length');
      }
      if (buffer.length < 4 + length + MAC_LENGTH) break;
      const ciphertext = buffer.slice(4, 4 + length);
      const mac = buffer.subarray(4 + length, 4 + length + MAC_LENGTH);
      const expected = await frameMac(crypto, keys, index, lengthField, ciphertext);
      if (!equalBytes(mac, expected)) {
        // Either a changed byte or a key that is not the archive's: both are
        // refused the same way, before anything from the frame is used.
        throw new HistoryError(
          'bad-mac',
          'the archive does not authenticate (tampered, or the wrong key)',
        );
      }
      const plaintext = await crypto.aes256CbcDecrypt(
        keys.enc,
        await frameIv(crypto, keys, index),
        ciphertext,
      );
      buffer = buffer.slice(4 + length + MAC_LENGTH);
      index++;
      finished = (lengthField & FINAL) !== 0;
      if (plaintext.length > 0) yield plaintext;
    }
  }
  if (!finished) throw new HistoryError('truncated', 'the archive is cut short');
}

/** Passes a stream through while hashing it; `digest()` once it has ended. */
export class HashingTap {
  readonly #hash = sha256.create();
  #bytes = 0;

  async *tap(input: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
    for await (const piece of input) {
      this.#hash.update(piece);
      this.#bytes += piece.length;
      yield piece;
    }
  }

  get bytes(): number {
    return this.#bytes;
  }

  digest(): Uint8Array {
    return this.#hash.digest();
  }
}
