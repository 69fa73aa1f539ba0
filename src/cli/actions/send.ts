/**
 * The body of `quintet send` (commands/send.ts defines the command), and
 * the attachment helpers `group send` shares.
 */
import {
  type Attachment,
  ClientError,
  formatServerList,
  MESSAGE_ID_LENGTH,
  parseServerList,
  type SentText,
  toHex,
  validateAccountName,
} from '../../sdk/index.js';
import { printNotices } from '../commands/notices.js';
import type { SendOptions } from '../commands/send.js';
import {
  nodeContext,
  openClientSession,
  type ClientCommandOptions,
  type SessionContext,
} from '../session.js';
import { CliError } from '../cli-error.js';
import { sessionBlobs, uploadFile } from '../attachment-transfer.js';
import { parseMessageId, withChatSession } from './chat.js';

/** The message text: the argument, or the caption of a file. */
export function messageBody(
  text: string | undefined,
  options: { readonly file?: string; readonly caption?: string },
): string {
  if (options.file === undefined) {
    if (options.caption !== undefined) throw new CliError('--caption needs --file');
    if (text === undefined) throw new CliError('nothing to send: give a text or --file <path>');
    return text;
  }
  if (text !== undefined && options.caption !== undefined) {
    throw new CliError('give the caption either as the text or as --caption, not both');
  }
  return options.caption ?? text ?? '';
}

/** Uploads `--file` over its own authenticated session (the blob credential needs one). */
export async function uploadWithSession(
  options: ClientCommandOptions & { readonly file?: string },
  context: SessionContext,
): Promise<Attachment | undefined> {
  if (options.file === undefined) return undefined;
  const session = await openClientSession(options, false, context);
  try {
    return await uploadFile(sessionBlobs(session.client, session.serverUrl), options.file);
  } finally {
    await session.close();
  }
}

/** The `--json` description of a sent attachment (never its key). */
export function attachmentJson(attachment: Attachment | undefined): object {
  if (attachment === undefined) return {};
  return {
    attachment: {
      name: attachment.fileName,
      mime: attachment.mimeType,
      size: attachment.size,
      sha256: toHex(attachment.plaintextSha256),
    },
  };
}

/** Sends `text` (or `--file`) to `account` and prints what was sent. */
export async function send(
  account: string,
  text: string | undefined,
  options: SendOptions,
  context: SessionContext,
): Promise<void> {
  validateAccountName(account);
  const body = messageBody(text, options);
  if (options.replyTo !== undefined) {
    await sendReply(account, body, parseMessageId(options.replyTo), options, context);
    return;
  }
  const attachment =
    options.file === undefined ? undefined : await uploadWithSession(options, context);
  const sent = await sendWithFailover(options, context, account, body, attachment);
  const id = toHex(sent.message.id);
  if (options.json === true) {
    process.stdout.write(
      `${JSON.stringify({ id, to: account, devices: sent.outcome.devices, refused: sent.outcome.refused, ownDevices: sent.ownDevices?.devices ?? [], queuedOnly: sent.outcome.queuedOnly, sentAt: sent.message.sentAt, ...attachmentJson(attachment) })}\n`,
    );
  } else {
    const where = sent.outcome.queuedOnly ? 'queued' : 'delivered to the server';
    process.stdout.write(
      `sent ${id} to ${account} (${sent.outcome.devices.length} device(s), ${where})\n`,
    );
  }
}

/**
 * `send --reply-to`: a chat message quoting an earlier one of the same chat
 * (the SDK checks the quoted message exists and is not deleted). Without
 * the failover of a plain send: the quote is taken from this device's store.
 */
async function sendReply(
  account: string,
  body: string,
  replyTo: Uint8Array,
  options: SendOptions,
  context: SessionContext,
): Promise<void> {
  await withChatSession(options, context, async (session) => {
    const attachment =
      options.file === undefined
        ? undefined
        : await uploadFile(sessionBlobs(session.client, session.serverUrl), options.file);
    const sent = await session.client.chat.send(account, body, {
      replyTo,
      ...(attachment === undefined ? {} : { attachment }),
    });
    const id = toHex(sent.id);
    if (options.json === true) {
      process.stdout.write(
        `${JSON.stringify({ id, to: account, replyTo: toHex(replyTo), sentAt: sent.sentAt, ...attachmentJson(attachment) })}\n`,
      );
    } else {
      process.stdout.write(`sent ${id} to ${account} (a reply to ${toHex(replyTo)})\n`);
    }
  });
}

/**
 * Sends over a session on the first reachable server; when the connection
 * is lost with the send in flight (the server may or may not have queued
 * it), sends it again from the next server of the list, under the same
 * message id and timestamp, which the recipient shows once.
 */
async function sendWithFailover(
  options: ClientCommandOptions,
  context: SessionContext,
  account: string,
  text: string,
  attachment?: Attachment,
): Promise<SentText> {
  const prepared = {
    id: nodeContext.random(MESSAGE_ID_LENGTH),
    timestamp: nodeContext.clock.now(),
  };
  let server = options.server;
  for (let attempt = 1; ; attempt++) {
    const session = await openClientSession({ ...options, server }, false, context);
    try {
      return await session.client.sendText(account, text, prepared, attachment);
    } catch (error) {
      const servers = parseServerList(context.server ?? session.serverUrl);
      const lost = ClientError.is(error, 'transport-closed') || ClientError.is(error, 'timeout');
      if (!lost || attempt >= servers.length + 1) throw error;
      // The server that dropped the send goes last.
      const rest = servers.filter((url) => url !== session.serverUrl);
      server = formatServerList([...rest, session.serverUrl]);
    } finally {
      await session.close();
      await printNotices(session.events);
    }
  }
}
