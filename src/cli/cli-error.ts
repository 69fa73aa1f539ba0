/**
 * Turning failures into the CLI's one clear line on stderr. Every known
 * failure maps to a sentence a user can act on; anything unexpected still
 * prints one line (its message, never a stack) and exits non-zero.
 */
import { ChatError, ClientError, WireError } from '../sdk/values.js';
import { terminalText } from './terminal-text.js';

/** A failure the CLI reports as-is, with an exit code. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** Context that makes an error line specific ("unknown account: bob"). */
export interface ErrorContext {
  readonly account?: string;
  readonly profile?: string;
  readonly server?: string;
}

/**
 * The one line printed for `error`, terminal-safe: server messages and
 * account names in it come from others.
 */
export function describeError(error: unknown, context: ErrorContext = {}): string {
  return terminalText(rawDescription(error, context));
}

function rawDescription(error: unknown, context: ErrorContext): string {
  if (error instanceof CliError) return error.message;
  if (WireError.is(error)) return error.message;
  // The same code a receiver would refuse the event with; nothing was sent.
  if (ChatError.is(error)) return `${error.code}: ${error.message}; nothing was sent`;
  if (ClientError.is(error)) {
    switch (error.code) {
      case 'connect-failed':
        return `cannot reach the server at ${context.server ?? 'the configured URL'}`;
      case 'not-registered':
        return `no account in profile ${context.profile ?? ''}; run "quintet register <account>" first`;
      case 'already-registered':
        return `profile ${context.profile ?? ''} already holds an account`;
      case 'transport-closed':
        return 'the connection to the server closed unexpectedly';
      case 'timeout':
        return 'the server did not answer in time';
      case 'server-error':
        return describeServerError(error.serverCode ?? '', context);
      case 'untrusted-identity': {
        const who = error.account ?? context.account ?? '<account>';
        return `untrusted-identity: the account key of ${who} changed and nothing was sent; compare the new safety number, then run "quintet trust ${who}"`;
      }
      case 'verification-required': {
        const who = error.account ?? context.account ?? '<account>';
        return `verification-required: ${who} was verified; compare the new safety number with ${who}, then run "quintet trust ${who} --verified"`;
      }
      case 'queue-full': {
        const who =
          error.account === undefined ? 'a recipient device' : `a device of ${error.account}`;
        const limit =
          error.details?.limit !== undefined && error.details.limit !== ''
            ? error.details.limit
            : 'queue bound';
        return `queue-full: the server queue of ${who} is at its bound (${limit}); nothing was sent. Try again after the recipient has fetched its messages`;
      }
      default:
        return error.message;
    }
  }
  return error instanceof Error ? error.message : String(error);
}

function describeServerError(code: string, context: ErrorContext): string {
  const account = context.account === undefined ? 'that account' : `"${context.account}"`;
  switch (code) {
    case 'unknown-account':
      return `unknown account: ${context.account ?? '(unknown)'}`;
    case 'account-taken':
      return `the account name ${account} is already taken`;
    case 'invalid-account-name':
      return 'invalid account name: use 3-32 characters, a lower-case letter first, then a-z, 0-9, "_", "." or "-"';
    case 'registration-token-required':
    case 'invalid-registration-token':
      return 'this server requires a valid registration token';
    case 'unknown-device':
    case 'invalid-signature':
      return 'the server does not recognise this device (was the server reset?)';
    case 'rate-limited':
      return 'the server is rate-limiting this device; try again shortly';
    case 'storage-full':
      return 'the server is out of storage space; nothing was sent, try again later';
    case 'unavailable':
      return 'the server cannot reach its database right now; try again shortly';
    default:
      return `the server refused the request (${code})`;
  }
}
