/**
 * The typed error a request handler throws to fail one request. The
 * connection turns it into an error response with the same code; anything
 * else thrown by a handler becomes `internal` (and is logged, without keys
 * or content).
 */
import type { ServerErrorCode } from '../wire/errors.js';
import type { ErrorDetails } from '../wire/frame.js';
import type { StoreError } from './store/types.js';

/** A request failure with a stable wire code and optional structured details. */
export class ServiceError extends Error {
  override readonly name = 'ServiceError';
  constructor(
    readonly code: ServerErrorCode,
    message: string,
    readonly details: ErrorDetails = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
  /** Type guard: `ServiceError.is(err, 'rate-limited')`. */
  static is(value: unknown, code?: ServerErrorCode): value is ServiceError {
    return value instanceof ServiceError && (code === undefined || value.code === code);
  }
}

/** How long a client should wait before retrying after `storage-full`, ms. */
const STORAGE_FULL_RETRY_MS = 5_000;

/**
 * How long a client should wait before retrying after `unavailable`, ms:
 * about what a database restart or failover takes to answer again.
 */
const UNAVAILABLE_RETRY_MS = 1_000;

/** The wire error for a store failure a client can act on (undefined: `internal`). */
export function storeServiceError(error: StoreError): ServiceError | undefined {
  if (error.code === 'queue-full') {
    return new ServiceError('queue-full', error.message, {
      ...(error.limit === undefined ? {} : { limit: error.limit }),
    });
  }
  if (error.code === 'storage-full') {
    return new ServiceError('storage-full', 'the server is out of storage space; retry later', {
      retryAfterMs: STORAGE_FULL_RETRY_MS,
    });
  }
  if (error.code === 'unavailable') {
    return new ServiceError('unavailable', 'the server cannot reach its database; retry later', {
      retryAfterMs: UNAVAILABLE_RETRY_MS,
    });
  }
  return undefined;
}
