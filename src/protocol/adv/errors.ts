/**
 * Typed errors of Automatic Device Verification (ADV). Callers branch on
 * `code`, never on the message text; messages never contain keys, linking
 * secrets or signatures.
 */

/** Stable failure codes of the ADV functions. */
export type AdvErrorCode =
  /** The linking payload's HMAC does not verify under this companion's linking secret. */
  | 'hmac-mismatch'
  /** An account, device or device-list signature does not verify. */
  | 'signature-mismatch'
  /** A signed object names an account key other than the one the caller trusts. */
  | 'account-key-mismatch'
  /**
   * The server serves a primary identity key other than the trusted one: the
   * account was reinstalled, or the server is lying. The caller must tell the
   * user in plain words and must not fall back to the new key silently.
   */
  | 'account-key-changed'
  /** A signed device list older than one already seen: a replay by the server. */
  | 'device-list-rollback'
  /** Bytes that do not parse as the expected ADV message, or a field out of range. */
  | 'invalid-message'
  /** A linking QR payload that is not a well-formed Quintet link code. */
  | 'invalid-link-code'
  /** A local caller passed a value out of range (a programming error, not an attack). */
  | 'invalid-argument';

/** A typed ADV failure with a stable `code`. */
export class AdvError extends Error {
  override readonly name = 'AdvError';
  constructor(
    readonly code: AdvErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Type guard: `AdvError.is(err, 'hmac-mismatch')`. */
  static is(value: unknown, code?: AdvErrorCode): value is AdvError {
    return value instanceof AdvError && (code === undefined || value.code === code);
  }
}
