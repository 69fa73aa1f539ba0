/**
 * Typed access to rows from better-sqlite3, which returns `unknown`. A row of
 * the wrong shape means local corruption (or a schema bug), reported as
 * `StoreError('corrupt')` instead of a crash somewhere downstream.
 */
import { StoreError } from '../types.js';

/** A row as returned by better-sqlite3. */
export type Row = Record<string, unknown>;

/** Narrows `value` to a row object. */
export function asRow(value: unknown): Row {
  if (typeof value !== 'object' || value === null) {
    throw new StoreError('corrupt', 'row is not an object');
  }
  return value as Row;
}

/** An integer column. */
export function int(row: Row, column: string): number {
  const value = row[column];
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'bigint') return Number(value);
  throw new StoreError('corrupt', `column ${column} is not an integer`);
}

/** A text column. */
export function text(row: Row, column: string): string {
  const value = row[column];
  if (typeof value === 'string') return value;
  throw new StoreError('corrupt', `column ${column} is not text`);
}

/** A blob column, copied into a plain `Uint8Array` (not a Node Buffer). */
export function blob(row: Row, column: string): Uint8Array {
  const value = row[column];
  if (value instanceof Uint8Array) return new Uint8Array(value);
  throw new StoreError('corrupt', `column ${column} is not a blob`);
}

/** Wraps bytes for binding as a blob without copying. */
export function bind(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
