/**
 * Typed errors of linking companions and managing devices. Callers (the CLI,
 * the web app) branch on `code`; messages never contain link codes, linking
 * secrets, PINs or keys.
 */

/** Stable failure codes of the linking and device-management flows. */
export type LinkingErrorCode =
  /** Only the primary (device 1) may approve, remove or re-sign devices. */
  | 'not-primary'
  /** The primary cannot log itself out: it holds the account key. */
  | 'primary-cannot-logout'
  /** No companion was approved before the deadline. */
  | 'link-timeout'
  /** The server's LinkApproved / CompleteLink answer contradicts the signed payload. */
  | 'link-mismatch'
  /** The link code names this very device (the account key). */
  | 'self-link'
  /** The device id is not one of this account's companions. */
  | 'unknown-device'
  /** The PIN given for a local approval is wrong. */
  | 'wrong-pin'
  /** Too many wrong PINs in a row: approvals are locked for a while. */
  | 'pin-locked'
  /** This device was removed from its account; the profile is unusable. */
  | 'logged-out';

/** A typed linking / device-management failure. */
export class LinkingError extends Error {
  override readonly name = 'LinkingError';
  /** For `pin-locked`: ms since the epoch when approvals unlock. */
  readonly lockedUntil: number | undefined;
  /** For `wrong-pin`: wrong attempts left before the lock. */
  readonly attemptsLeft: number | undefined;
  constructor(
    readonly code: LinkingErrorCode,
    message: string,
    options?: { cause?: unknown; lockedUntil?: number; attemptsLeft?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.lockedUntil = options?.lockedUntil;
    this.attemptsLeft = options?.attemptsLeft;
  }

  /** Type guard: `LinkingError.is(err, 'pin-locked')`. */
  static is(value: unknown, code?: LinkingErrorCode): value is LinkingError {
    return value instanceof LinkingError && (code === undefined || value.code === code);
  }
}
