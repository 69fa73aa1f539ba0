/**
 * Per-device receipts. "Delivered" goes out automatically once a message is
 * stored on this device; "read" when the application calls `markRead`. A
 * receipt names messages by their 16-byte ids, which are the same on every
 * device, so the sender can track each destination device separately.
 *
 * Read sync: `markRead` also records the messages as read here and tells
 * this account's other devices (`SyncMessage.read`), which mark the chat
 * read too — reading on one device clears the unread state on all.
 */
import { ReceiptMessage_Type } from '../../gen/quintet/v1/content_pb.js';
import { errorCode, type ClientEvent } from './events.js';
import type { Outbox } from './outbox.js';
import type { DeviceStore } from './store/device-store.js';
import type { ReceiptState, StoredMessage } from './store/records.js';

/** Which receipt. */
export type ReceiptKind = 'delivery' | 'read';

/** Sends receipts through the outbox. */
export class Receipts {
  constructor(
    private readonly outbox: Outbox,
    private readonly store: DeviceStore,
    private readonly emit: (event: ClientEvent) => void,
    private readonly self: { readonly account: string },
  ) {}

  /** Tells every device of `account` that these messages reached this device. */
  async sendDelivery(account: string, messageIds: readonly Uint8Array[]): Promise<void> {
    await this.#send(account, ReceiptMessage_Type.DELIVERY, messageIds);
  }

  /** Tells every device of `account` that these messages were read on this device. */
  async sendRead(account: string, messageIds: readonly Uint8Array[]): Promise<void> {
    await this.#send(account, ReceiptMessage_Type.READ, messageIds);
  }

  /**
   * Marks messages of `chat` read: stores the marks, sends read receipts to
   * the chat's devices and a read sync to this account's other devices. A
   * failed sync is reported as an event (the receipts already went out).
   */
  async markRead(chat: string, messageIds: readonly Uint8Array[]): Promise<void> {
    if (messageIds.length === 0) return;
    const now = this.outbox.nextTimestamp();
    await this.store.transaction(async (tx) => {
      for (const id of messageIds) await tx.read.markRead(chat, id, now);
    });
    const sync = async (): Promise<void> => {
      if (chat === this.self.account) return;
      try {
        await this.outbox.sendContent(this.self.account, {
          body: {
            case: 'syncMessage',
            value: {
              body: {
                case: 'read',
                value: { chat, messageIds: [...messageIds], timestamp: BigInt(now) },
              },
            },
          },
        });
      } catch (error) {
        this.emit({
          type: 'error',
          code: errorCode(error),
          message: 'the read state could not be synced to your other devices',
        });
      }
    };
    await Promise.all([this.sendRead(chat, messageIds), sync()]);
  }

  async #send(
    account: string,
    type: ReceiptMessage_Type,
    messageIds: readonly Uint8Array[],
  ): Promise<void> {
    if (messageIds.length === 0) return;
    const timestamp = this.outbox.nextTimestamp();
    await this.outbox.sendContent(
      account,
      {
        body: {
          case: 'receiptMessage',
          value: { type, messageIds: [...messageIds], timestamp: BigInt(timestamp) },
        },
      },
      timestamp,
    );
  }
}

/** Maps a wire receipt type to its kind; undefined for unknown types (ignored). */
export function receiptKind(type: ReceiptMessage_Type): ReceiptKind | undefined {
  if (type === ReceiptMessage_Type.DELIVERY) return 'delivery';
  if (type === ReceiptMessage_Type.READ) return 'read';
  return undefined;
}

/**
 * Records a receipt on an outgoing message. Receipts only move forward
 * (delivered → read), so a late delivery receipt never hides a read one.
 */
export function applyReceipt(
  message: StoredMessage,
  deviceKey: string,
  kind: ReceiptKind,
): StoredMessage {
  const next: ReceiptState = kind === 'read' ? 'read' : 'delivered';
  const current = message.receipts[deviceKey];
  if (current === 'read' || current === next) return message;
  return { ...message, receipts: { ...message.receipts, [deviceKey]: next } };
}
