/**
 * Maps `pg` failures of the queue and group stores to `StoreError` codes.
 *
 * A stand-in for the store-wide mapping (`errors.ts`, branch h/pgcore): the
 * same SQLSTATE classes, so the merge can point the callers at that module
 * and delete this one.
 */
import { StoreError } from '../types.js';

function sqlState(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  const code = error.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Whether `error` means the database went away rather than refused the
 * statement: the caller may retry on another connection or later.
 */
export function isConnectionLoss(error: unknown): boolean {
  const code = sqlState(error);
  if (code !== undefined) {
    // 08: connection exceptions; 57P01-57P03: admin/crash shutdown, cannot
    // connect now; 53300: too many connections.
    return (
      code.startsWith('08') ||
      code === '57P01' ||
      code === '57P02' ||
      code === '57P03' ||
      code === '53300' ||
      // Node socket errors surface with their errno code.
      code === 'ECONNREFUSED' ||
      code === 'ECONNRESET' ||
      code === 'EPIPE' ||
      code === 'ETIMEDOUT'
    );
  }
  // pg reports a socket closed under a query without any code.
  return (
    error instanceof Error &&
    /Connection terminated|Client has encountered a connection error|not queryable/.test(
      error.message,
    )
  );
}

/** `error` as a `StoreError` when it has a code of its own; otherwise `error` itself. */
export function toStoreError(error: unknown): unknown {
  if (error instanceof StoreError) return error;
  if (isConnectionLoss(error)) {
    return new StoreError('unavailable', 'the database is unavailable', { cause: error });
  }
  if (sqlState(error) === '53100') {
    return new StoreError('storage-full', 'the database has no storage space left', {
      cause: error,
    });
  }
  return error;
}
