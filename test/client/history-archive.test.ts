/**
 * The history archive format (client/core/history/archive-format.ts): round
 * trip through the real compressor and crypto, and refusal of a changed
 * byte, a wrong key, a cut, reordered frames and trailing data.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decodeRecords,
  decryptArchive,
  encodeRecords,
  encryptArchive,
  HashingTap,
  type ArchiveItem,
} from '../../src/client/core/history/archive-format.js';
import { HistoryError } from '../../src/client/core/history/errors.js';
import { zlibCompressor } from '../../src/client/platform/zlib-compressor.js';
import { nodeCrypto } from '../../src/crypto/node.js';

const crypto = nodeCrypto;

function item(i: number, text = `message ${i} ${'x'.repeat(i % 50)}`): ArchiveItem {
  const id = new Uint8Array(16);
  new DataView(id.buffer).setUint32(0, i);
  return {
    message: {
      id,
      chat: i % 3 === 0 ? 'bob' : '0b7c6f3e-1111-4222-8333-944445555666',
      sender: i % 2 === 0 ? 'alice' : 'bob',
      senderDevice: 1 + (i % 2),
      text,
      sentAt: 1_700_000_000_000 + i * 1000,
      receivedAt: i % 2 === 0 ? 0 : 1_700_000_000_500 + i * 1000,
      outgoing: i % 2 === 0,
      receipts: i % 2 === 0 ? { 'bob.1': 'read' } : {},
    },
    readAt: i % 5 === 0 ? 1_700_000_100_000 + i : 0,
  };
}

async function* from<T>(values: readonly T[]): AsyncIterable<T> {
  yield* values;
}

async function collect<T>(input: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const value of input) out.push(value);
  return out;
}

function joined(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

async function build(items: readonly ArchiveItem[], key: Uint8Array): Promise<Uint8Array> {
  const frames = await collect(
    encryptArchive(crypto, key, zlibCompressor.compress(encodeRecords(from(items)))),
  );
  return joined(frames);
}

/** Opens `blob` fed in pieces of `piece` bytes. */
async function open(blob: Uint8Array, key: Uint8Array, piece = 7919): Promise<ArchiveItem[]> {
  const pieces: Uint8Array[] = [];
  for (let at = 0; at < blob.length; at += piece) pieces.push(blob.slice(at, at + piece));
  return collect(
    decodeRecords(zlibCompressor.decompress(decryptArchive(crypto, key, from(pieces)))),
  );
}

// Enough text that the compressed stream spans several 64 KiB frames.
const many = Array.from({ length: 6000 }, (_, i) =>
  item(i, `${i} ${crypto.randomBytes(24).toString()}`),
);

describe('history archive format', () => {
  it('round-trips messages, receipts and read marks across frames and pieces', async () => {
    const key = crypto.randomBytes(32);
    const blob = await build(many, key);
    assert.ok(blob.length > 3 * 64 * 1024, 'several frames');
    const back = await open(blob, key);
    assert.equal(back.length, many.length);
    assert.deepEqual(back, many);
  });

  it('round-trips any messages (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(100_000), fc.string({ maxLength: 300 })), { maxLength: 40 }),
        fc.integer({ min: 1, max: 5000 }),
        async (rows, piece) => {
          const items = rows.map(([i, text]) => item(i, text));
          const key = crypto.randomBytes(32);
          assert.deepEqual(await open(await build(items, key), key, piece), items);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('refuses any changed byte with bad-mac (or corrupt for the framing itself)', async () => {
    const key = crypto.randomBytes(32);
    const blob = await build(many.slice(0, 300), key);
    for (const at of [0, 4, 5, 100, Math.floor(blob.length / 2), blob.length - 1]) {
      const tampered = blob.slice();
      tampered[at] = (tampered[at] ?? 0) ^ 0x01;
      await assert.rejects(
        open(tampered, key),
        (error) => HistoryError.is(error) && ['bad-mac', 'corrupt'].includes(error.code),
      );
    }
  });

  it('refuses a wrong key before releasing anything', async () => {
    const blob = await build(many.slice(0, 50), crypto.randomBytes(32));
    let released = 0;
    await assert.rejects(
      (async () => {
        for await (const piece of decryptArchive(crypto, crypto.randomBytes(32), from([blob]))) {
          released += piece.length;
        }
      })(),
      (error) => HistoryError.is(error, 'bad-mac'),
    );
    assert.equal(released, 0);
  });

  it('refuses a truncated archive, at a frame boundary or inside one', async () => {
    const key = crypto.randomBytes(32);
    const blob = await build(many, key);
    // Frame boundaries: walk the length fields.
    const boundaries: number[] = [];
    let at = 4;
    while (at < blob.length) {
      const field = new DataView(blob.buffer, blob.byteOffset + at, 4).getUint32(0, false);
      at += 4 + (field & 0x7fffffff) + 32;
      boundaries.push(at);
    }
    assert.ok(boundaries.length >= 3);
    for (const cut of [boundaries[0] ?? 0, boundaries[1] ?? 0, 4, blob.length - 10]) {
      await assert.rejects(open(blob.slice(0, cut), key), (error) =>
        HistoryError.is(error, 'truncated'),
      );
    }
    // Frames swapped: the index under the MAC refuses it.
    const first = blob.slice(4, boundaries[0]);
    const second = blob.slice(boundaries[0], boundaries[1]);
    const swapped = joined([blob.slice(0, 4), second, first, blob.slice(boundaries[1])]);
    await assert.rejects(open(swapped, key), (error) => HistoryError.is(error, 'bad-mac'));
    // Data after the final frame.
    await assert.rejects(open(joined([blob, blob.slice(4, 60)]), key), (error) =>
      HistoryError.is(error, 'corrupt'),
    );
  });

  it('hashes what passes through', async () => {
    const tap = new HashingTap();
    const data = crypto.randomBytes(100_000);
    await collect(tap.tap(from([data.subarray(0, 10), data.subarray(10)])));
    assert.equal(tap.bytes, data.length);
    assert.deepEqual(tap.digest(), await crypto.sha256(data));
  });
});
