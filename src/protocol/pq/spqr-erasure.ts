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

/**
 * Per point count n: the barycentric weights w_j = 1 / ∏_{m≠j} (j ⊕ m) of
 * the points x = 0 … n−1, as discrete logs. They depend on n only, and a
 * message has just two counts (⌊N/16⌋ and one more), so they are computed
 * once per count and kept (at most 2^12 + 1 counts, each n entries).
 */
const weightLogs = new Map<number, Uint16Array>();

function weightLogsFor(count: number): Uint16Array {
  let logs = weightLogs.get(count);
  if (logs !== undefined) return logs;
  const t = gfTables();
  logs = new Uint16Array(count);
  for (let j = 0; j < count; j++) {
    let denominator = 1;
    for (let m = 0; m < count; m++) if (m !== j) denominator = gfMul(denominator, j ^ m);
    // log(1 / d) = −log d (mod 65535); d ≠ 0 since the x are distinct.
    logs[j] = (65535 - (t.log[denominator] ?? 0)) % 65535;
  }
  weightLogs.set(count, logs);
  return logs;
}

/**
 * The value at `x` (≥ `count`) of polynomial `poly` of `message`, whose
 * points are x = 0 … count−1: Lagrange's formula in barycentric form,
 *   L(x) = ∏_m (x ⊕ m) · Σ_j y_j · w_j / (x ⊕ j),
 * the same field value as `evaluate` in O(count) products instead of
 * O(count²) (parity chunks of an 1152-byte key have 36 points per polynomial).
 */
function evaluateParity(
  message: Uint8Array,
  poly: number,
  count: number,
  x: number,
  numeratorLog: number,
): number {
  const t = gfTables();
  const weights = weightLogsFor(count);
  let sum = 0;
  for (let j = 0; j < count; j++) {
    const at = 2 * (j * POLYS + poly);
    const y = ((message[at] ?? 0) << 8) | (message[at + 1] ?? 0);
    if (y === 0) continue;
    // x ⊕ j ≠ 0: x ≥ count > j.
    const logTerm =
      (t.log[y] ?? 0) + (weights[j] ?? 0) + 65535 - (t.log[x ^ j] ?? 0) + numeratorLog;
    sum ^= t.exp[logTerm % 65535] ?? 0;
  }
  return sum;
}

/** log ∏_{m<count} (x ⊕ m), for x ≥ count (every factor is non-zero). */
function numeratorLogOf(count: number, x: number): number {
  const t = gfTables();
  let log = 0;
  for (let m = 0; m < count; m++) log = (log + (t.log[x ^ m] ?? 0)) % 65535;
  return log;
}

/**
 * Chunk `index` of `message` (spqr `PolyEncoder::chunk_at`). A polynomial
 * with a point at x = `index` gives that point's bytes straight from the
 * message; the others are interpolated (see `evaluateParity`).
 */
export function encodeChunk(message: Uint8Array, index: number): SpqrChunk {
  if (!Number.isInteger(index) || index < 0 || index > 0xffff) {
    throw new RangeError('SPQR chunk index must be in 0..65535');
  }
  if (message.length % 2 !== 0) throw new RangeError('SPQR messages have an even length');
  if (message.length > MAX_MESSAGE_BYTES) throw new RangeError('SPQR message too long');
  const values = message.length / 2;
  const data = new Uint8Array(SPQR_CHUNK_LENGTH);
  // Polynomials hold ⌊N/16⌋ or ⌊N/16⌋ + 1 points: one numerator per count.
  let numeratorCount = -1;
  let numeratorLog = 0;
  for (let p = 0; p < POLYS; p++) {
    const count = neededPoints(values, p);
    let hi: number;
    let lo: number;
    if (index < count) {
      const at = 2 * (index * POLYS + p);
      hi = message[at] ?? 0;
      lo = message[at + 1] ?? 0;
    } else if (count === 0) {
      hi = 0;
      lo = 0;
    } else {
      if (count !== numeratorCount) {
        numeratorCount = count;
        numeratorLog = numeratorLogOf(count, index);
      }
      const y = evaluateParity(message, p, count, index, numeratorLog);
      hi = y >>> 8;
      lo = y & 0xff;
    }
    data[2 * p] = hi;
    data[2 * p + 1] = lo;
  }
  return { index, data };
}

/** Collects chunks of a message of known length until it can be rebuilt. */
export class SpqrChunkDecoder {
  readonly #values: number;
  /**
   * The systematic points: value i (polynomial i mod 16, x = ⌊i / 16⌋) at
   * index i, or −1 while missing. Typed storage, not a map per polynomial:
   * a session rebuilds its decoder from the stored chunks on every message.
   */
  readonly #known: Int32Array;
  /** How many points at x < needed each polynomial holds. */
  readonly #knownCount = new Uint16Array(POLYS);
  /** Per polynomial, the points at x ≥ needed (parity), in arrival order. */
  readonly #extra: Array<Pt[] | undefined> = new Array<Pt[] | undefined>(POLYS).fill(undefined);

  constructor(readonly lengthBytes: number) {
    if (!Number.isInteger(lengthBytes) || lengthBytes <= 0 || lengthBytes % 2 !== 0) {
      throw new RangeError('SPQR messages have a positive even length');
    }
    if (lengthBytes > MAX_MESSAGE_BYTES) throw new RangeError('SPQR message too long');
    this.#values = lengthBytes / 2;
    this.#known = new Int32Array(this.#values).fill(-1);
  }

  #size(p: number): number {
    return (this.#knownCount[p] ?? 0) + (this.#extra[p]?.length ?? 0);
  }

  /**
   * Adds a chunk; chunks may repeat, arrive in any order, or never arrive.
   * Returns whether it changed the decoder (a caller that persists the
   * decoder keeps exactly the chunks that did). The first point received
   * for an x is kept.
   */
  add(chunk: SpqrChunk): boolean {
    if (chunk.data.length !== SPQR_CHUNK_LENGTH) {
      throw new ProtocolError('invalid-message', 'SPQR chunk must be 32 bytes');
    }
    const x = chunk.index;
    let changed = false;
    for (let p = 0; p < POLYS; p++) {
      const needed = neededPoints(this.#values, p);
      const y = ((chunk.data[2 * p] ?? 0) << 8) | (chunk.data[2 * p + 1] ?? 0);
      if (x < needed) {
        const at = x * POLYS + p;
        if ((this.#known[at] ?? -1) >= 0) continue;
        this.#known[at] = y;
        this.#knownCount[p] = (this.#knownCount[p] ?? 0) + 1;
        changed = true;
        continue;
      }
      // The bound on what is kept: a peer sending thousands of parity
      // chunks makes us store at most `needed` points per polynomial plus
      // the systematic ones.
      if (this.#size(p) >= needed) continue;
      const extra = (this.#extra[p] ??= []);
      if (extra.some((pt) => pt.x === x)) continue;
      extra.push({ x, y });
      changed = true;
    }
    return changed;
  }

  /** The message once enough chunks are in, else undefined. */
  decoded(): Uint8Array | undefined {
    // Called after every chunk while a message streams in: say "not yet"
    // from the counts alone, before building anything.
    for (let p = 0; p < POLYS; p++) {
      if (this.#size(p) < neededPoints(this.#values, p)) return undefined;
    }
    const bases: Pt[][] = [];
    for (let p = 0; p < POLYS; p++) {
      const needed = neededPoints(this.#values, p);
      // Every point at x < needed is in: every value of this polynomial is
      // a known point, so no interpolation base is built.
      if ((this.#knownCount[p] ?? 0) === needed) {
        bases.push([]);
        continue;
      }
      // The `needed` lowest-x points: the systematic ones we have (x
      // ascending), then parity points by x.
      const base: Pt[] = [];
      for (let x = 0; x < needed; x++) {
        const y = this.#known[x * POLYS + p] ?? -1;
        if (y >= 0) base.push({ x, y });
      }
      const extra = [...(this.#extra[p] ?? [])].sort((l, r) => l.x - r.x);
      bases.push(base.concat(extra).slice(0, needed));
    }
    const out = new Uint8Array(this.#values * 2);
    for (let i = 0; i < this.#values; i++) {
      const known = this.#known[i] ?? -1;
      const y = known >= 0 ? known : evaluate(bases[i % POLYS] ?? [], Math.floor(i / POLYS));
      out[2 * i] = y >>> 8;
      out[2 * i + 1] = y & 0xff;
    }
    return out;
  }
}
