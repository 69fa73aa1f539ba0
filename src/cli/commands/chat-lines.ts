/**
 * How the CLI prints chat state: the state fields of a message (edited,
 * deleted, reactions, the quoted reply, expiry) for `receive` and
 * `history`, and one line per chat event (edit, delete, reaction, timer
 * change, refusal). JSON is exact; text lines pass everything a peer chose
 * (names, texts, emoji) through terminalText.
 */
import type { ClientEvent, StoredMessage } from '../../sdk/index.js';
import { toHex } from '../../sdk/values.js';
import { terminalMessage, terminalText } from '../terminal-text.js';

/** `off`, `24h`, `7d`, `90d`, or seconds for any other value a peer sent. */
export function timerLabel(seconds: number): string {
  switch (seconds) {
    case 0:
      return 'off';
    case 86_400:
      return '24h';
    case 604_800:
      return '7d';
    case 7_776_000:
      return '90d';
    default:
      return `${seconds}s`;
  }
}

/** Account → emoji of the reactions that stand (removals are kept only as marks). */
function currentReactions(message: StoredMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [account, mark] of Object.entries(message.reactions ?? {})) {
    if (!mark.removed) out[account] = mark.emoji;
  }
  return out;
}

/** The `--json` state fields of a message. */
export function messageStateJson(message: StoredMessage): Record<string, unknown> {
  const quote = message.replyTo;
  return {
    edited: message.edit !== undefined,
    ...(message.edit === undefined ? {} : { editedAt: message.edit.at }),
    deleted: message.deleted ?? null,
    reactions: currentReactions(message),
    ...(quote === undefined
      ? {}
      : { replyTo: { id: toHex(quote.id), author: quote.author, snippet: quote.snippet } }),
    ...(message.expiresAt === undefined ? {} : { expiresAt: message.expiresAt }),
    ...(message.timerChange === undefined ? {} : { timerChange: message.timerChange }),
  };
}

/**
 * The text-mode body of a message: its text with short marks — a quote
 * line before, `(edited)`, `[deleted]`, reactions and expiry after.
 */
export function messageStateText(message: StoredMessage): string {
  if (message.timerChange !== undefined) {
    return `set disappearing messages to ${timerLabel(message.timerChange)}`;
  }
  const body =
    message.deleted === undefined
      ? terminalMessage(message.text)
      : message.deleted === 'everyone'
        ? '[deleted: this message was deleted]'
        : `[deleted (${message.deleted})]`;
  const marks: string[] = [];
  if (message.edit !== undefined && message.deleted === undefined) marks.push('(edited)');
  const reactions = Object.entries(currentReactions(message));
  if (reactions.length > 0) {
    marks.push(`[${reactions.map(([who, emoji]) => terminalText(`${emoji} ${who}`)).join(', ')}]`);
  }
  if (message.expiresAt !== undefined) {
    marks.push(`(disappears ${new Date(message.expiresAt).toISOString()})`);
  }
  const quote = message.replyTo;
  const reply =
    quote === undefined
      ? ''
      : `↪ ${terminalText(quote.author)}: "${terminalText(quote.snippet.slice(0, 40))}" `;
  return [`${reply}${body}`, ...marks].join(' ');
}

/** The chat events `chatEventLine` prints. */
export type ChatLineEvent = Extract<
  ClientEvent,
  {
    type:
      'message-edited' | 'message-deleted' | 'reaction' | 'timer-changed' | 'chat-event-refused';
  }
>;

/** Whether `event` is one of the chat events. */
export function isChatLineEvent(event: ClientEvent): event is ChatLineEvent {
  switch (event.type) {
    case 'message-edited':
    case 'message-deleted':
    case 'reaction':
    case 'timer-changed':
    case 'chat-event-refused':
      return true;
    default:
      return false;
  }
}

/** One JSON object (with `type`) for a chat event. */
export function chatEventJson(event: ChatLineEvent): Record<string, unknown> {
  switch (event.type) {
    case 'message-edited':
      return {
        type: event.type,
        chat: event.chat,
        id: toHex(event.messageId),
        text: event.text,
        editedAt: event.editedAt,
      };
    case 'message-deleted':
      return { type: event.type, chat: event.chat, id: toHex(event.messageId), scope: event.scope };
    case 'reaction':
      return {
        type: event.type,
        chat: event.chat,
        id: toHex(event.messageId),
        from: event.reactor,
        emoji: event.emoji,
        removed: event.removed,
      };
    case 'timer-changed':
      return {
        type: event.type,
        chat: event.chat,
        seconds: event.seconds,
        by: event.by,
        at: event.at,
      };
    case 'chat-event-refused':
      return {
        type: event.type,
        chat: event.chat,
        from: event.from,
        fromDevice: event.fromDevice,
        event: event.event,
        ...(event.messageId === undefined ? {} : { id: toHex(event.messageId) }),
        reason: event.reason,
      };
  }
}

/** The short text line for a chat event (a refusal is a warning, for stderr). */
export function chatEventText(event: ChatLineEvent): string {
  switch (event.type) {
    case 'message-edited':
      return `${terminalText(event.chat)}: ${toHex(event.messageId)} edited: ${terminalMessage(event.text)}`;
    case 'message-deleted':
      return `${terminalText(event.chat)}: ${toHex(event.messageId)} deleted (${event.scope})`;
    case 'reaction':
      return event.removed
        ? terminalText(
            `${event.chat}: ${event.reactor} removed a reaction to ${toHex(event.messageId)}`,
          )
        : terminalText(
            `${event.chat}: ${event.reactor} reacted ${event.emoji} to ${toHex(event.messageId)}`,
          );
    case 'timer-changed':
      return terminalText(
        `${event.chat}: ${event.by} set disappearing messages to ${timerLabel(event.seconds)}`,
      );
    case 'chat-event-refused': {
      const target = event.messageId === undefined ? '' : ` on ${toHex(event.messageId)}`;
      return terminalText(
        `warning: ${event.chat}: refused a ${event.event}${target} from ${event.from} device ${event.fromDevice} (${event.reason})`,
      );
    }
  }
}
