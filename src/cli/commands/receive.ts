/**
 * `quintet receive`: fetches everything queued for this device, prints one
 * line per message, acks, and exits once the server's QueueDrained has been
 * processed (plus a short grace for in-flight work) — or keeps going with
 * `--follow`, reconnecting with backoff after a server restart or a dropped
 * connection (the SDK's QuintetDevice) until interrupted. The body is in
 * actions/receive.ts, loaded only when the command runs.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { toHex } from '../../sdk/values.js';
import type { ConnectionStateEvent, StoredMessage } from '../../sdk/index.js';
import { runCommand } from '../run.js';
import { terminalText } from '../terminal-text.js';
import type { ClientCommandOptions } from '../session.js';
import { serverHelp, serverOption } from '../server-option.js';
import type { SavedAttachment } from '../attachment-saver.js';
import { formatBytes } from '../progress-bar.js';
import { messageStateJson, messageStateText } from './chat-lines.js';

/** The options of `receive`. */
export interface ReceiveOptions extends ClientCommandOptions {
  readonly mediaDir?: string;
  readonly follow?: boolean;
  readonly json?: boolean;
  readonly timeout?: number;
}

function seconds(value: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0)
    throw new InvalidArgumentError('must be a positive number');
  return parsed;
}

/** One output line for a message (two with an attachment, in text mode). */
export function formatMessage(
  message: StoredMessage,
  json: boolean,
  saved?: SavedAttachment,
  read?: { readonly read: boolean; readonly readAt?: number },
): string {
  const attachment = message.attachment;
  if (json) {
    return JSON.stringify({
      type: 'message',
      id: toHex(message.id),
      from: message.sender,
      fromDevice: message.senderDevice,
      chat: message.chat,
      outgoing: message.outgoing,
      text: message.text,
      sentAt: message.sentAt,
      receivedAt: message.receivedAt,
      // `history` knows the read state on this device (chat-history.ts).
      ...(read === undefined
        ? {}
        : { read: read.read, ...(read.readAt === undefined ? {} : { readAt: read.readAt }) }),
      ...messageStateJson(message),
      // Never the media key: it stays in the device store.
      ...(attachment === undefined
        ? {}
        : {
            attachment: {
              ...(saved !== undefined && 'path' in saved ? { path: saved.path } : {}),
              ...(saved !== undefined && 'error' in saved ? { error: saved.error } : {}),
              name: attachment.fileName,
              mime: attachment.mimeType,
              size: attachment.size,
              sha256: toHex(attachment.plaintextSha256),
            },
          }),
    });
  }
  // Everything but the digits came from peers: terminal-safe (JSON above is exact).
  const when = new Date(message.sentAt).toISOString();
  const who = message.outgoing
    ? `${terminalText(message.sender)}.${message.senderDevice} → ${terminalText(message.chat)}`
    : `${terminalText(message.sender)}.${message.senderDevice}`;
  const line = `[${when}] ${who}: ${messageStateText(message)}`;
  if (attachment === undefined) return line;
  const file =
    saved === undefined
      ? terminalText(attachment.fileName)
      : 'path' in saved
        ? terminalText(saved.path)
        : `not saved (${terminalText(saved.error)})`;
  return `${line}\n  attachment (${terminalText(attachment.mimeType)}, ${formatBytes(attachment.size)}): ${file}`;
}

/**
 * The stderr line for a change of the following connection (stdout stays
 * messages only, so `--json` consumers see no difference). `recovering`:
 * the connection had been up before and was lost since (the first
 * connection is not news; a recovery is).
 */
export function connectionLine(
  event: ConnectionStateEvent,
  recovering: boolean,
): string | undefined {
  switch (event.state) {
    case 'waiting': {
      const to = event.server === undefined ? '' : ` to ${event.server}`;
      const next = `reconnecting${to} in ${(event.delayMs / 1000).toFixed(1)} s`;
      if (event.cause === 'closed') {
        const code = event.closeCode === undefined ? '' : ` (close ${event.closeCode})`;
        return `warning: the connection to the server was lost${code}; ${next}`;
      }
      return `warning: reconnecting failed (${event.cause}); ${next}`;
    }
    case 'online':
      return recovering ? 'reconnected to the server' : undefined;
    case 'connecting':
    case 'stopped':
      return undefined;
  }
}

/** Adds `receive` to the program. */
export function addReceiveCommand(program: Command): void {
  program
    .command('receive')
    .description('fetch and print messages queued for this device')
    .option('--profile <dir>', 'profile directory (default $QUINTET_PROFILE or ~/.quintet)')
    .option('--server <urls>', serverHelp("the profile's"), serverOption)
    .option(
      '--follow',
      'keep printing new messages until interrupted, reconnecting when the connection drops',
    )
    .option('--json', 'print one JSON object per line')
    .option('--media-dir <dir>', 'save attachments here (default: <profile>/media)')
    .option('--timeout <seconds>', 'give up after this long', seconds)
    .action((options: ReceiveOptions) =>
      runCommand({}, async (context) =>
        (await import('../actions/receive.js')).receive(options, context),
      ),
    );
}
