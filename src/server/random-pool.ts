/**
 * Draws small random values (16-byte envelope guids) from a pre-filled
 * buffer: one call to the platform RNG per 4 KiB instead of one per
 * envelope, which showed up at several percent of server CPU.
 */
import type { RandomSource } from '../crypto/provider.js';

/** Wraps `source` with a refilling pool of `poolSize` bytes. */
export function pooledRandom(source: RandomSource, poolSize = 4096): RandomSource {
  let pool = source(poolSize);
  let offset = 0;
  return (length: number): Uint8Array => {
    if (length > poolSize) return source(length);
    if (offset + length > pool.length) {
      pool = source(poolSize);
      offset = 0;
    }
    // A view, not a copy: a copy is a backing store of its own per guid,
    // which the garbage collector tracks one by one. Callers never share
    // bytes — each view is a distinct range, and a used-up pool is replaced,
    // never refilled — but a view keeps its whole pool alive, so a caller
    // that keeps random bytes for long should copy them.
    const out = pool.subarray(offset, offset + length);
    offset += length;
    return out;
  };
}
