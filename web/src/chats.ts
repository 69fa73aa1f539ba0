/**
 * The chat list and unread counts, derived from the stored messages.
 * The core keeps no "read" flag on incoming messages (read receipts are a
 * wire message, not local state), so the app keeps a per-chat high-water
 * mark: incoming messages received after it are unread.
 */
import type { DeviceStore, StoredMessage } from '../../src/sdk/browser.js';
import { chatTitle } from './chat-info.js';

/** One row of the chat list. */
export interface ChatSummary {
  readonly chat: string;
  /** The peer's account name, or the group's name (chat-info.ts). */
  readonly title: string;
  readonly last: StoredMessage | undefined;
  readonly unread: number;
}

// Settings names are opaque to the core; this prefix keeps the app's apart.
const READ_MARK_PREFIX = 'web.read/';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The receive time up to which `chat` has been read (0 when never opened). */
export async function readMark(store: DeviceStore, chat: string): Promise<number> {
  const bytes = await store.settings.get(READ_MARK_PREFIX + chat);
  const value = bytes === undefined ? 0 : Number(decoder.decode(bytes));
  return Number.isFinite(value) ? value : 0;
}

/** Moves the read mark of `chat` forward to `receivedAt`. */
export async function setReadMark(
  store: DeviceStore,
  chat: string,
  receivedAt: number,
): Promise<void> {
  if (receivedAt <= (await readMark(store, chat))) return;
  await store.settings.put(READ_MARK_PREFIX + chat, encoder.encode(String(receivedAt)));
}

/** Incoming messages of `chat` received after the read mark. */
export function unreadOf(messages: readonly StoredMessage[], mark: number): StoredMessage[] {
  return messages.filter((m) => !m.outgoing && m.receivedAt > mark);
}

/**
 * Of the messages past this tab's read mark, those with no read mark in the
 * core either: read on another device of the account (a read sync) or on
 * the primary before this companion linked (history, bootstrap state).
 */
async function countUnread(
  store: DeviceStore,
  chat: string,
  candidates: readonly StoredMessage[],
): Promise<number> {
  let unread = 0;
  for (const message of candidates) {
    if ((await store.read.readAt(chat, message.id)) === undefined) unread++;
  }
  return unread;
}

/**
 * Every chat with its last message and unread count, most recent first.
 * `extra` adds chats that have no messages yet (a just-started new chat).
 */
export async function listChats(
  store: DeviceStore,
  extra: readonly string[] = [],
): Promise<ChatSummary[]> {
  const byChat = new Map<string, StoredMessage[]>();
  // Contacts: a new companion's come from its primary's account state, so
  // the account's chats show before any message arrives.
  for (const chat of [...extra, ...(await store.contacts.list())]) byChat.set(chat, []);
  for (const message of await store.messages.list()) {
    const list = byChat.get(message.chat) ?? [];
    list.push(message);
    byChat.set(message.chat, list);
  }
  const summaries = await Promise.all(
    [...byChat].map(async ([chat, messages]) => ({
      chat,
      title: await chatTitle(store, chat),
      last: messages.at(-1),
      unread: await countUnread(store, chat, unreadOf(messages, await readMark(store, chat))),
    })),
  );
  const time = (s: ChatSummary): number => s.last?.sentAt ?? Number.MAX_SAFE_INTEGER;
  return summaries.sort((a, b) => time(b) - time(a));
}
