/**
 * The bodies of `react`, `edit`, `delete`, `timer`, `typing` (commands/chat.ts) and
 * the chat and message-id arguments `send --reply-to` shares. The rules
 * every receiver enforces (author only, windows, admins) are checked by the
 * SDK before anything is sent: a refusal is a `ChatError`, reported by
 * cli-error.ts with its code and a non-zero exit.
 */
import { fromHex, MESSAGE_ID_LENGTH, parseGroupId, validateAccountName } from '../../sdk/index.js';
import { groupNoticeLine } from '../commands/group.js';
import type { ChatOptions } from '../commands/chat.js';
import { CliError } from '../cli-error.js';
import { openClientSession, type ClientSession, type SessionContext } from '../session.js';
import { terminalText } from '../terminal-text.js';
import { timerLabel } from '../commands/chat-lines.js';

/** Group ids are UUID text (any case); everything else must be an account name. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The chat as the store names it: a canonical group id, or a valid account name. */
export function parseChat(text: string): string {
  if (UUID.test(text)) return parseGroupId(text);
  validateAccountName(text);
  return text;
}

/** A message id in hex, exactly MESSAGE_ID_LENGTH bytes. */
export function parseMessageId(text: string): Uint8Array {
  const bytes = fromHex(text);
  if (bytes?.length !== MESSAGE_ID_LENGTH) {
    throw new CliError(
      `invalid message id: ${MESSAGE_ID_LENGTH * 2} hex digits, as \`receive --json\` prints them`,
    );
  }
  return bytes;
}

/** Runs `body` on a session that leaves queued messages on the server. */
export async function withChatSession(
  options: ChatOptions,
  context: SessionContext,
  body: (session: ClientSession) => Promise<void>,
): Promise<void> {
  const session = await openClientSession(options, false, context);
  try {
    await body(session);
  } finally {
    await session.close();
    for await (const event of session.events) {
      const line = groupNoticeLine(event);
      if (line !== undefined) process.stderr.write(`${line}\n`);
    }
  }
}

function done(options: ChatOptions, result: Record<string, unknown>, line: string): void {
  process.stdout.write(
    options.json === true ? `${JSON.stringify(result)}\n` : `${terminalText(line)}\n`,
  );
}

/** `react <chat> <id> <emoji>` and `react <chat> <id> --remove`. */
export function react(
  chatText: string,
  idText: string,
  emoji: string | undefined,
  options: ChatOptions & { readonly remove?: boolean },
  context: SessionContext,
): Promise<void> {
  const chat = parseChat(chatText);
  const id = parseMessageId(idText);
  const remove = options.remove === true;
  if (remove && emoji !== undefined) throw new CliError('give an emoji or --remove, not both');
  if (!remove && emoji === undefined) throw new CliError('give an emoji (or --remove)');
  return withChatSession(options, context, async (session) => {
    if (emoji === undefined) await session.client.chat.removeReaction(chat, id);
    else await session.client.chat.react(chat, id, emoji);
    done(
      options,
      { chat, id: idText.toLowerCase(), emoji: emoji ?? '', removed: remove },
      remove ? `removed your reaction to ${idText}` : `reacted ${emoji ?? ''} to ${idText}`,
    );
  });
}

/** `edit <chat> <id> <text>`. */
export function edit(
  chatText: string,
  idText: string,
  text: string,
  options: ChatOptions,
  context: SessionContext,
): Promise<void> {
  const chat = parseChat(chatText);
  const id = parseMessageId(idText);
  return withChatSession(options, context, async (session) => {
    await session.client.chat.edit(chat, id, text);
    done(options, { chat, id: idText.toLowerCase(), text }, `edited ${idText}`);
  });
}

/** `delete <chat> <id> [--for-everyone]`. */
export function remove(
  chatText: string,
  idText: string,
  options: ChatOptions & { readonly forEveryone?: boolean },
  context: SessionContext,
): Promise<void> {
  const chat = parseChat(chatText);
  const id = parseMessageId(idText);
  const everyone = options.forEveryone === true;
  return withChatSession(options, context, async (session) => {
    if (everyone) await session.client.chat.deleteForEveryone(chat, id);
    else await session.client.chat.deleteForMe(chat, [id]);
    done(
      options,
      { chat, id: idText.toLowerCase(), scope: everyone ? 'everyone' : 'me' },
      everyone ? `deleted ${idText} for everyone` : `deleted ${idText} on your devices`,
    );
  });
}

/** `timer <chat> <off|24h|7d|90d>`. */
export function timer(
  chatText: string,
  seconds: number,
  options: ChatOptions,
  context: SessionContext,
): Promise<void> {
  const chat = parseChat(chatText);
  return withChatSession(options, context, async (session) => {
    await session.client.chat.setTimer(chat, seconds);
    done(options, { chat, seconds }, `disappearing messages in ${chat}: ${timerLabel(seconds)}`);
  });
}

/**
 * `typing <chat> [--stop]`: one typing indicator, to a 1:1 chat or a group.
 * It is ephemeral, so it is not an error that nobody is online to see it;
 * when nothing is sent the result says so (`sent: false`) and why: the
 * device setting is off, or (in a group) no member device holds this
 * device's sender key yet, which its next message there brings.
 */
export function typing(
  chatText: string,
  options: ChatOptions & { readonly stop?: boolean },
  context: SessionContext,
): Promise<void> {
  const chat = parseChat(chatText);
  const state = options.stop === true ? 'stopped' : 'started';
  return withChatSession(options, context, async (session) => {
    const sent = await session.client.typing.send(chat, state);
    const why = (await session.client.typing.enabled())
      ? 'no member device can read an indicator yet (send a message to the group first): nothing sent'
      : 'typing indicators are off on this device (quintet settings typing on): nothing sent';
    done(options, { chat, state, sent }, sent ? `typing ${state} in ${chat}` : why);
  });
}
