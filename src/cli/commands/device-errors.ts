/**
 * One clear line for every failure of linking and device management. The
 * lines name what happened and what to do; they never contain the link
 * code, the linking secret or the PIN.
 */
import { AdvError, ClientError, LinkingError } from '../../sdk/index.js';
import { CliError } from '../cli-error.js';

function minutesAndSeconds(ms: number): string {
  const total = Math.max(1, Math.ceil(ms / 1000));
  const minutes = Math.floor(total / 60);
  const seconds = total % 60;
  if (minutes === 0) return `${seconds}s`;
  return seconds === 0 ? `${minutes}m` : `${minutes}m ${seconds}s`;
}

/** The line for a server refusal of a linking or device request. */
function serverLine(code: string): string | undefined {
  switch (code) {
    case 'link-expired':
      return 'the link code has expired; show a fresh one on the new device and try again';
    case 'unknown-link':
      return 'the server does not know this link code (expired, already used, or replaced by a fresher one); use the newest code the new device shows';
    case 'too-many-devices':
      return 'this account already has the most companion devices the server allows; remove one first with "quintet devices remove <id>"';
    case 'not-primary':
      return 'only the primary device can approve or remove devices';
    case 'primary-cannot-logout':
      return 'the primary device cannot log out: it holds the account key';
    case 'invalid-link':
    case 'invalid-device-identity':
      return 'the server refused the link: the device identity does not match what the primary approved';
    case 'invalid-device-list':
    case 'device-list-rollback':
      return `the server refused the new signed device list (${code})`;
    case 'unknown-device':
      return 'the account has no such device';
    default:
      return undefined;
  }
}

/**
 * Turns a linking failure into a `CliError` with one clear line, or returns
 * the error unchanged for the generic handler.
 */
export function explainLinkingFailure(error: unknown, now: number = Date.now()): unknown {
  if (LinkingError.is(error)) {
    switch (error.code) {
      case 'wrong-pin': {
        const left = error.attemptsLeft ?? 0;
        return new CliError(
          `wrong PIN; nothing was changed (${left} ${left === 1 ? 'attempt' : 'attempts'} left before approvals lock for 5 minutes)`,
        );
      }
      case 'pin-locked':
        return new CliError(
          `too many wrong PINs: approvals are locked for ${minutesAndSeconds((error.lockedUntil ?? now) - now)}`,
        );
      case 'not-primary':
        return new CliError('only the primary device can approve or remove devices');
      case 'primary-cannot-logout':
        return new CliError(
          'the primary device cannot log out: it holds the account key (remove companions with "quintet devices remove <id>")',
        );
      case 'link-timeout':
        return new CliError('timed out: no device approved this link');
      case 'link-mismatch':
        return new CliError('the server answered the link inconsistently; not linked');
      case 'self-link':
        return new CliError('that link code belongs to this device');
      case 'unknown-device':
        return new CliError(error.message);
      case 'logged-out':
        return new CliError(error.message);
    }
  }
  if (AdvError.is(error)) {
    switch (error.code) {
      case 'invalid-link-code':
        return new CliError(`${error.message}; copy the whole "quintet://link#…" text`);
      case 'hmac-mismatch':
        return new CliError(
          'link refused (hmac-mismatch): the approval did not come from the device that read this code; not linked',
        );
      case 'signature-mismatch':
        return new CliError(
          'link refused (signature-mismatch): the primary signed for a different key; not linked',
        );
      default:
        return new CliError(`link refused (${error.code}); not linked`);
    }
  }
  if (ClientError.is(error, 'server-error')) {
    const line = serverLine(error.serverCode ?? '');
    if (line !== undefined) return new CliError(line);
  }
  return error;
}
