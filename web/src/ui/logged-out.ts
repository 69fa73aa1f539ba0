/**
 * Shown once this browser's device was removed from its account (by the
 * primary, by its own "log out", or for inactivity) and its keys were
 * wiped. It says so plainly: a device that silently stops receiving is the
 * worst outcome (the auto-unlink complaint of Signal-Desktop#4730).
 */
import { LOGOUT_REASONS } from '../../../src/sdk/browser.js';
import { h } from '../dom.js';
import { card } from './common.js';

/**
 * The logged-out screen for `account`; `reason` is the server's reason word.
 * `onStartOver` goes back to onboarding.
 */
export function loggedOutScreen(
  account: string,
  reason: string,
  onStartOver: () => void,
): HTMLElement {
  const why = Object.hasOwn(LOGOUT_REASONS, reason) ? LOGOUT_REASONS[reason] : undefined;
  const restart = h(
    'button',
    { type: 'button', class: 'primary', testid: 'start-over', onclick: onStartOver },
    'Start over',
  );
  return card(
    'This browser was logged out',
    h(
      'p',
      { testid: 'logged-out' },
      `This browser is no longer a device of ${account}`,
      why === undefined ? '.' : ` (${why}).`,
    ),
    h(
      'p',
      {},
      'Its keys and messages have been deleted from this browser. ' +
        'To use Quintet here again, link it again or create an account.',
    ),
    restart,
  );
}
