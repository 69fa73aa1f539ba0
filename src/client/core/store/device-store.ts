/**
 * The device store: everything one device persists — protocol state,
 * messages, processed-envelope marks, recently sent messages, its account
 * record and settings — behind one async interface with atomic transactions.
 *
 * `transaction(fn)` gives `fn` a view whose reads see its own writes and
 * whose writes land together or not at all: the receiver decrypts, stores
 * the message and marks the envelope processed in one transaction, so a
 * crash or a failure between those steps leaves the old session and no
 * message (whatsmeow `DoDecryptionTxn`). Backends only implement
 * `KeyValueBackend`; see kv.ts for why writes are staged.
 */
import {
  localAccountStore,
  messageStore,
  processedStore,
  readStateStore,
  sentMessageStore,
  settingsStore,
  type LocalAccountStore,
  type MessageStore,
  type ProcessedStore,
  type ReadStateStore,
  type SentMessageStore,
  type SettingsStore,
} from './client-stores.js';
import { upgradeChatOrder } from './chat-order-upgrade.js';
import { directView, StagedView, type KeyValueBackend, type KeyValueView } from './kv.js';
import { protocolStores, type DeviceProtocolStores } from './protocol-stores.js';
import { verifiedDeviceStore, type VerifiedDeviceStore } from './verified-devices.js';
import { accountTrustStore, type AccountTrustStore } from './account-trust.js';
import { contactStore, type ContactStore } from './contacts.js';
import {
  groupStore,
  senderKeyStore,
  type DeletableSenderKeyStore,
  type GroupStore,
} from '../groups/group-store.js';
import { chatStore, type ChatStore } from '../chat/chat-store.js';
import { ChatLocks } from '../chat/chat-locks.js';

/** The stores of one device, either direct or inside a transaction. */
export interface DeviceStoreView {
  readonly protocol: DeviceProtocolStores;
  readonly account: LocalAccountStore;
  readonly messages: MessageStore;
  readonly processed: ProcessedStore;
  readonly sent: SentMessageStore;
  readonly settings: SettingsStore;
  /** Read markers of this account's chats (shared with its other devices). */
  readonly read: ReadStateStore;
  /** The ADV-verified device view of each account (identity trust). */
  readonly verifiedDevices: VerifiedDeviceStore;
  /** The user's trust decisions: verified and not yet accepted account keys. */
  readonly accountTrust: AccountTrustStore;
  /** Known chat partners (a companion's come from its primary's bootstrap state). */
  readonly contacts: ContactStore;
  /** Verified group heads and who holds this device's sender keys (groups/). */
  readonly groups: GroupStore;
  /** Sender Keys records, own and other members' (groups/). */
  readonly senderKeys: DeletableSenderKeyStore;
  /** Chat timers, pending chat events, the expiry index (chat/). */
  readonly chat: ChatStore;
  /**
   * Inside a transaction: holds `chat` until the commit, so no other
   * transaction changes its messages in between (chat/chat-locks.ts). Call
   * it before reading a message that will be rewritten. Outside a
   * transaction it does nothing.
   */
  lockChat(chat: string): Promise<void>;
}

/** A device store with atomic transactions. */
export interface DeviceStore extends DeviceStoreView {
  /**
   * Runs `fn` against a staged view and commits its writes atomically when it
   * resolves. When `fn` throws (or the commit fails) nothing is written and
   * the error propagates.
   */
  transaction<T>(fn: (tx: DeviceStoreView) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

function viewOf(
  kv: KeyValueView,
  lockChat: (chat: string) => Promise<void> = async () => {},
): DeviceStoreView {
  return {
    lockChat,
    protocol: protocolStores(kv),
    account: localAccountStore(kv),
    messages: messageStore(kv),
    processed: processedStore(kv),
    sent: sentMessageStore(kv),
    settings: settingsStore(kv),
    read: readStateStore(kv),
    verifiedDevices: verifiedDeviceStore(kv),
    accountTrust: accountTrustStore(kv),
    contacts: contactStore(kv),
    groups: groupStore(kv),
    senderKeys: senderKeyStore(kv),
    chat: chatStore(kv),
  };
}

/** A device store over any backend (memory, SQLite, …). */
export function createDeviceStore(backend: KeyValueBackend): DeviceStore {
  const direct = viewOf(directView(backend));
  const locks = new ChatLocks();
  // Readers of `chat-order` wait for the one-time upgrade that builds it for
  // an older profile (chat-order-upgrade.ts); after the first call it is a
  // flag check. A failed upgrade is retried by the next reader.
  let upgraded = false;
  let upgrading: Promise<void> | undefined;
  const chatOrderReady = async (): Promise<void> => {
    if (upgraded) return;
    upgrading ??= upgradeChatOrder(backend).then(
      () => {
        upgraded = true;
      },
      (error: unknown) => {
        upgrading = undefined;
        throw error;
      },
    );
    await upgrading;
  };
  return {
    lockChat: (chat) => direct.lockChat(chat),
    protocol: direct.protocol,
    account: direct.account,
    messages: {
      ...direct.messages,
      page: async (chat, options) => {
        await chatOrderReady();
        return direct.messages.page(chat, options);
      },
      chats: async () => {
        await chatOrderReady();
        return direct.messages.chats();
      },
    },
    processed: direct.processed,
    sent: direct.sent,
    settings: direct.settings,
    read: direct.read,
    verifiedDevices: direct.verifiedDevices,
    accountTrust: direct.accountTrust,
    contacts: direct.contacts,
    groups: direct.groups,
    senderKeys: direct.senderKeys,
    chat: direct.chat,
    async transaction<T>(fn: (tx: DeviceStoreView) => Promise<T>): Promise<T> {
      const staged = new StagedView(backend);
      const releases = new Map<string, () => void>();
      const lockChat = async (chat: string): Promise<void> => {
        if (releases.has(chat)) return;
        releases.set(chat, () => {});
        releases.set(chat, await locks.acquire(chat));
      };
      try {
        const result = await fn(viewOf(staged, lockChat));
        await backend.commit(staged.writes());
        return result;
      } finally {
        for (const release of releases.values()) release();
      }
    },
    close: () => backend.close(),
  };
}
