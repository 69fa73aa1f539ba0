/**
 * SPQR's erasure code (crate `spqr`, `src/encoding/polynomial.rs`, `gf.rs`):
 * how a header, an encapsulation key or a ciphertext travels as 32-byte
 * chunks so that any large-enough set of chunks, in any order, rebuilds it.
 *
 * - Field: GF(2^16) with the reduction polynomial x^16 + x^12 + x^3 + x + 1
 *   (0x1100B); addition is XOR.
 * - A message of `len` bytes (even) is read as `len / 2` big-endian 16-bit
 *   values; value `i` is the point (x = ⌊i / 16⌋, y) of polynomial `i mod 16`.
 *   Polynomial `p` thus holds `needed(p)` points at x = 0, 1, …: ⌊N/16⌋,
 *   plus one when `p < N mod 16` (N = len / 2).
 * - Chunk `k` holds, for p = 0..15, polynomial p (the interpolation of its
 *   points) evaluated at x = k, big-endian: chunks below ⌈N/16⌉ are the
 *   message itself (systematic), later ones are parity.
 * - A receiver keeps, per polynomial, points at x < needed(p) and any other
 *   point while it has fewer than needed(p); once every polynomial has
 *   needed(p) points it interpolates from the lowest-x ones.
 *
 * Pure and deterministic: no randomness, no I/O.
 */
import { ProtocolError } from '../errors.js';
import { SPQR_CHUNK_LENGTH, type SpqrChunk } from './spqr-message.js';

const REDUCTION = 0x1100b;
const POLYS = 16;
/** spqr refuses messages over 2^16 points per polynomial. */
const MAX_MESSAGE_BYTES = (1 << 16) * POLYS;

/**
 * Log/antilog tables of GF(2^16) over the generator x (2 is primitive for
 * 0x1100B: its powers have period 65535), built on first use. `exp` is
 * doubled so a product needs no reduction of the exponent sum. 384 KB, and
 * a product costs two lookups instead of a 32-step shift-and-reduce: parity
 * chunks (a sender ahead of a slow peer) interpolate thousands of products.
 */
let tables: { readonly exp: Uint16Array; readonly log: Uint16Array } | undefined;

function gfTables(): { readonly exp: Uint16Array; readonly log: Uint16Array } {
  if (tables !== undefined) return tables;
  const exp = new Uint16Array(2 * 65535);
  const log = new Uint16Array(65536);
  let x = 1;
  for (let i = 0; i < 65535; i++) {
    exp[i] = x;
    exp[i + 65535] = x;
    log[x] = i;
    x <<= 1;
    if (x & 0x10000) x ^= REDUCTION;
  }
  tables = { exp, log };
  return tables;
}

/** GF(2^16) product (carry-less multiplication reduced by 0x1100B). */
export function gfMul(a: number, b: number): number {
  if (a === 0 || b === 0) return 0;
  const t = gfTables();
  return t.exp[(t.log[a] ?? 0) + (t.log[b] ?? 0)] ?? 0;
}

/** GF(2^16) inverse. 0 has none. */
export function gfInv(a: number): number {
  if (a === 0) throw new RangeError('0 has no inverse in GF(2^16)');
  const t = gfTables();
  return t.exp[65535 - (t.log[a] ?? 0)] ?? 0;
}

interface Pt {
  readonly x: number;
  readonly y: number;
}

/** The value at `x` of the polynomial through `pts` (distinct x), by Lagrange. */
function evaluate(pts: readonly Pt[], x: number): number {
  let sum = 0;
  for (const pi of pts) {
    let numerator = 1;
    let denominator = 1;
    for (const pj of pts) {
      if (pj.x === pi.x) continue;
      numerator = gfMul(numerator, x ^ pj.x);
      denominator = gfMul(denominator, pi.x ^ pj.x);
    }
    sum ^= gfMul(pi.y, gfMul(numerator, gfInv(denominator)));
  }
  return sum;
}

function neededPoints(values: number, poly: number): number {
  return Math.floor(values / POLYS) + (poly < values % POLYS ? 1 : 0);
}

/** Splits a message into its 16 polynomials' points (x = 0, 1, …). */
function pointsOf(message: Uint8Array): Pt[][] {
  if (message.length % 2 !== 0) throw new RangeError('SPQR messages have an even length');
  if (message.length > MAX_MESSAGE_BYTES) throw new RangeError('SPQR message too long');
  const pts: Pt[][] = Array.from({ length: POLYS }, () => []);
  for (let i = 0; i < message.length / 2; i++) {
    const y = ((message[2 * i] ?? 0) << 8) | (message[2 * i + 1] ?? 0);
    pts[i % POLYS]?.push({ x: Math.floor(i / POLYS), y });
  }
  return pts;
}

/** Chunk `index` of `message` (spqr `PolyEncoder::chunk_at`). */
export function encodeChunk(message: Uint8Array, index: number): SpqrChunk {
  if (!Number.isInteger(index) || index < 0 || index > 0xffff) {
    throw new RangeError('SPQR chunk index must be in 0..65535');
  }
  const pts = pointsOf(message);
  const data = new Uint8Array(SPQR_CHUNK_LENGTH);
  for (let p = 0; p < POLYS; p++) {
    const poly = pts[p] ?? [];
    const y = index < poly.length ? (poly[index]?.y ?? 0) : evaluate(poly, index);
    data[2 * p] = y >>> 8;
    data[2 * p + 1] = y & 0xff;
  }
  return { index, data };
}

/** Collects chunks of a message of known length until it can be rebuilt. */
export class SpqrChunkDecoder {
  readonly #values: number;
  /** Per polynomial: points by x (the first point received for an x is kept). */
  readonly #pts: Map<number, number>[] = Array.from(
    { length: POLYS },
    () => new Map<number, number>(),
  );

  constructor(readonly lengthBytes: number) {
    if (!Number.isInteger(lengthBytes) || lengthBytes <= 0 || lengthBytes % 2 !== 0) {
      throw new RangeError('SPQR messages have a positive even length');
    }
    if (lengthBytes > MAX_MESSAGE_BYTES) throw new RangeError('SPQR message too long');
    this.#values = lengthBytes / 2;
  }

  /**
   * Adds a chunk; chunks may repeat, arrive in any order, or never arrive.
   * Returns whether it changed the decoder (a caller that persists the
   * decoder keeps exactly the chunks that did).
   */
  add(chunk: SpqrChunk): boolean {
    if (chunk.data.length !== SPQR_CHUNK_LENGTH) {
      throw new ProtocolError('invalid-message', 'SPQR chunk must be 32 bytes');
    }
    let changed = false;
    for (let p = 0; p < POLYS; p++) {
      const pts = this.#pts[p];
      if (pts === undefined) continue;
      const needed = neededPoints(this.#values, p);
      // The bound on what is kept: a peer sending thousands of parity
      // chunks makes us store at most `needed` points per polynomial plus
      // the systematic ones.
      if (pts.has(chunk.index)) continue;
      if (chunk.index < needed || pts.size < needed) {
        pts.set(chunk.index, ((chunk.data[2 * p] ?? 0) << 8) | (chunk.data[2 * p + 1] ?? 0));
        changed = true;
      }
    }
    return changed;
  }

  /** The message once enough chunks are in, else undefined. */
  decoded(): Uint8Array | undefined {
    const bases: Pt[][] = [];
    for (let p = 0; p < POLYS; p++) {
      const needed = neededPoints(this.#values, p);
      const pts = [...(this.#pts[p] ?? new Map<number, number>())]
        .map(([x, y]) => ({ x, y }))
        .sort((a, b) => a.x - b.x);
      if (pts.length < needed) return undefined;
      bases.push(pts.slice(0, needed));
    }
    const out = new Uint8Array(this.#values * 2);
    for (let i = 0; i < this.#values; i++) {
      const p = i % POLYS;
      const x = Math.floor(i / POLYS);
      const known = this.#pts[p]?.get(x);
      const y = known ?? evaluate(bases[p] ?? [], x);
      out[2 * i] = y >>> 8;
      out[2 * i + 1] = y & 0xff;
    }
    return out;
  }
}
