/**
 * The chat list of a device: every chat it holds a message of, every group
 * it is in and every contact (a companion's come from its primary's
 * bootstrap state, so a new device shows the account's chats before any
 * message arrives), with message and unread counts.
 *
 * Unread: an incoming message with no read mark. Marks come from this
 * device (`markRead`), from read syncs of the account's other devices, from
 * an imported archive (each message's read time on the primary) and from
 * the bootstrap state's per-chat read states (history/bootstrap.ts).
 */
import { isGroupChat } from './groups/group-id.js';
import type { DeviceStoreView } from './store/device-store.js';

/** One row of the chat list. */
export interface ChatListEntry {
  readonly chat: string;
  readonly kind: 'direct' | 'group';
  readonly messages: number;
  readonly unread: number;
  /** Sent time (ms) of the newest message; absent for a chat without messages. */
  readonly lastSentAt?: number;
}

const PAGE = 1000;

async function summarize(store: DeviceStoreView, chat: string): Promise<ChatListEntry> {
  let messages = 0;
  let unread = 0;
  let lastSentAt: number | undefined;
  let after: string | undefined;
  for (;;) {
    const page = await store.messages.page(chat, {
      limit: PAGE,
      ...(after === undefined ? {} : { after }),
    });
    for (const message of page.messages) {
      messages++;
      lastSentAt = message.sentAt;
      if (!message.outgoing && (await store.read.readAt(chat, message.id)) === undefined) {
        unread++;
      }
    }
    if (page.next === undefined) break;
    after = page.next;
  }
  return {
    chat,
    kind: isGroupChat(chat) ? 'group' : 'direct',
    messages,
    unread,
    ...(lastSentAt === undefined ? {} : { lastSentAt }),
  };
}

/** Every chat, the most recent first; chats without messages last, by name. */
export async function listChats(store: DeviceStoreView, self: string): Promise<ChatListEntry[]> {
  const chats = new Set<string>([
    ...(await store.messages.chats()),
    ...(await store.groups.listGroups()),
    ...(await store.contacts.list()),
  ]);
  chats.delete(self);
  const entries: ChatListEntry[] = [];
  for (const chat of chats) entries.push(await summarize(store, chat));
  return entries.sort(
    (a, b) =>
      (b.lastSentAt ?? -1) - (a.lastSentAt ?? -1) ||
      (a.chat < b.chat ? -1 : a.chat > b.chat ? 1 : 0),
  );
}
