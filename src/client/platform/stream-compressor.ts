/**
 * The history archive's compressor in a browser: `CompressionStream` with
 * raw deflate, the same bytes as the Node compressor (zlib-compressor.ts).
 */
import type { Compressor } from '../core/history/archive-format.js';

async function* through(
  input: AsyncIterable<Uint8Array>,
  transform: CompressionStream | DecompressionStream,
): AsyncIterable<Uint8Array> {
  const writer = transform.writable.getWriter();
  const feeding = (async () => {
    try {
      for await (const piece of input) await writer.write(new Uint8Array(piece));
      await writer.close();
    } catch (error) {
      await writer.abort(error);
      throw error;
    }
  })();
  const reader = transform.readable.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
  await feeding;
}

/** Raw deflate via the Compression Streams API. */
export const streamCompressor: Compressor = {
  compress: (input) => through(input, new CompressionStream('deflate-raw')),
  decompress: (input) => through(input, new DecompressionStream('deflate-raw')),
};
