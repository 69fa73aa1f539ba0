/**
 * The messages a device holds for one chat (an account name, or a group
 * id), oldest first — imported history included — each with its read
 * state on this device. What `quintet history` prints, and the SDK's
 * per-chat query.
 *
 * Read: an outgoing message (this account wrote it), or an incoming one
 * with a read mark. Marks come from the same sources the chat list counts
 * (chat-list.ts): this device, read syncs of the account's other devices,
 * an imported archive, and a companion's bootstrap read markers.
 *
 * Disappearing messages past their expiry at `now` are left out, as are
 * the marks a sweep leaves behind (they hold no text, only the fact).
 */
import type { DeviceStoreView } from './store/device-store.js';
import type { StoredMessage } from './store/records.js';

/** One message of a chat with its read state. */
export interface ChatHistoryEntry {
  readonly message: StoredMessage;
  /** Outgoing, or incoming and marked read on this device. */
  readonly read: boolean;
  /** When an incoming message was marked read (ms); absent when unread or outgoing. */
  readonly readAt?: number;
}

/** Options of `chatHistory`. */
export interface ChatHistoryOptions {
  /** Only the newest N messages (still oldest first). */
  readonly limit?: number;
  /** The time expiry is judged at (ms). */
  readonly now: number;
}

const PAGE = 1000;

async function entryOf(store: DeviceStoreView, message: StoredMessage): Promise<ChatHistoryEntry> {
  if (message.outgoing) return { message, read: true };
  const readAt = await store.read.readAt(message.chat, message.id);
  return readAt === undefined ? { message, read: false } : { message, read: true, readAt };
}

/**
 * The chat's messages in pages, oldest first. Without a limit each page is
 * yielded as it is read, so a long chat never sits in memory whole; with
 * one, a single page of the newest `limit` at the end.
 */
export async function* chatHistory(
  store: DeviceStoreView,
  chat: string,
  options: ChatHistoryOptions,
): AsyncIterable<ChatHistoryEntry[]> {
  const { limit, now } = options;
  const shown = (m: StoredMessage): boolean =>
    m.deleted !== 'expired' && (m.expiresAt === undefined || m.expiresAt > now);
  const kept: StoredMessage[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await store.messages.page(chat, {
      limit: PAGE,
      ...(after === undefined ? {} : { after }),
    });
    const messages = page.messages.filter(shown);
    if (limit === undefined) {
      const entries: ChatHistoryEntry[] = [];
      for (const message of messages) entries.push(await entryOf(store, message));
      if (entries.length > 0) yield entries;
    } else {
      kept.push(...messages);
      if (kept.length > limit) kept.splice(0, kept.length - limit);
    }
    if (page.next === undefined) break;
    after = page.next;
  }
  if (limit === undefined || kept.length === 0) return;
  const entries: ChatHistoryEntry[] = [];
  for (const message of kept) entries.push(await entryOf(store, message));
  yield entries;
}
