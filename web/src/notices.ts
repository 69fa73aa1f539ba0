/**
 * The notice area: errors and information shown above the app, each with a
 * dismiss button. Texts come from `describeError`, which maps stable error
 * codes to sentences; no key, PIN or message content ever reaches it.
 */
import { AdvError, ClientError, LinkingError, WireError } from '../../src/sdk/browser.js';
import { h } from './dom.js';
import { PinError } from './pin.js';

/** How a notice looks. */
export type NoticeKind = 'error' | 'info';

/** Shows notices in `area`. */
export class Notices {
  constructor(private readonly area: HTMLElement) {}

  /** Adds a notice; info notices fade after a few seconds, errors stay until dismissed. */
  show(kind: NoticeKind, text: string): void {
    const notice = h(
      'div',
      { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
      h('span', {}, text),
      h(
        'button',
        {
          class: 'notice-close',
          type: 'button',
          ariaLabel: 'Dismiss',
          onclick: () => notice.remove(),
        },
        '×',
      ),
    );
    this.area.append(notice);
    if (kind === 'info') setTimeout(() => notice.remove(), 5_000);
  }

  /** Shows `error` as an error notice. */
  error(error: unknown): void {
    this.show('error', describeError(error));
  }
}

/** The sentence for a linking or device-management failure; undefined for others. */
function describeLinking(error: unknown): string | undefined {
  if (LinkingError.is(error)) {
    switch (error.code) {
      case 'wrong-pin': {
        const left = error.attemptsLeft ?? 0;
        return `Wrong PIN; nothing was changed. ${left} ${left === 1 ? 'attempt' : 'attempts'} left before approvals lock for 5 minutes.`;
      }
      case 'pin-locked': {
        const seconds = Math.max(1, Math.ceil(((error.lockedUntil ?? 0) - Date.now()) / 1000));
        const wait = seconds < 60 ? `${seconds} s` : `${Math.ceil(seconds / 60)} min`;
        return `Too many wrong PINs: approvals are locked for ${wait}.`;
      }
      case 'not-primary':
        return 'Only the primary device can link or log out devices.';
      case 'self-link':
        return 'That link code belongs to this device.';
      case 'link-timeout':
        return 'No device approved this link in time.';
      case 'link-mismatch':
        return 'The server answered the link inconsistently; this browser was not linked.';
      case 'unknown-device':
        return 'The account has no such device.';
      case 'primary-cannot-logout':
        return 'The primary device cannot log out: it holds the account key.';
      case 'logged-out':
        return 'This device was logged out.';
    }
  }
  if (AdvError.is(error)) {
    switch (error.code) {
      case 'invalid-link-code':
        return 'That is not a valid link code. Copy the whole “quintet://link#…” text.';
      case 'hmac-mismatch':
        return 'Link refused: the approval did not come from the device that read this code.';
      case 'signature-mismatch':
        return 'Link refused: the primary signed for a different key.';
      default:
        return `Link refused (${error.code}).`;
    }
  }
  if (!ClientError.is(error, 'server-error')) return undefined;
  switch (error.serverCode) {
    case 'link-expired':
    case 'unknown-link':
      return 'That link code has expired or was replaced. Use the newest code the new device shows.';
    case 'too-many-devices':
      return 'This account already has the most companion devices allowed. Log one out first.';
    case 'device-removed':
      return 'This device was logged out.';
    default:
      return undefined;
  }
}

/** A sentence for the user about `error`. */
export function describeError(error: unknown): string {
  const linking = describeLinking(error);
  if (linking !== undefined) return linking;
  if (ClientError.isServer(error, 'account-taken')) return 'That account name is already taken.';
  if (ClientError.isServer(error, 'unknown-account')) return 'There is no account with that name.';
  if (ClientError.isServer(error, 'rate-limited')) return 'Too many requests. Try again shortly.';
  if (ClientError.is(error)) {
    switch (error.code) {
      case 'connect-failed':
        return 'Cannot reach the server. Retrying…';
      case 'transport-closed':
      case 'timeout':
        return 'The connection to the server was lost.';
      case 'not-registered':
        return 'This browser has no account yet.';
      case 'already-registered':
        return 'This browser already has an account.';
      case 'invalid-record':
        return 'The data stored in this browser could not be read.';
      case 'server-error':
        return `The server refused the request (${error.serverCode ?? 'unknown'}).`;
      case 'untrusted-identity':
        return `Not sent: ${error.account ?? 'the contact'}'s account key changed (see the chat).`;
      case 'verification-required':
        return `${error.account ?? 'The contact'} was verified: compare the new safety number before accepting the new key.`;
      default:
        return `Something went wrong (${error.code}).`;
    }
  }
  if (error instanceof WireError || error instanceof PinError) return `${error.message}.`;
  return 'Something went wrong.';
}
