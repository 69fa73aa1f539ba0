/** The body of `quintet receive` (commands/receive.ts defines the command). */
import type {
  ClientEvent,
  ConnectionStateEvent,
  HistorySyncEvent,
  StoredMessage,
} from '../../sdk/index.js';
import { toHex } from '../../sdk/index.js';
import { CliError } from '../cli-error.js';
import {
  isDeviceRemovedError,
  loggedOutError,
  markProfileLoggedOut,
  removalReason,
} from '../commands/logged-out.js';
import { noticeLine } from '../commands/notices.js';
import { groupNoticeLine } from '../commands/group.js';
import { connectionLine, formatMessage, type ReceiveOptions } from '../commands/receive.js';
import { terminalText } from '../terminal-text.js';
import {
  chatEventJson,
  chatEventText,
  isChatLineEvent,
  type ChatLineEvent,
} from '../commands/chat-lines.js';
import { openClientSession, openFollowSession, type SessionContext } from '../session.js';
import { AttachmentSaver, type SavedAttachment } from '../attachment-saver.js';
import { mediaDir } from '../attachment-transfer.js';

/** Wait after QueueDrained for envelopes already on the wire. */
const DRAIN_GRACE_MS = 300;

function printMessage(message: StoredMessage, json: boolean, saved?: SavedAttachment): void {
  process.stdout.write(`${formatMessage(message, json, saved)}\n`);
}

/** A chat event: a JSON line, or a short text line (a refusal: a warning on stderr). */
function reportChatEvent(event: ChatLineEvent, json: boolean): void {
  if (json) process.stdout.write(`${JSON.stringify(chatEventJson(event))}\n`);
  const line = `${chatEventText(event)}\n`;
  if (event.type === 'chat-event-refused') process.stderr.write(line);
  else if (!json) process.stdout.write(line);
}

/**
 * A history import (docs/history.md) runs in the receiving session: its
 * milestones, never each batch, as a JSON line (with --json) and on stderr.
 */
function reportHistory(event: HistorySyncEvent, json: boolean): void {
  if (event.phase === 'progress' || event.phase === 'started') return;
  if (json) {
    process.stdout.write(
      `${JSON.stringify({
        type: 'history-sync',
        phase: event.phase,
        messages: event.messages,
        totalMessages: event.totalMessages,
        ...(event.code === undefined ? {} : { code: event.code }),
        ...(event.reason === undefined ? {} : { reason: event.reason }),
      })}\n`,
    );
  }
  const line =
    event.phase === 'bootstrap'
      ? 'received account state from the primary (groups, contacts, read markers)'
      : event.phase === 'done'
        ? `history synced: ${event.messages} messages`
        : event.phase === 'declined'
          ? 'history: none (declined on the primary)'
          : `warning: history not imported (${event.code ?? 'failed'}): ${event.reason ?? ''}; this device works without it`;
  process.stderr.write(`${terminalText(line)}\n`);
}

function report(event: ClientEvent, json: boolean, saver: AttachmentSaver): void {
  if (isChatLineEvent(event)) {
    reportChatEvent(event, json);
    return;
  }
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
    case 'history-sync':
      reportHistory(event, json);
      return;
    case 'devices-changed':
    case 'receipt':
    case 'retry-request':
    case 'queue-drained':
    case 'pre-keys-uploaded':
    case 'disconnected':
      return;
    case 'typing':
      // Ephemeral: a JSON line for programs; a terminal gets no line per keystroke.
      if (json) {
        process.stdout.write(
          `${JSON.stringify({ type: 'typing', chat: event.chat, from: event.from, fromDevice: event.fromDevice, state: event.state, expiresAt: event.expiresAt })}\n`,
        );
      }
      return;
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
        const api = session.device.api;
        if (api === undefined) throw new CliError('not connected to the server');
        return api.getBlobCredential();
      },
    },
    () => session.device.server,
    mediaDir(options.mediaDir, context.profile),
    (message, saved) => printMessage(message, json, saved),
  );
  const stop = (): void => void session.device.close();
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
      // A stop for a reason that is no Error gets the generic line below.
      if (stopped.error instanceof Error) throw stopped.error;
      throw new CliError('the connection to the server failed');
    case undefined:
      throw new CliError('the connection to the server closed unexpectedly');
  }
}

/** Prints what is queued (or, with `--follow`, everything from now on). */
export async function receive(options: ReceiveOptions, context: SessionContext): Promise<void> {
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
        setTimeout(() => void saver.settled().then(() => session.client.close()), DRAIN_GRACE_MS);
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
}
