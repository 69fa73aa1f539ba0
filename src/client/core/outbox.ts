/**
 * Outgoing messages: builds the `Content`, pads it, hands it to the session
 * manager for fanout, and keeps what a retry request may ask for again.
 */
import type { ProtocolContext } from '../../protocol/context.js';
import type { Content } from '../../gen/quintet/v1/content_pb.js';
import { encodeContent, MESSAGE_ID_LENGTH, serializeContent, type ContentInit } from './content.js';
import type { SessionManager, SendOutcome } from './session-manager.js';
import type { DeviceStore } from './store/device-store.js';
import type { StoredMessage } from './store/records.js';

/** How long sent messages are kept for retry requests. */
export const SENT_MESSAGE_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

/** A text message that was sent. */
export interface SentText {
  readonly message: StoredMessage;
  readonly outcome: SendOutcome;
}

/** Sends contents and remembers them for retries. */
export class Outbox {
  #lastTimestamp = 0;

  constructor(
    private readonly ctx: ProtocolContext,
    private readonly store: DeviceStore,
    private readonly sessions: SessionManager,
    private readonly self: { readonly account: string; readonly deviceId: number },
  ) {}

  /**
   * A send timestamp, strictly increasing per client: retry requests name a
   * message by (destination, timestamp), so two sends must never share one.
   */
  nextTimestamp(): number {
    this.#lastTimestamp = Math.max(this.ctx.clock.now(), this.#lastTimestamp + 1);
    return this.#lastTimestamp;
  }

  /** Sends a chat message and stores it as outgoing. */
  async sendText(destination: string, text: string): Promise<SentText> {
    const timestamp = this.nextTimestamp();
    const id = this.ctx.random(MESSAGE_ID_LENGTH);
    const message: StoredMessage = {
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
    const outcome = await this.sendContent(
      destination,
      {
        body: { case: 'dataMessage', value: { messageId: id, text, timestamp: BigInt(timestamp) } },
      },
      timestamp,
    );
    await this.store.messages.put(message);
    return { message, outcome };
  }

  /** Encrypts and sends any content, keeping a copy for retry requests. */
  async sendContent(
    destination: string,
    content: ContentInit | Content,
    timestamp: number = this.nextTimestamp(),
  ): Promise<SendOutcome> {
    // Kept before sending: a retry request can arrive before sendMessage returns.
    const existing = await this.store.sent.get(destination, timestamp);
    await this.store.sent.put({
      destination,
      timestamp,
      content: serializeContent(content),
      retries: existing?.retries ?? {},
    });
    return this.sessions.send(destination, encodeContent(content), timestamp);
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
