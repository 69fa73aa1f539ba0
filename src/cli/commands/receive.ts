/**
 * `quintet receive`: fetches everything queued for this device, prints one
 * line per message, acks, and exits once the server's QueueDrained has been
 * processed (plus a short grace for in-flight work) — or keeps going with
 * `--follow`.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { toHex } from '../../client/core/bytes.js';
import type { ClientEvent } from '../../client/core/events.js';
import type { StoredMessage } from '../../client/core/store/records.js';
import { CliError } from '../cli-error.js';
import { runCommand } from '../run.js';
import { loggedOutError, markProfileLoggedOut } from './logged-out.js';
import { noticeLine } from './notices.js';
import { groupNoticeLine } from './group.js';
import { openClientSession, type ClientCommandOptions } from '../session.js';
import { terminalMessage, terminalText } from '../terminal-text.js';

interface ReceiveOptions extends ClientCommandOptions {
  readonly follow?: boolean;
  readonly json?: boolean;
  readonly timeout?: number;
}

/** Wait after QueueDrained for envelopes already on the wire. */
const DRAIN_GRACE_MS = 300;

function seconds(value: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0)
    throw new InvalidArgumentError('must be a positive number');
  return parsed;
}

/** One output line for a message. */
export function formatMessage(message: StoredMessage, json: boolean): string {
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
    });
  }
  // Everything but the digits came from peers: terminal-safe (JSON above is exact).
  const when = new Date(message.sentAt).toISOString();
  const who = message.outgoing
    ? `${terminalText(message.sender)}.${message.senderDevice} → ${terminalText(message.chat)}`
    : `${terminalText(message.sender)}.${message.senderDevice}`;
  return `[${when}] ${who}: ${terminalMessage(message.text)}`;
}

function report(event: ClientEvent, json: boolean): void {
  switch (event.type) {
    case 'message':
      process.stdout.write(`${formatMessage(event.message, json)}\n`);
      return;
    case 'decryption-failure':
      process.stderr.write(
        `${terminalText(`warning: a message from ${event.from}.${event.fromDevice} could not be decrypted (${event.code})${event.retryRequested ? '; asked the sender to re-send it' : ''}`)}\n`,
      );
      return;
    case 'error':
      process.stderr.write(`${terminalText(`warning: ${event.message} (${event.code})`)}\n`);
      return;
    case 'read':
      if (json) {
        process.stdout.write(
          `${JSON.stringify({ type: 'read', chat: event.chat, ids: event.messageIds.map(toHex), fromDevice: event.fromDevice })}\n`,
        );
      }
      return;
    case 'logged-out':
      if (json) {
        process.stdout.write(`${JSON.stringify({ type: 'logged-out', reason: event.reason })}\n`);
      }
      process.stderr.write(`${noticeLine(event) ?? ''}\n`);
      return;
    case 'device-refused':
    case 'account-key-changed':
    case 'session-refused':
    case 'group-change-refused':
    case 'group-message-refused':
      process.stderr.write(`${groupNoticeLine(event) ?? ''}\n`);
      return;
    case 'group-changed':
      if (json) {
        process.stdout.write(
          `${JSON.stringify({ type: 'group-changed', group: event.groupId, version: event.version, action: event.action, target: event.target, author: event.author, members: event.members })}\n`,
        );
      }
      return;
    case 'devices-changed':
    case 'receipt':
    case 'retry-request':
    case 'queue-drained':
    case 'pre-keys-uploaded':
    case 'disconnected':
      return;
  }
}

/** Adds `receive` to the program. */
export function addReceiveCommand(program: Command): void {
  program
    .command('receive')
    .description('fetch and print messages queued for this device')
    .option('--profile <dir>', 'profile directory (default $QUINTET_PROFILE or ~/.quintet)')
    .option('--server <url>', "server URL (default: the profile's)")
    .option('--follow', 'keep printing new messages until interrupted')
    .option('--json', 'print one JSON object per line')
    .option('--timeout <seconds>', 'give up after this long', seconds)
    .action((options: ReceiveOptions) =>
      runCommand({}, async (context) => {
        const json = options.json === true;
        const session = await openClientSession(options, true, context);
        let timedOut = false;
        let interrupted = false;
        const timer =
          options.timeout === undefined
            ? undefined
            : setTimeout(() => {
                timedOut = true;
                void session.client.close();
              }, options.timeout * 1000);
        const onSignal = (): void => {
          interrupted = true;
          void session.client.close();
        };
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        let drained = false;
        let disconnected = false;
        let loggedOut: string | undefined;
        try {
          for await (const event of session.events) {
            report(event, json);
            if (event.type === 'logged-out') loggedOut = event.reason;
            if (event.type === 'disconnected') {
              disconnected = true;
              break;
            }
            if (event.type === 'queue-drained' && options.follow !== true && !drained) {
              drained = true;
              setTimeout(() => void session.client.close(), DRAIN_GRACE_MS);
            }
          }
        } finally {
          if (timer !== undefined) clearTimeout(timer);
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          await session.close();
        }
        if (loggedOut !== undefined && context.profile !== undefined) {
          // The server removed this device while we were connected: wipe the
          // keys and say so, exactly as the next command would.
          await markProfileLoggedOut(context.profile, loggedOut);
          throw loggedOutError(loggedOut === '' ? 'removed' : loggedOut);
        }
        if (interrupted || drained) return;
        if (timedOut) {
          if (options.follow === true) return;
          throw new CliError('timed out before the server finished sending queued messages');
        }
        if (disconnected) throw new CliError('the connection to the server closed unexpectedly');
      }),
    );
}
