/**
 * The typed error a request handler throws to fail one request. The
 * connection turns it into an error response with the same code; anything
 * else thrown by a handler becomes `internal` (and is logged, without keys
 * or content).
 */
import type { ServerErrorCode } from '../wire/errors.js';
import type { ErrorDetails } from '../wire/frame.js';

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
