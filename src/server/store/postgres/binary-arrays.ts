/**
 * One-dimensional `int4[]`, `int8[]` and `text[]` parameters in PostgreSQL's
 * binary array format, so the queue batch (queue-batch.ts) sends its ~30
 * arrays as Buffers — which node-postgres passes in binary, as they are —
 * instead of as text literals. The text path built every array by string
 * concatenation with a regular-expression escape per element, and
 * PostgreSQL parsed each one back (`array_in`, then `int4in`/`int8in` per
 * element): a measurable share of both the node's and the backend's CPU
 * per batch (docs/operations.md, "Capacity, measured").
 *
 * Layout (PostgreSQL's `array_send`/`array_recv`, all integers big-endian):
 * number of dimensions (0 for an empty array, else 1), a has-nulls flag,
 * the element type's OID; for one dimension its length and lower bound
 * (1); then each element as a 32-bit length (−1 for NULL) and its bytes.
 * `array_recv` refuses an element type other than the parameter's, so a
 * parameter must be cast to exactly the matching type (`$n::int[]`,
 * `$n::bigint[]`, `$n::text[]`).
 */

/** OIDs of the element types (PostgreSQL's pg_type.dat; fixed since 7.x). */
const INT4_OID = 23;
const INT8_OID = 20;
const TEXT_OID = 25;

const TWO_TO_32 = 0x1_0000_0000;

/** Header bytes: dimensions, flags, element type, and for one dimension its length and bound. */
function headerSize(length: number): number {
  return length === 0 ? 12 : 20;
}

function writeHeader(out: Buffer, length: number, hasNull: boolean, oid: number): number {
  out.writeInt32BE(length === 0 ? 0 : 1, 0);
  out.writeInt32BE(hasNull ? 1 : 0, 4);
  out.writeInt32BE(oid, 8);
  if (length === 0) return 12;
  out.writeInt32BE(length, 12);
  out.writeInt32BE(1, 16);
  return 20;
}

/**
 * An array of fixed-width integers: `width` bytes each, written by `write`
 * (which refuses a value its type cannot hold); NULLs as length −1.
 */
function integerArray(
  values: readonly (number | null)[],
  oid: number,
  width: number,
  write: (out: Buffer, value: number, at: number) => number,
): Buffer {
  const out = Buffer.allocUnsafe(headerSize(values.length) + values.length * (4 + width));
  let hasNull = false;
  let at = headerSize(values.length);
  for (const value of values) {
    if (value === null) {
      hasNull = true;
      at = out.writeInt32BE(-1, at);
      continue;
    }
    at = write(out, value, out.writeInt32BE(width, at));
  }
  writeHeader(out, values.length, hasNull, oid);
  return out.subarray(0, at);
}

function writeInt4(out: Buffer, value: number, at: number): number {
  // A caller's bug surfaces here rather than as a value written wrapped
  // or truncated (writeInt32BE checks the range, not that it is whole).
  if (!Number.isInteger(value)) throw new RangeError(`not an integer: ${value}`);
  return out.writeInt32BE(value, at);
}

function writeInt8(out: Buffer, value: number, at: number): number {
  if (!Number.isSafeInteger(value)) throw new RangeError(`not a safe integer: ${value}`);
  // Two's complement in two halves: floor keeps the high half right for
  // negative values, and the low half is then always in [0, 2^32).
  const high = Math.floor(value / TWO_TO_32);
  return out.writeUInt32BE(value - high * TWO_TO_32, out.writeInt32BE(high, at));
}

/** An `int4[]` parameter; every value must be a 32-bit integer (or null). */
export function int4Array(values: readonly (number | null)[]): Buffer {
  return integerArray(values, INT4_OID, 4, writeInt4);
}

/** An `int8[]` parameter; every value must be a safe integer (or null). */
export function int8Array(values: readonly (number | null)[]): Buffer {
  return integerArray(values, INT8_OID, 8, writeInt8);
}

/** A `text[]` parameter (UTF-8; strings must not contain NUL, which text cannot hold). */
export function textArray(values: readonly string[]): Buffer {
  let size = headerSize(values.length);
  for (const value of values) size += 4 + Buffer.byteLength(value, 'utf8');
  const out = Buffer.allocUnsafe(size);
  let at = writeHeader(out, values.length, false, TEXT_OID);
  for (const value of values) {
    const length = out.write(value, at + 4, 'utf8');
    out.writeInt32BE(length, at);
    at += 4 + length;
  }
  return out;
}
