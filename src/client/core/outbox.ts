/**
 * Outgoing messages: builds the `Content`, pads it, hands it to the session
 * manager for fanout, and keeps what a retry request may ask for again.
 *
 * A chat message goes out twice, concurrently: to every verified device of
 * the recipient, and — wrapped in `DeviceSentMessage { destination, message }`
 * — to every other device of this account, so each of them shows it as sent
 * in the right chat (self-sync).
 */
import type { ProtocolContext } from '../../protocol/context.js';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { DataMessageSchema, type Content } from '../../gen/quintet/v1/content_pb.js';
import { MESSAGE_ID_LENGTH, serializeContent, type ContentInit } from './content.js';
import { pad } from './padding.js';
import { errorCode, type ClientEvent } from './events.js';
import type { SessionManager, SendOutcome } from './session-manager.js';
import type { DeviceStore } from './store/device-store.js';
import type { StoredMessage } from './store/records.js';
import { attachmentToPointer, type Attachment } from './attachments/pointer.js';
import { create } from '@bufbuild/protobuf';
import { applyChatData, type ChatUpdate } from './chat/chat-apply.js';
import type { ChatDataFields } from './chat/chat-fields.js';
import { DEFAULT_CHAT_RULES, type ChatRules } from './chat/chat-rules.js';

/** How long sent messages are kept for retry requests. */
export const SENT_MESSAGE_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

/** A text message that was sent. */
export interface SentText {
  readonly message: StoredMessage;
  /** The send to the recipient's devices. */
  readonly outcome: SendOutcome;
  /** The copy to this account's other devices; undefined if that send failed (an `error` event says so). */
  readonly ownDevices: SendOutcome | undefined;
  /** What applying it here changed (chat/chat-apply.ts), for the sender's own events. */
  readonly updates: readonly ChatUpdate[];
}

/**
 * The identity of a text message sent again after a lost connection: the
 * same id (the recipient shows a known id once) and the same timestamp
 * (retry requests name a message by it).
 */
export interface PreparedText {
  readonly id: Uint8Array;
  readonly timestamp: number;
}

/** Sends contents and remembers them for retries. */
export class Outbox {
  #lastTimestamp = 0;

  constructor(
    private readonly ctx: ProtocolContext,
    private readonly store: DeviceStore,
    private readonly sessions: SessionManager,
    private readonly emit: (event: ClientEvent) => void,
    private readonly self: { readonly account: string; readonly deviceId: number },
    private readonly chatRules: ChatRules = DEFAULT_CHAT_RULES,
  ) {}

  /**
   * A send timestamp, strictly increasing per client: retry requests name a
   * message by (destination, timestamp), so two sends must never share one.
   */
  nextTimestamp(): number {
    this.#lastTimestamp = Math.max(this.ctx.clock.now(), this.#lastTimestamp + 1);
    return this.#lastTimestamp;
  }

  /**
   * Sends a chat message to the recipient's devices and a copy to this
   * account's other devices, and stores it as outgoing. Fails when the
   * recipient send fails; a failed own-device copy is reported as an event
   * (the recipient already has the message, so failing would invite a
   * duplicate re-send).
   */
  async sendText(
    destination: string,
    text: string,
    prepared?: PreparedText,
    attachment?: Attachment,
    fields: ChatDataFields = {},
  ): Promise<SentText> {
    let timestamp: number;
    if (prepared === undefined) {
      timestamp = this.nextTimestamp();
    } else {
      timestamp = prepared.timestamp;
      // Later sends of this client must not reuse the re-sent message's timestamp.
      this.#lastTimestamp = Math.max(this.#lastTimestamp, timestamp);
    }
    const id = prepared?.id ?? this.ctx.random(MESSAGE_ID_LENGTH);
    // Every message carries the chat's disappearing timer (chat/).
    const timer = (await this.store.chat.timer(destination))?.seconds ?? 0;
    // The same pointer goes to the recipient's devices and the own copy: the
    // file was uploaded once.
    const data = {
      messageId: id,
      text,
      timestamp: BigInt(timestamp),
      ...(attachment !== undefined ? { attachment: attachmentToPointer(attachment) } : {}),
      ...(timer > 0 ? { expireTimer: timer } : {}),
      ...fields,
    };
    const toRecipient = this.sendContent(
      destination,
      { body: { case: 'dataMessage', value: data } },
      timestamp,
    );
    const toOwn =
      destination === this.self.account
        ? Promise.resolve(undefined)
        : this.#sendOwnCopy(destination, data, timestamp);
    const [outcome, ownDevices] = await Promise.all([toRecipient, toOwn]);
    // Applied as every receiver applies it, so events that came for it
    // before this commit (a fast reaction) are applied too.
    const origin = {
      chat: destination,
      sender: this.self.account,
      senderDevice: this.self.deviceId,
      outgoing: true,
    };
    const env = { now: this.ctx.clock.now(), rules: this.chatRules };
    const updates = await this.store.transaction((tx) =>
      applyChatData(tx, origin, create(DataMessageSchema, data), env),
    );
    // An event (reaction, edit, …) stores no message of its own: the plain
    // record then only names what was sent.
    const message: StoredMessage = (await this.store.messages.get(destination, id)) ?? {
      id,
      chat: destination,
      sender: this.self.account,
      senderDevice: this.self.deviceId,
      text,
      sentAt: timestamp,
      receivedAt: 0,
      outgoing: true,
      receipts: {},
    };
    return { message, outcome, ownDevices, updates };
  }

  async #sendOwnCopy(
    destination: string,
    data: MessageInitShape<typeof DataMessageSchema>,
    timestamp: number,
  ): Promise<SendOutcome | undefined> {
    try {
      return await this.sendContent(
        this.self.account,
        { body: { case: 'deviceSentMessage', value: { destination, message: data } } },
        timestamp,
      );
    } catch (error) {
      this.emit({
        type: 'error',
        code: errorCode(error),
        message: 'the copy for your other devices could not be sent',
      });
      return undefined;
    }
  }

  /** Encrypts and sends any content, keeping a copy for retry requests. */
  async sendContent(
    destination: string,
    content: ContentInit | Content,
    timestamp: number = this.nextTimestamp(),
  ): Promise<SendOutcome> {
    // Serialized once: the kept copy and the padded payload every device's
    // envelope encrypts are the same bytes.
    const bytes = serializeContent(content);
    // Kept before sending: a retry request can arrive before sendMessage returns.
    const existing = await this.store.sent.get(destination, timestamp);
    await this.store.sent.put({
      destination,
      timestamp,
      content: bytes,
      retries: existing?.retries ?? {},
    });
    return this.sessions.send(destination, pad(bytes), timestamp);
  }

  /**
   * Sends content to one other device of this account only (history: the
   * archive key is for the new companion alone).
   */
  async sendToOwnDevice(deviceId: number, content: ContentInit): Promise<SendOutcome> {
    const timestamp = this.nextTimestamp();
    const bytes = serializeContent(content);
    await this.store.sent.put({
      destination: this.self.account,
      timestamp,
      content: bytes,
      retries: {},
    });
    return this.sessions.send(this.self.account, pad(bytes), timestamp, 'encrypted', deviceId);
  }

  /** Sends an unencrypted notice (retry requests only). */
  async sendPlaintext(destination: string, content: ContentInit): Promise<SendOutcome> {
    return this.sessions.send(
      destination,
      serializeContent(content),
      this.nextTimestamp(),
      'plaintext',
    );
  }

  /** Forgets sent messages older than the retention period. */
  async prune(): Promise<number> {
    return this.store.sent.prune(this.ctx.clock.now() - SENT_MESSAGE_RETENTION_MS);
  }
}
