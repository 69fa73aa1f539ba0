/**
 * Chat-state tables beside the messages (the message state itself lives in
 * the stored message record, store/records.ts):
 *
 * - `chat-timer`: each chat's disappearing-timer setting;
 * - `chat-pending`: events whose target message has not arrived, keyed
 *   chat / target id / event id, applied when the message comes;
 * - `chat-expiry`: an index of messages by expiry (zero-padded ms / chat /
 *   id), written by `MessageStore.put`, read by the sweep oldest first.
 */
import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import {
  ChatTimerRecordSchema,
  PendingChatEventRecordSchema,
} from '../../../gen/quintet/v1/client_store_pb.js';
import { fromHex, toHex } from '../bytes.js';
import { expiryKey } from './expiry-key.js';
import { ClientError } from '../errors.js';
import { TABLES } from '../store/client-stores.js';
import type { KeyValueView } from '../store/kv.js';
import type { ChatTimer, MessageEvent } from './chat-state.js';

/** A message the expiry index names. */
export interface ExpiryEntry {
  readonly chat: string;
  readonly id: Uint8Array;
  readonly expiresAt: number;
}

/** The chat-state tables, direct or inside a transaction. */
export interface ChatStore {
  timer(chat: string): Promise<ChatTimer | undefined>;
  putTimer(chat: string, timer: ChatTimer): Promise<void>;
  /** Keeps an event for a message not here yet; false when the chat's pending bound is reached. */
  addPending(event: MessageEvent, limit: number): Promise<boolean>;
  /** The pending events for one message; they are forgotten in the same step. */
  takePending(chat: string, id: Uint8Array): Promise<MessageEvent[]>;
  /** Index entries with an expiry at or before `now`, oldest first, at most `limit`. */
  expiredBy(now: number, limit: number): Promise<ExpiryEntry[]>;
  /** Drops one index row (its message is gone or no longer expires then). */
  forgetExpiry(entry: ExpiryEntry): Promise<void>;
}

function invalid(what: string, cause?: unknown): ClientError {
  return new ClientError('invalid-record', `stored ${what} record does not parse`, { cause });
}

type PendingInit = MessageInitShape<typeof PendingChatEventRecordSchema>;

function encodePending(event: MessageEvent): Uint8Array {
  const target = { author: event.target.author, messageId: event.target.id };
  let kind: PendingInit['kind'];
  switch (event.kind) {
    case 'reaction':
      kind = {
        case: 'reaction',
        value: { target, emoji: event.emoji, remove: event.remove },
      };
      break;
    case 'edit':
      kind = { case: 'edit', value: { target, text: event.text } };
      break;
    case 'delete':
      kind = { case: 'delete', value: { target } };
      break;
    case 'delete-for-me':
      kind = { case: 'deleteForMe', value: true };
      break;
  }
  return toBinary(
    PendingChatEventRecordSchema,
    create(PendingChatEventRecordSchema, {
      chat: event.chat,
      sender: event.sender,
      senderDevice: event.senderDevice,
      eventId: event.eventId,
      at: BigInt(event.at),
      target,
      kind,
    }),
  );
}

function decodePending(bytes: Uint8Array): MessageEvent {
  let record;
  try {
    record = fromBinary(PendingChatEventRecordSchema, bytes);
  } catch (error) {
    throw invalid('pending chat event', error);
  }
  if (record.target === undefined) throw invalid('pending chat event');
  const base = {
    chat: record.chat,
    sender: record.sender,
    senderDevice: record.senderDevice,
    eventId: record.eventId,
    at: Number(record.at),
    target: { author: record.target.author, id: record.target.messageId },
  };
  switch (record.kind.case) {
    case 'reaction':
      return {
        ...base,
        kind: 'reaction',
        emoji: record.kind.value.emoji,
        remove: record.kind.value.remove,
      };
    case 'edit':
      return { ...base, kind: 'edit', text: record.kind.value.text };
    case 'delete':
      return { ...base, kind: 'delete' };
    case 'deleteForMe':
      return { ...base, kind: 'delete-for-me' };
    case undefined:
      throw invalid('pending chat event');
  }
}

function parseExpiryKey(key: string): ExpiryEntry | undefined {
  const first = key.indexOf('/');
  const last = key.lastIndexOf('/');
  const id = fromHex(key.slice(last + 1));
  if (first <= 0 || last <= first || id === undefined) return undefined;
  return { expiresAt: Number(key.slice(0, first)), chat: key.slice(first + 1, last), id };
}

export function chatStore(view: KeyValueView): ChatStore {
  return {
    async timer(chat) {
      const bytes = await view.get(TABLES.chatTimer, chat);
      if (bytes === undefined) return undefined;
      let record;
      try {
        record = fromBinary(ChatTimerRecordSchema, bytes);
      } catch (error) {
        throw invalid('chat timer', error);
      }
      return {
        seconds: record.seconds,
        at: Number(record.at),
        sender: record.sender,
        device: record.device,
        eventId: record.eventId,
      };
    },
    putTimer: (chat, timer) =>
      view.put(
        TABLES.chatTimer,
        chat,
        toBinary(
          ChatTimerRecordSchema,
          create(ChatTimerRecordSchema, { ...timer, at: BigInt(timer.at) }),
        ),
      ),
    async addPending(event, limit) {
      const key = `${event.chat}/${toHex(event.target.id)}/${toHex(event.eventId)}`;
      if ((await view.get(TABLES.chatPending, key)) !== undefined) return true;
      const held = await view.listPage(TABLES.chatPending, `${event.chat}/`, undefined, limit);
      if (held.length >= limit) return false;
      await view.put(TABLES.chatPending, key, encodePending(event));
      return true;
    },
    async takePending(chat, id) {
      const rows = await view.list(TABLES.chatPending, `${chat}/${toHex(id)}/`);
      const events: MessageEvent[] = [];
      for (const row of rows) {
        events.push(decodePending(row.value));
        await view.delete(TABLES.chatPending, row.key);
      }
      return events;
    },
    async expiredBy(now, limit) {
      const rows = await view.listPage(TABLES.chatExpiry, '', undefined, limit);
      const out: ExpiryEntry[] = [];
      for (const row of rows) {
        const entry = parseExpiryKey(row.key);
        if (entry === undefined) {
          // Not a key this module wrote: drop it rather than stop every sweep.
          await view.delete(TABLES.chatExpiry, row.key);
          continue;
        }
        if (entry.expiresAt > now) break;
        out.push(entry);
      }
      return out;
    },
    forgetExpiry: (entry) =>
      view.delete(TABLES.chatExpiry, expiryKey(entry.expiresAt, entry.chat, entry.id)),
  };
}
