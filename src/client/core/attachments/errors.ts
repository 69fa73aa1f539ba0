/**
 * Typed attachment failures. Callers branch on `code`; messages never carry
 * key material or file content.
 */
export type AttachmentErrorCode =
  /** The MAC, a hash or the size did not match the pointer: nothing is kept. */
  | 'tampered'
  /** The pointer in a message is malformed (wrong key length, missing id). */
  | 'invalid-pointer'
  /** A message has no attachment to download. */
  | 'no-attachment';

/** A typed attachment failure (`code` says which); `AttachmentError.is(e, code)` guards. */
export class AttachmentError extends Error {
  override readonly name = 'AttachmentError';
  constructor(
    readonly code: AttachmentErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
  static is(value: unknown, code?: AttachmentErrorCode): value is AttachmentError {
    return value instanceof AttachmentError && (code === undefined || value.code === code);
  }
}
