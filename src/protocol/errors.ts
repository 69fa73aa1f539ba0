/**
 * Typed protocol errors with stable codes. Callers branch on `code`, never on
 * the message text. Messages never contain key material or plaintext.
 */
export type ProtocolErrorCode =
  /** Bytes that do not parse as the expected message, or fail a length/field check. */
  | 'invalid-message'
  /** A message version this implementation does not speak. */
  | 'invalid-version'
  /** A public key or private key of the wrong type, length or value. */
  | 'invalid-key'
  /** A signature (signed prekey, sender key message, ...) that does not verify. */
  | 'invalid-signature'
  /** The message authentication code did not verify under any known session state. */
  | 'bad-mac'
  /** A message whose key was already used: a replay or a redelivery. */
  | 'duplicate-message'
  /** The remote identity key differs from the one the store trusts. */
  | 'untrusted-identity'
  /** No session (or no sender key state) for the remote address. */
  | 'no-session'
  /** A prekey or signed prekey id the store does not hold. */
  | 'invalid-prekey-id'
  /** A message counter further ahead than the skipped-key limit allows. */
  | 'too-far-in-future'
  /**
   * A bundle without a KEM prekey for a peer whose session is post-quantum
   * (version 4): building a version-3 session over it would let whoever
   * strips the KEM prekey undo the post-quantum protection.
   */
  | 'downgrade-refused'
  /** A stored record that does not parse: local corruption, not a remote fault. */
  | 'invalid-state';

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
  /** Type guard: `ProtocolError.is(err, 'bad-mac')`. */
  static is(value: unknown, code?: ProtocolErrorCode): value is ProtocolError {
    return value instanceof ProtocolError && (code === undefined || value.code === code);
  }
}
