/**
 * Typed access to node-postgres rows. `BIGINT` columns (ms timestamps,
 * counts) arrive as strings so no precision is silently lost; they are
 * converted here and refused when not a safe integer. A row of the wrong
 * shape is `StoreError('corrupt')`, not a crash somewhere downstream.
 */
import { StoreError } from '../types.js';

/** A row as returned by node-postgres. */
export type Row = Record<string, unknown>;

/** An integer column (`INTEGER` or `BIGINT`). */
export function int(row: Row, column: string): number {
  const value = row[column];
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && /^-?\d+$/.test(value)) {
    const n = Number(value);
    if (Number.isSafeInteger(n)) return n;
  }
  throw new StoreError('corrupt', `column ${column} is not an integer`);
}

/** A text column. */
export function text(row: Row, column: string): string {
  const value = row[column];
  if (typeof value === 'string') return value;
  throw new StoreError('corrupt', `column ${column} is not text`);
}

/** A bytea column, copied into a plain `Uint8Array` (not a Node Buffer, not shared). */
export function blob(row: Row, column: string): Uint8Array {
  const value = row[column];
  if (value instanceof Uint8Array) return new Uint8Array(value);
  throw new StoreError('corrupt', `column ${column} is not bytea`);
}

/** A nullable bytea column. */
export function optionalBlob(row: Row, column: string): Uint8Array | undefined {
  return row[column] === null ? undefined : blob(row, column);
}

/** A nullable text column. */
export function optionalText(row: Row, column: string): string | undefined {
  return row[column] === null ? undefined : text(row, column);
}

/** A boolean column. */
export function bool(row: Row, column: string): boolean {
  const value = row[column];
  if (typeof value === 'boolean') return value;
  throw new StoreError('corrupt', `column ${column} is not a boolean`);
}

/** Wraps bytes for binding as bytea without copying. */
export function bind(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
