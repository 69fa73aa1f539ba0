/**
 * The history archive's compressor in Node: raw deflate from node:zlib,
 * streamed (the client core stays pure and takes it as a `Compressor`).
 */
import { Readable, pipeline } from 'node:stream';
import { createDeflateRaw, createInflateRaw, type DeflateRaw, type InflateRaw } from 'node:zlib';
import type { Compressor } from '../core/history/archive-format.js';

async function* through(
  input: AsyncIterable<Uint8Array>,
  transform: DeflateRaw | InflateRaw,
): AsyncIterable<Uint8Array> {
  // pipeline destroys the transform with the source's error, so a failing
  // download surfaces here instead of hanging the consumer.
  pipeline(Readable.from(input), transform, () => undefined);
  for await (const chunk of transform) {
    const buffer = chunk as Buffer;
    yield new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }
}

/** Raw deflate (RFC 1951), the same format as `CompressionStream('deflate-raw')`. */
export const zlibCompressor: Compressor = {
  compress: (input) => through(input, createDeflateRaw({ level: 6 })),
  decompress: (input) => through(input, createInflateRaw()),
};
