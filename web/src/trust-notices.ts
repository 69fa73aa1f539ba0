/**
 * Plain-words notices for the trust and device events of the client: a
 * contact's account key changed, a device was refused by Automatic Device
 * Verification, this account's device set changed. The same events the CLI
 * prints on stderr (src/cli/commands/notices.ts), worded for the page.
 */
import type { ClientEvent } from '../../src/sdk/browser.js';
import type { NoticeKind } from './notices.js';

/** A notice to show, with a key so a repeated event is shown once per page. */
export interface EventNotice {
  readonly kind: NoticeKind;
  readonly text: string;
  /** Same key, same notice: shown only the first time. */
  readonly key: string;
}

/** The notice for `event`, or undefined for events that need none. `self` is this account. */
export function eventNotice(event: ClientEvent, self: string): EventNotice | undefined {
  switch (event.type) {
    case 'account-key-changed':
      return {
        kind: 'error',
        key: `key:${event.account}`,
        text:
          `${event.account}'s account key changed — ${event.account} may have reinstalled Quintet. ` +
          `Nothing is sent to ${event.account} until you compare the safety number and press ` +
          '"Accept new key" in the chat.',
      };
    case 'device-refused':
      return {
        kind: 'error',
        key: `refused:${event.account}:${event.deviceId}:${event.reason}`,
        text:
          `Not sending to ${event.account}'s device ${event.deviceId}: it is not vouched for by ` +
          `${event.account}'s account key (${event.reason}).`,
      };
    case 'session-refused':
      if (event.held) {
        return {
          kind: 'info',
          key: `held:${event.from}`,
          text:
            `A message from ${event.from}'s new account key waits on the server until you ` +
            'accept the new key.',
        };
      }
      return {
        kind: 'error',
        key: `session:${event.from}:${event.fromDevice}:${event.reason}`,
        text:
          `Refused a message from ${event.from}'s device ${event.fromDevice}: the device is not ` +
          `vouched for by ${event.from}'s account key (${event.reason}).`,
      };
    case 'devices-changed': {
      if (event.account !== self || event.added.length === 0) return undefined;
      return {
        kind: 'info',
        key: `added:${event.added.join(',')}`,
        text: `A new device was linked to your account (device ${event.added.join(', ')}).`,
      };
    }
    default:
      return undefined;
  }
}

/** The reason word of a `device-removed` refusal ("device removed: <reason>"), or `removed`. */
export function removalReason(serverMessage: string | undefined, known: readonly string[]): string {
  const text = serverMessage ?? '';
  const last = text.slice(text.lastIndexOf(':') + 1).trim();
  // Only known words are taken, so a server cannot put arbitrary text on the screen.
  return known.includes(last) ? last : 'removed';
}
