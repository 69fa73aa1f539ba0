/**
 * What both SDK builds export (quintet/client and quintet/client/browser):
 * the device API, its ids, events and errors, and the building blocks an
 * application shows or stores (messages, attachments, groups, history
 * choices, device summaries). Platform pieces are added by node.ts and
 * browser.ts.
 */
export { QuintetDevice } from './device.js';
export { CHAT_TIMERS, DeviceChat } from './chat.js';
export type { ChatName } from './chat.js';
export { TYPING_EXPIRY_MS, setTypingEnabled, typingEnabled } from '../client/core/typing.js';
export type { TypingEvent } from '../client/core/typing.js';
export {
  POST_QUANTUM_SETTING,
  postQuantumEnabled,
  setPostQuantumEnabled,
} from '../client/core/post-quantum-setting.js';
export type { ApproveOptions, ApproveResult, OpenOptions } from './device-options.js';
export { registerDevice, linkDevice } from './setup.js';
export type { LinkOptions, NewDevice, RegisterOptions } from './setup.js';
export { openSession } from './session.js';
export type { DeviceSession, SessionOptions } from './session.js';
export { connectFirst, serverList } from './platform.js';
export type { BlobCredential, BlobCredentials, FirstConnection, Platform } from './platform.js';
export { platformScheduler } from '../client/core/scheduler.js';
export type { Scheduler } from '../client/core/scheduler.js';
export * from './values.js';
export * from './events.js';

// Errors: every failure an SDK call can raise carries a stable `code`
// (ClientError, WireError and ChatError come with values.ts).
export type { ServerErrorDetails } from '../client/core/errors.js';
export { LinkingError } from '../client/core/linking/errors.js';
export type { LinkingErrorCode } from '../client/core/linking/errors.js';
export { AttachmentError } from '../client/core/attachments/errors.js';
export type { AttachmentErrorCode } from '../client/core/attachments/errors.js';
export { GroupError } from '../client/core/groups/errors.js';
export type { GroupErrorCode } from '../client/core/groups/errors.js';
export { HistoryError } from '../client/core/history/errors.js';
export type { HistoryErrorCode } from '../client/core/history/errors.js';
export { BlobError } from '../client/transport/blob-client.js';
export type { BlobErrorCode } from '../client/transport/blob-client.js';
export { AdvError, LINK_CODE_PREFIX, decodeLinkCode } from '../protocol/adv/index.js';
export type { AdvErrorCode } from '../protocol/adv/index.js';

// Stores and records.
export type { DeviceStore } from '../client/core/store/device-store.js';
export type { SettingsStore } from '../client/core/store/client-stores.js';
export { isPrimaryAccount } from '../client/core/store/records.js';
export type { LocalAccount, StoredMessage } from '../client/core/store/records.js';

// The client core an open session or device exposes.
export type { QuintetClient } from '../client/core/client.js';
export type { ServerApi } from '../client/core/server-api.js';
export type { Transport } from '../client/core/transport.js';
export type { SentText } from '../client/core/outbox.js';
export { MESSAGE_ID_LENGTH } from '../client/core/content.js';

// Devices, linking and local authentication.
export { LOGOUT_REASONS, loggedOutAccount } from '../client/core/device-admin.js';
export type { DeviceSummary } from '../client/core/device-admin.js';
export type { ApprovedCompanion } from '../client/core/linking/approve.js';
export { LocalAuthGate } from '../client/core/linking/local-auth.js';
export type { Clock } from '../crypto/provider.js';
export { systemClock } from '../crypto/provider.js';

// History (the choice parser comes with values.ts).
export type { HistoryServices } from '../client/core/history/importer.js';
export type {
  PrimaryHistoryProgress,
  PrimaryHistoryResult,
} from '../client/core/history/primary-sync.js';

// The chat list (chats this device holds, its contacts and groups).
export { listChats } from '../client/core/chat-list.js';
export type { ChatListEntry } from '../client/core/chat-list.js';
// One chat's messages with their read state (what `quintet history` prints).
export { chatHistory } from '../client/core/chat-history.js';
export type { ChatHistoryEntry, ChatHistoryOptions } from '../client/core/chat-history.js';

// Chat rules (edit/delete windows) and the store-only expiry sweep.
export { DEFAULT_CHAT_RULES } from '../client/core/chat/chat-rules.js';
export type { ChatRules } from '../client/core/chat/chat-rules.js';
export { sweepExpiredMessages } from '../client/core/chat/chat-sweep.js';

// Groups.
export { isGroupChat, parseGroupId } from '../client/core/groups/group-id.js';
export type { GroupId } from '../client/core/groups/group-id.js';
export type { GroupView } from '../client/core/groups/group-membership.js';

// Attachments.
export { MAX_THUMBNAIL_BYTES, safeFileName } from '../client/core/attachments/pointer.js';
export type { Attachment } from '../client/core/attachments/pointer.js';
export { downloadAttachment, uploadAttachment } from '../client/core/attachments/transfer.js';
export type {
  AttachmentSink,
  AttachmentSource,
  TransferProgress,
} from '../client/core/attachments/transfer.js';
export { BlobClient, cachedBlobCredential } from '../client/transport/blob-client.js';
