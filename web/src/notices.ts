/**
 * The notice area: errors and information shown above the app, each with a
 * dismiss button. Texts come from `describeError`, which maps stable error
 * codes to sentences; no key, PIN or message content ever reaches it.
 */
import { ClientError } from '../../src/client/core/errors.js';
import { WireError } from '../../src/wire/errors.js';
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

/** A sentence for the user about `error`. */
export function describeError(error: unknown): string {
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
      default:
        return `Something went wrong (${error.code}).`;
    }
  }
  if (error instanceof WireError || error instanceof PinError) return `${error.message}.`;
  return 'Something went wrong.';
}
