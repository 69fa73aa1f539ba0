/**
 * `quintet receive`: fetches everything queued for this device, prints one
 * line per message, acks, and exits once the server's QueueDrained has been
 * processed (plus a short grace for in-flight work) — or keeps going with
 * `--follow`, reconnecting with backoff after a server restart or a dropped
 * connection (client/core/reconnector.ts) until interrupted.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { toHex } from '../../client/core/bytes.js';
import type { ClientEvent } from '../../client/core/events.js';
import type { ConnectionStateEvent } from '../../client/core/reconnector.js';
import type { StoredMessage } from '../../client/core/store/records.js';
import { CliError } from '../cli-error.js';
import { runCommand } from '../run.js';
import {
  isDeviceRemovedError,
  loggedOutError,
  markProfileLoggedOut,
  removalReason,
} from './logged-out.js';
import { noticeLine } from './notices.js';
import { groupNoticeLine } from './group.js';
import { terminalMessage, terminalText } from '../terminal-text.js';
import {
  openClientSession,
  openFollowSession,
  type ClientCommandOptions,
  type SessionContext,
} from '../session.js';
import { serverHelp, serverOption } from '../server-option.js';
import { AttachmentSaver, type SavedAttachment } from '../attachment-saver.js';
import { mediaDir } from '../attachment-transfer.js';
import { formatBytes } from '../progress-bar.js';

interface ReceiveOptions extends ClientCommandOptions {
  readonly mediaDir?: string;
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

function printMessage(message: StoredMessage, json: boolean, saved?: SavedAttachment): void {
  process.stdout.write(`${formatMessage(message, json, saved)}\n`);
}

/** One output line for a message (two with an attachment, in text mode). */
export function formatMessage(
  message: StoredMessage,
  json: boolean,
  saved?: SavedAttachment,
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
  const line = `[${when}] ${who}: ${terminalMessage(message.text)}`;
  if (attachment === undefined) return line;
  const file =
    saved === undefined
      ? terminalText(attachment.fileName)
      : 'path' in saved
        ? terminalText(saved.path)
        : `not saved (${terminalText(saved.error)})`;
  return `${line}\n  attachment (${terminalText(attachment.mimeType)}, ${formatBytes(attachment.size)}): ${file}`;
}

function report(event: ClientEvent, json: boolean, saver: AttachmentSaver): void {
  switch (event.type) {
    case 'message':
      saver.add(event.message);
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
    // History progress is shown by `link` (link-history.ts), not here.
    case 'history-sync':
    case 'devices-changed':
    case 'receipt':
    case 'retry-request':
    case 'queue-drained':
    case 'pre-keys-uploaded':
    case 'disconnected':
      return;
  }
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

/**
 * `receive --follow`: prints messages until interrupted (or `--timeout`),
 * surviving server restarts and dropped connections. Ends with an error
 * only when reconnecting is wrong: the device was logged out, or a newer
 * connection of this device (another command on this profile) replaced it.
 */
async function follow(
  options: ReceiveOptions,
  json: boolean,
  context: SessionContext,
): Promise<void> {
  const session = await openFollowSession(options, context);
  const saver = new AttachmentSaver(
    {
      getBlobCredential: () => {
        const api = session.reconnector.api;
        if (api === undefined) throw new CliError('not connected to the server');
        return api.getBlobCredential();
      },
    },
    () => session.reconnector.server ?? context.server ?? '',
    mediaDir(options.mediaDir, context.profile),
    (message, saved) => printMessage(message, json, saved),
  );
  const stop = (): void => void session.reconnector.stop();
  const timer =
    options.timeout === undefined ? undefined : setTimeout(stop, options.timeout * 1000);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let stopped: Extract<ConnectionStateEvent, { state: 'stopped' }> | undefined;
  let loggedOut: string | undefined;
  let online = false;
  let everOnline = false;
  try {
    for await (const event of session.events) {
      if (event.type === 'connection') {
        const line = connectionLine(event, everOnline && !online);
        if (line !== undefined) process.stderr.write(`${line}\n`);
        online = event.state === 'online';
        everOnline ||= online;
        if (event.state === 'stopped') stopped = event;
        continue;
      }
      report(event, json, saver);
      if (event.type === 'logged-out') loggedOut = event.reason;
    }
    await saver.settled();
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await session.close();
  }
  switch (stopped?.reason) {
    case 'stopped':
      if (saver.failures > 0) process.exitCode = 1;
      return;
    case 'logged-out': {
      const error = stopped.error;
      const reason = loggedOut ?? (isDeviceRemovedError(error) ? removalReason(error) : 'removed');
      // Wipe the keys and say so, exactly as the next command would.
      if (context.profile !== undefined) await markProfileLoggedOut(context.profile, reason);
      throw loggedOutError(reason === '' ? 'removed' : reason);
    }
    case 'replaced':
      throw new CliError(
        'another connection of this device replaced this one (another quintet command on this profile?); stopped following',
      );
    case 'failed':
      // Only an Error carries a code and message worth showing as is.
      if (stopped.error instanceof Error) throw stopped.error;
      throw new CliError('the connection to the server failed');
    case undefined:
      throw new CliError('the connection to the server closed unexpectedly');
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
      runCommand({}, async (context) => {
        const json = options.json === true;
        if (options.follow === true) {
          await follow(options, json, context);
          return;
        }
        const session = await openClientSession(options, true, context);
        const saver = new AttachmentSaver(
          session.client,
          () => session.serverUrl,
          mediaDir(options.mediaDir, context.profile),
          (message, saved) => printMessage(message, json, saved),
        );
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
            report(event, json, saver);
            if (event.type === 'logged-out') loggedOut = event.reason;
            if (event.type === 'disconnected') {
              disconnected = true;
              break;
            }
            if (event.type === 'queue-drained' && !drained) {
              drained = true;
              // Downloads need the connection (their credential): close after them.
              setTimeout(
                () => void saver.settled().then(() => session.client.close()),
                DRAIN_GRACE_MS,
              );
            }
          }
          await saver.settled();
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
        if (saver.failures > 0) process.exitCode = 1;
        if (interrupted || drained) return;
        if (timedOut) {
          throw new CliError('timed out before the server finished sending queued messages');
        }
        if (disconnected) throw new CliError('the connection to the server closed unexpectedly');
      }),
    );
}
