/**
 * Typed errors of history sync. Messages never carry the archive key, blob
 * credentials or message content.
 */

/** Stable failure codes of building, fetching and importing a history archive. */
export type HistoryErrorCode =
  /** The archive key is not 32 bytes. */
  | 'bad-key'
  /** A frame's MAC does not verify: a changed byte, or not the archive's key. */
  | 'bad-mac'
  /** The downloaded blob's SHA-256 or size differs from the notification's. */
  | 'bad-hash'
  /** The archive stops before its final frame. */
  | 'truncated'
  /** The archive's structure or a record inside it is malformed. */
  | 'corrupt'
  /** The notification came from a device other than the approving primary. */
  | 'wrong-source'
  /** The primary could not build or upload the archive. */
  | 'source-failed'
  /** The blob store refused or failed (see the cause). */
  | 'blob-failed';

/** A typed history failure. */
export class HistoryError extends Error {
  override readonly name = 'HistoryError';
  constructor(
    readonly code: HistoryErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
  }

  /** Type guard: `HistoryError.is(err, 'bad-mac')`. */
  static is(value: unknown, code?: HistoryErrorCode): value is HistoryError {
    return value instanceof HistoryError && (code === undefined || value.code === code);
  }
}
