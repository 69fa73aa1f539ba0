/**
 * The client's own stores (everything that is not protocol state), each a
 * small interface over a `KeyValueView`, so the same code runs directly or
 * inside a transaction and on every backend.
 */
import { ClientError } from '../errors.js';
import { toHex } from '../bytes.js';
import type { KeyValueView } from './kv.js';
import { expiryKey } from '../chat/expiry-key.js';
import {
  decodeLocalAccount,
  decodeSentMessage,
  decodeStoredMessage,
  encodeLocalAccount,
  encodeSentMessage,
  encodeStoredMessage,
  type LocalAccount,
  type SentMessage,
  type StoredMessage,
} from './records.js';

/** Table names; part of the persisted format. */
export const TABLES = {
  account: 'account',
  messages: 'messages',
  processed: 'processed',
  sent: 'sent',
  settings: 'settings',
  read: 'read',
  /**
   * The messages again, keyed chat / zero-padded sender time / id, so a
   * chat reads oldest first a page at a time (history, archive building).
   */
  chatOrder: 'chat-order',
  /** Chat state (chat/chat-store.ts): timers, pending events, the expiry index. */
  chatTimer: 'chat-timer',
  chatPending: 'chat-pending',
  chatExpiry: 'chat-expiry',
  /** Progress of one-time store upgrades (chat-order-upgrade.ts), by name. Never synced. */
  upgrades: 'upgrades',
} as const;

/** This device's account record. */
export interface LocalAccountStore {
  get(): Promise<LocalAccount | undefined>;
  /** Like `get`, but throws `ClientError('not-registered')` when there is none. */
  getRequired(): Promise<LocalAccount>;
  put(account: LocalAccount): Promise<void>;
}

/** Chat messages, keyed by chat + message id so a redelivered copy is stored once. */
export interface MessageStore {
  get(chat: string, id: Uint8Array): Promise<StoredMessage | undefined>;
  put(message: StoredMessage): Promise<void>;
  /** Messages of one chat (or all chats), oldest first by the sender's clock. */
  list(chat?: string): Promise<StoredMessage[]>;
  /**
   * One page of a chat (or of every chat, chat by chat, when `chat` is
   * undefined), oldest first by the sender's clock then id; `after` is the
   * `next` cursor of the previous page.
   */
  page(chat: string | undefined, options?: MessagePageOptions): Promise<MessagePage>;
  /** Every chat that holds a message, in key order (one read per chat). */
  chats(): Promise<string[]>;
}

/** Which page of `MessageStore.page`. */
export interface MessagePageOptions {
  /** The previous page's `next`; the first page when absent. */
  readonly after?: string;
  /** At most this many messages (default 500). */
  readonly limit?: number;
}

/** A page of messages and the cursor of the next one (absent at the end). */
export interface MessagePage {
  readonly messages: StoredMessage[];
  readonly next?: string;
}

const DEFAULT_PAGE = 500;

/** The value of an expiry index row (the key says everything). */
const EXPIRY_MARK = new Uint8Array([1]);

/** Marks of envelopes whose effects are committed (keyed by a ciphertext hash). */
export interface ProcessedStore {
  has(key: string): Promise<boolean>;
  mark(key: string, processedAt: number): Promise<void>;
}

/** Recently sent messages, for answering retry requests. */
export interface SentMessageStore {
  get(destination: string, timestamp: number): Promise<SentMessage | undefined>;
  put(message: SentMessage): Promise<void>;
  /** Deletes entries sent before `cutoff` (ms); returns how many. */
  prune(cutoff: number): Promise<number>;
}

/** Opaque per-profile settings (e.g. the PIN hash), by name. */
export interface SettingsStore {
  get(name: string): Promise<Uint8Array | undefined>;
  put(name: string, value: Uint8Array): Promise<void>;
  delete(name: string): Promise<void>;
  /** Every setting whose name starts with `prefix`, in name order. */
  list(prefix: string): Promise<Array<{ name: string; value: Uint8Array }>>;
}

/**
 * Which messages were read on this account (on this device, or on another
 * of the account's devices that sent a read sync), so every device shows a
 * chat read once any of them has.
 */
export interface ReadStateStore {
  /** When the message was read (ms), or undefined when unread. */
  readAt(chat: string, id: Uint8Array): Promise<number | undefined>;
  markRead(chat: string, id: Uint8Array, at: number): Promise<void>;
  /** Per chat, the newest time (ms) one of its messages was read. */
  latestPerChat(): Promise<Map<string, number>>;
}

const ACCOUNT_KEY = 'self';

export function localAccountStore(view: KeyValueView): LocalAccountStore {
  const get = async (): Promise<LocalAccount | undefined> => {
    const bytes = await view.get(TABLES.account, ACCOUNT_KEY);
    return bytes === undefined ? undefined : decodeLocalAccount(bytes);
  };
  return {
    get,
    getRequired: async () => {
      const account = await get();
      if (account === undefined) {
        throw new ClientError('not-registered', 'this profile has no registered account');
      }
      return account;
    },
    put: (account) => view.put(TABLES.account, ACCOUNT_KEY, encodeLocalAccount(account)),
  };
}

// '/' cannot occur in an account name (see src/wire/account-name.ts), so
// chat prefixes never overlap.
function messageKey(chat: string, id: Uint8Array): string {
  return `${chat}/${toHex(id)}`;
}

// 16 digits hold every ms timestamp until the year 318857; zero-padding
// makes the key order the time order.
/** The `chat-order` key of a message: chat / zero-padded sender time / id. */
export function chatOrderKey(message: StoredMessage): string {
  const at = Math.max(0, Math.floor(message.sentAt)).toString().padStart(16, '0');
  return `${message.chat}/${at}/${toHex(message.id)}`;
}

function byTime(a: StoredMessage, b: StoredMessage): number {
  return a.sentAt - b.sentAt || a.receivedAt - b.receivedAt;
}

export function messageStore(view: KeyValueView): MessageStore {
  const list = async (chat?: string): Promise<StoredMessage[]> => {
    const entries = await view.list(TABLES.messages, chat === undefined ? '' : `${chat}/`);
    return entries.map((entry) => decodeStoredMessage(entry.value)).sort(byTime);
  };
  return {
    get: async (chat, id) => {
      const bytes = await view.get(TABLES.messages, messageKey(chat, id));
      return bytes === undefined ? undefined : decodeStoredMessage(bytes);
    },
    put: async (message) => {
      const bytes = encodeStoredMessage(message);
      await view.put(TABLES.messages, messageKey(message.chat, message.id), bytes);
      await view.put(TABLES.chatOrder, chatOrderKey(message), bytes);
      // The sweep finds disappearing messages through this index; a deleted
      // message has nothing left to remove.
      if (message.expiresAt !== undefined) {
        const key = expiryKey(message.expiresAt, message.chat, message.id);
        if (message.deleted === undefined) await view.put(TABLES.chatExpiry, key, EXPIRY_MARK);
        else await view.delete(TABLES.chatExpiry, key);
      }
    },
    list,
    chats: async () => {
      const out: string[] = [];
      let after: string | undefined;
      for (;;) {
        const [row] = await view.listPage(TABLES.chatOrder, '', after, 1);
        if (row === undefined) return out;
        const chat = row.key.slice(0, row.key.indexOf('/'));
        out.push(chat);
        // Every key of this chat sorts below chat + "/\uffff": skip them all.
        after = `${chat}/\uffff`;
      }
    },
    page: async (chat, options = {}) => {
      const limit = options.limit ?? DEFAULT_PAGE;
      const prefix = chat === undefined ? '' : `${chat}/`;
      // Profiles from before `chat-order` existed get it built when their
      // store opens (chat-order-upgrade.ts), so this table is complete.
      const rows = await view.listPage(TABLES.chatOrder, prefix, options.after, limit);
      const messages = rows.map((row) => decodeStoredMessage(row.value));
      const last = rows[rows.length - 1];
      return rows.length === limit && last !== undefined
        ? { messages, next: last.key }
        : { messages };
    },
  };
}

export function processedStore(view: KeyValueView): ProcessedStore {
  return {
    has: async (key) => (await view.get(TABLES.processed, key)) !== undefined,
    mark: (key, processedAt) => {
      const bytes = new Uint8Array(8);
      new DataView(bytes.buffer).setFloat64(0, processedAt, false);
      return view.put(TABLES.processed, key, bytes);
    },
  };
}

// Zero-padded so keys sort by time, which makes pruning a prefix-free scan.
function sentKey(destination: string, timestamp: number): string {
  return `${destination}/${timestamp.toString().padStart(16, '0')}`;
}

// The timestamp a `sentKey` ends in (after its last '/'), or NaN if the
// key is not one this module wrote.
function sentKeyTimestamp(key: string): number {
  return Number(key.slice(key.lastIndexOf('/') + 1));
}

export function sentMessageStore(view: KeyValueView): SentMessageStore {
  return {
    get: async (destination, timestamp) => {
      const bytes = await view.get(TABLES.sent, sentKey(destination, timestamp));
      return bytes === undefined ? undefined : decodeSentMessage(bytes);
    },
    put: (message) =>
      view.put(
        TABLES.sent,
        sentKey(message.destination, message.timestamp),
        encodeSentMessage(message),
      ),
    prune: async (cutoff) => {
      let removed = 0;
      for (const entry of await view.list(TABLES.sent, '')) {
        // The key ends in the record's timestamp: no need to decode every
        // record (pruning runs at every start, over the whole sent history).
        const fromKey = sentKeyTimestamp(entry.key);
        const timestamp = Number.isFinite(fromKey)
          ? fromKey
          : decodeSentMessage(entry.value).timestamp;
        if (timestamp < cutoff) {
          await view.delete(TABLES.sent, entry.key);
          removed++;
        }
      }
      return removed;
    },
  };
}

export function readStateStore(view: KeyValueView): ReadStateStore {
  return {
    async readAt(chat, id) {
      const bytes = await view.get(TABLES.read, messageKey(chat, id));
      if (bytes === undefined) return undefined;
      if (bytes.length !== 8)
        throw new ClientError('invalid-record', 'stored read mark is damaged');
      return new DataView(bytes.buffer, bytes.byteOffset, 8).getFloat64(0, false);
    },
    markRead: (chat, id, at) => {
      const bytes = new Uint8Array(8);
      new DataView(bytes.buffer).setFloat64(0, at, false);
      return view.put(TABLES.read, messageKey(chat, id), bytes);
    },
    async latestPerChat() {
      const out = new Map<string, number>();
      for (const entry of await view.list(TABLES.read, '')) {
        if (entry.value.length !== 8) continue;
        const chat = entry.key.slice(0, entry.key.lastIndexOf('/'));
        const at = new DataView(entry.value.buffer, entry.value.byteOffset, 8).getFloat64(0, false);
        if (at > (out.get(chat) ?? 0)) out.set(chat, at);
      }
      return out;
    },
  };
}

export function settingsStore(view: KeyValueView): SettingsStore {
  return {
    get: (name) => view.get(TABLES.settings, name),
    put: (name, value) => view.put(TABLES.settings, name, value),
    delete: (name) => view.delete(TABLES.settings, name),
    list: async (prefix) =>
      (await view.list(TABLES.settings, prefix)).map((entry) => ({
        name: entry.key,
        value: entry.value,
      })),
  };
}
