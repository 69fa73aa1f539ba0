/**
 * Typed group errors. `code` is stable: the CLI and applications branch on
 * it, and refused membership changes are reported with it. Messages never
 * contain keys or message content.
 */
export type GroupErrorCode =
  /** A change, chain or group id that does not parse or has a wrong length. */
  | 'invalid-change'
  /** The XEdDSA signature over the change does not verify. */
  | 'bad-signature'
  /** The signing key is not the author device's ADV-verified key. */
  | 'untrusted-author'
  /** The author may not make this change (not an admin, not a member, …). */
  | 'not-authorized'
  /** Version or previous-hash does not continue the chain. */
  | 'broken-chain'
  /** The members list does not follow from the previous one and the action. */
  | 'bad-membership'
  /** The served chain is shorter than, or differs from, what was verified before. */
  | 'rollback'
  /** The group is unknown to this device. */
  | 'unknown-group'
  /** This account is not a member (any more). */
  | 'not-a-member'
  /** An argument the caller passed is out of range. */
  | 'invalid-argument';

/** A typed group failure. `version` names the offending link when there is one. */
export class GroupError extends Error {
  override readonly name = 'GroupError';
  readonly version: number | undefined;
  constructor(
    readonly code: GroupErrorCode,
    message: string,
    options?: { cause?: unknown; version?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.version = options?.version;
  }
  /** Type guard: `GroupError.is(err, 'bad-signature')`. */
  static is(value: unknown, code?: GroupErrorCode): value is GroupError {
    return value instanceof GroupError && (code === undefined || value.code === code);
  }
}
