/**
 * Typed reads of `pg` result rows for the queue and group stores: a column
 * of the wrong type is a `StoreError('corrupt')`, never an `any` passed on.
 */
import { StoreError } from '../types.js';

/** One result row as `pg` returns it. */
export type PgRow = Record<string, unknown>;

function corrupt(column: string): StoreError {
  return new StoreError('corrupt', `column ${column} has an unexpected type`);
}

/** A bytea column as a fresh Uint8Array (callers may keep and change it). */
export function bytesOf(row: PgRow, column: string): Uint8Array {
  const value = row[column];
  if (!(value instanceof Uint8Array)) throw corrupt(column);
  return new Uint8Array(value);
}

/** A nullable bytea column. */
export function optionalBytesOf(row: PgRow, column: string): Uint8Array | undefined {
  return row[column] === null ? undefined : bytesOf(row, column);
}

/**
 * An integer column; bigint arrives as a string (pg's default, lossless),
 * and every value stored here is below 2^53.
 */
export function numberOf(row: PgRow, column: string): number {
  const value = row[column];
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw corrupt(column);
  return n;
}

export function textOf(row: PgRow, column: string): string {
  const value = row[column];
  if (typeof value !== 'string') throw corrupt(column);
  return value;
}

export function optionalTextOf(row: PgRow, column: string): string | undefined {
  return row[column] === null ? undefined : textOf(row, column);
}

export function booleanOf(row: PgRow, column: string): boolean {
  const value = row[column];
  if (typeof value !== 'boolean') throw corrupt(column);
  return value;
}
