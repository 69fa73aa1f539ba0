/**
 * Maps node-postgres failures to `StoreError` codes callers can act on.
 *
 * A lost connection (the server restarted, a failover, the network) is
 * `unavailable`: retryable, and nothing of the write is known to be stored
 * unless its promise resolved. A full disk is `storage-full`, as on SQLite.
 * Anything else is passed on unchanged and ends as `internal` at the wire.
 * Messages name the cause but never the connection URL (it may carry a
 * password) and never a parameter value (they may be keys).
 */
import { StoreError } from '../types.js';

/** Node socket errors that mean the database could not be reached. */
const UNREACHABLE_ERRNOS: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * SQLSTATEs that mean "this session is gone or refused, try again":
 * admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections.
 */
const UNAVAILABLE_SQLSTATES: ReadonlySet<string> = new Set(['57P01', '57P02', '57P03', '53300']);

/** disk_full. */
const DISK_FULL = '53100';
/** unique_violation. */
const UNIQUE_VIOLATION = '23505';

/**
 * Messages node-postgres gives for a connection that died or never came up
 * (it sets no code on these).
 */
const CONNECTION_MESSAGES: readonly string[] = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
  'Connection closed',
];

function codeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}

/** True for a PostgreSQL unique violation (a concurrent insert of the same key won). */
export function isUniqueViolation(error: unknown): boolean {
  return codeOf(error) === UNIQUE_VIOLATION;
}

/** True when `error` means the database cannot be reached (see the module comment). */
export function isConnectionError(error: unknown): boolean {
  const code = codeOf(error);
  if (code !== undefined) {
    if (UNREACHABLE_ERRNOS.has(code) || UNAVAILABLE_SQLSTATES.has(code)) return true;
    // Class 08: connection exception.
    if (/^08[0-9A-Z]{3}$/.test(code)) return true;
  }
  if (error instanceof AggregateError) return error.errors.some(isConnectionError);
  if (!(error instanceof Error)) return false;
  return CONNECTION_MESSAGES.some((text) => error.message.startsWith(text));
}

/**
 * The `StoreError` for `error`, or `error` itself when it is not one the
 * store maps (an existing `StoreError` passes through).
 */
export function mapPgError(error: unknown): unknown {
  if (error instanceof StoreError) return error;
  if (isConnectionError(error)) {
    return new StoreError('unavailable', `database unavailable: ${describe(error)}`, {
      cause: error,
    });
  }
  if (codeOf(error) === DISK_FULL) {
    return new StoreError('storage-full', 'the database is out of disk space', { cause: error });
  }
  return error;
}

/** A short description of a driver error, without parameters or URLs. */
export function describe(error: unknown): string {
  const code = codeOf(error);
  const message =
    error instanceof AggregateError && error.errors.length > 0
      ? describe(error.errors[0])
      : error instanceof Error
        ? error.message
        : String(error);
  return code === undefined || message.includes(code) ? message : `${message} (${code})`;
}
