/**
 * Typed client errors with stable codes. Callers (the CLI, applications)
 * branch on `code`, never on the message text. Messages never contain keys,
 * plaintext or message content.
 */
export type ClientErrorCode =
  /** Padded plaintext that does not end in 0x80 followed by zeros. */
  | 'invalid-padding'
  /** Decrypted bytes that do not parse as a `Content`, or a field with a bad length. */
  | 'invalid-content'
  /** A stored record that does not parse: local corruption. */
  | 'invalid-record'
  /** The device store holds no registered account yet. */
  | 'not-registered'
  /** The device store already holds an account; registering again would lose it. */
  | 'already-registered'
  /** The server refused a request; see `serverCode`. */
  | 'server-error'
  /** The server answered with something the request cannot have caused. */
  | 'unexpected-response'
  /** The connection failed or closed before a response arrived. */
  | 'transport-closed'
  /** The server could not be reached at all. */
  | 'connect-failed'
  /** A request got no response in time. */
  | 'timeout'
  /** A send still did not match the recipient's device set after refreshing it. */
  | 'device-set-unsettled'
  /** An argument the caller passed is out of range. */
  | 'invalid-argument'
  /** The client was closed. */
  | 'closed'
  /**
   * The contact's account key changed and the user has not accepted the new
   * one (`quintet trust <account>`): nothing was encrypted or sent. `account`
   * names the contact.
   */
  | 'untrusted-identity'
  /** The contact was verified: its new account key can only be accepted as verified. */
  | 'verification-required'
  /**
   * A recipient device's queue on the server is at its bound (`details.limit`:
   * `queue-count` or `queue-bytes`); nothing of the send was stored. Waiting
   * a little does not help: that device must fetch its messages first.
   * `account` names the recipient when the send had only one.
   */
  | 'queue-full';

/** Structured fields of a `server-error`. */
export interface ServerErrorDetails {
  readonly missingDevices: readonly number[];
  readonly extraDevices: readonly number[];
  readonly staleDevices: readonly number[];
  readonly retryAfterMs: number;
  /** With rate-limited / queue-full / storage-full: which limit the server applied. */
  readonly limit: string;
}

/** A typed client failure; `serverCode` is set for `server-error`. */
export class ClientError extends Error {
  override readonly name = 'ClientError';
  readonly serverCode: string | undefined;
  readonly details: ServerErrorDetails | undefined;
  /**
   * The server's own text for a `server-error` (never key material by the
   * wire contract); e.g. `device-removed` names the logout reason in it.
   */
  readonly serverMessage: string | undefined;
  /** The contact account an `untrusted-identity` / `verification-required` error is about. */
  readonly account: string | undefined;
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    options?: {
      cause?: unknown;
      serverCode?: string;
      details?: ServerErrorDetails;
      serverMessage?: string;
      account?: string;
    },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.serverCode = options?.serverCode;
    this.details = options?.details;
    this.serverMessage = options?.serverMessage;
    this.account = options?.account;
  }
  /** Type guard: `ClientError.is(err, 'server-error')`. */
  static is(value: unknown, code?: ClientErrorCode): value is ClientError {
    return value instanceof ClientError && (code === undefined || value.code === code);
  }
  /**
   * The typed `queue-full` failure for a `queue-full` refusal of a send to
   * `recipient` (an account, or undefined when the send had several); any
   * other error is returned unchanged.
   */
  static queueFull(error: unknown, recipient: string | undefined): unknown {
    if (!ClientError.isServer(error, 'queue-full')) return error;
    const limit =
      error.details?.limit !== undefined && error.details.limit !== ''
        ? error.details.limit
        : 'queue bound';
    const who = recipient === undefined ? 'a recipient device' : `a device of ${recipient}`;
    return new ClientError(
      'queue-full',
      `the server queue of ${who} is full (${limit}); nothing was sent. The recipient must fetch its waiting messages first`,
      {
        cause: error,
        serverCode: 'queue-full',
        ...(error.details === undefined ? {} : { details: error.details }),
        ...(error.serverMessage === undefined ? {} : { serverMessage: error.serverMessage }),
        ...(recipient === undefined ? {} : { account: recipient }),
      },
    );
  }

  /** Whether `value` is a server refusal with the given wire code ("account-taken", ...). */
  static isServer(value: unknown, serverCode: string): value is ClientError {
    return ClientError.is(value, 'server-error') && value.serverCode === serverCode;
  }
}
