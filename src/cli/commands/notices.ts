/**
 * Plain-words lines for the trust events every client command can cause
 * (printed on stderr, so `--json` output on stdout stays machine-readable).
 */
import type { ClientEvent } from '../../client/core/events.js';

/** The stderr line for a trust or device event; undefined for other events. */
export function noticeLine(event: ClientEvent): string | undefined {
  switch (event.type) {
    case 'device-refused':
      return `warning: not sending to ${event.account} device ${event.deviceId}: ${event.reason}`;
    case 'account-key-changed':
      return `notice: ${event.account}'s account key changed — ${event.account} may have reinstalled Quintet. Compare safety numbers again.`;
    case 'session-refused':
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
