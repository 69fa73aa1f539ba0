/**
 * Plain-words lines for the trust events every client command can cause
 * (printed on stderr, so `--json` output on stdout stays machine-readable).
 */
import type { ClientEvent } from '../../sdk/index.js';
import { terminalText } from '../terminal-text.js';

/**
 * The stderr line for a trust or device event; undefined for other events.
 * Account names and reasons come from the server or peers: the line is made
 * terminal-safe.
 */
export function noticeLine(event: ClientEvent): string | undefined {
  const line = rawNoticeLine(event);
  return line === undefined ? undefined : terminalText(line);
}

function rawNoticeLine(event: ClientEvent): string | undefined {
  switch (event.type) {
    case 'device-refused':
      return `warning: not sending to ${event.account} device ${event.deviceId}: ${event.reason}`;
    case 'account-key-changed': {
      const accept = event.verified
        ? `You had verified ${event.account}: compare the new safety number, then run "quintet trust ${event.account} --verified".`
        : `Compare the new safety number ("quintet safety-number ${event.account}"), then run "quintet trust ${event.account}".`;
      return `warning: ${event.account}'s account key changed — ${event.account} may have reinstalled Quintet, or someone is intercepting. Nothing is sent to ${event.account} until you accept the new key. ${accept}`;
    }
    case 'session-refused':
      if (event.held) {
        return `notice: a message from ${event.from} device ${event.fromDevice} is kept on the server until you accept ${event.from}'s new account key ("quintet trust ${event.from}")`;
      }
      return `warning: refused a message from ${event.from} device ${event.fromDevice}: the device is not vouched for by ${event.from}'s account key (${event.reason})`;
    case 'logged-out':
      return `notice: this device was logged out (${event.reason}); it receives nothing from now on`;
    default:
      return undefined;
  }
}

/**
 * Prints the notices among `events` once the session is closed (closing
 * ends the stream after its buffered events), for one-shot commands.
 */
export async function printNotices(events: AsyncIterable<ClientEvent>): Promise<void> {
  for await (const event of events) {
    const line = noticeLine(event);
    if (line !== undefined) process.stderr.write(`${line}\n`);
  }
}
