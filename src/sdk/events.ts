/**
 * The SDK's event types. A device's `events` yields one tagged union,
 * `QuintetEvent`: everything the client core reports (messages, receipts,
 * read syncs, device-list changes, trust warnings, logout, history
 * progress, errors with stable codes) plus the connection's state changes.
 * Switch on `type`; TypeScript narrows each case.
 */
import type { ClientEvent } from '../client/core/events.js';
import type { ConnectionStateEvent } from '../client/core/reconnector.js';
import type { PrimaryHistoryProgress } from '../client/core/history/primary-sync.js';

export type {
  AccountKeyChangedEvent,
  ClientErrorEvent,
  ClientEvent,
  DecryptionFailureEvent,
  DeviceRefusedEvent,
  DevicesChangedEvent,
  DisconnectedEvent,
  GroupChangedEvent,
  GroupChangeRefusedEvent,
  GroupMessageRefusedEvent,
  HistorySyncEvent,
  LoggedOutEvent,
  MessageEvent,
  PreKeysUploadedEvent,
  QueueDrainedEvent,
  ReadSyncEvent,
  ReceiptEvent,
  RetryRequestEvent,
  SessionRefusedEvent,
} from '../client/core/events.js';
export type { ConnectionStateEvent, StopReason } from '../client/core/reconnector.js';
export { errorCode } from '../client/core/events.js';

/** Everything a device's `events` yields. */
export type QuintetEvent = ClientEvent | ConnectionStateEvent;

/**
 * Progress of linking a new companion (`QuintetDevice.link`): each link code
 * to show (the first, and a fresh one whenever the server's reference
 * expires), then `linked` once the primary approved and the device is
 * stored. History then arrives as `history-sync` events on the device.
 */
export type LinkEvent =
  | {
      /** A link code to show. */
      readonly type: 'link-code';
      /** `quintet://link#…` for a QR code or copying. Holds the linking secret: show it, never log it. */
      readonly text: string;
      /** When this code stops working, ms since the epoch. */
      readonly expiresAt: number;
    }
  | {
      /** The primary approved, the approval verified, the device is stored. */
      readonly type: 'linked';
      /** The account this device now belongs to. */
      readonly account: string;
      /** This device's id in it. */
      readonly deviceId: number;
    };

/** Progress of sending history to a companion just approved (`QuintetDevice.approve`). */
export type ApproveProgress = PrimaryHistoryProgress;
