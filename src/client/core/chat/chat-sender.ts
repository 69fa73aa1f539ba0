/**
 * The sending side of chat state: replies, reactions, edits, deletes and the
 * disappearing timer. Each is an ordinary data message (content.proto,
 * docs/protocol.md "Chat events"): in a 1:1 chat sent to every device of
 * the peer and, as a `DeviceSentMessage`, to this account's other devices;
 * in a group sent once under the sender key to every member device. The
 * sending device applies it to its own store through the same code the
 * receivers run (chat-apply.ts), so it ends in the same state.
 *
 * Rules every receiver enforces are checked here first, with the local
 * clock, so a call that would be refused fails with a `ChatError` instead
 * of going out.
 */
import type { ProtocolContext } from '../../../protocol/context.js';
import type { Attachment } from '../attachments/pointer.js';
import { errorCode, type ClientEvent } from '../events.js';
import type { GroupClient } from '../groups/group-client.js';
import { isGroupChat, parseGroupId } from '../groups/group-id.js';
import type { Outbox } from '../outbox.js';
import type { DeviceStore } from '../store/device-store.js';
import type { StoredMessage } from '../store/records.js';
import { applyMessageEvent, type ChatEnv, type ChatUpdate } from './chat-apply.js';
import { chatUpdateEvents } from './chat-events.js';
import type { ChatDataFields, MessageRefInit } from './chat-fields.js';
import {
  MAX_DELETE_FOR_ME_TARGETS,
  MAX_EMOJI_BYTES,
  TIMER_VALUES,
  type ChatRules,
} from './chat-rules.js';
import { sweepExpiredMessages } from './chat-sweep.js';
import { ChatError } from './errors.js';

/** The quoted snippet a reply carries: the start of the original text. */
const SNIPPET_CHARS = 100;

export interface ChatSenderDeps {
  readonly ctx: ProtocolContext;
  readonly store: DeviceStore;
  readonly outbox: Outbox;
  readonly groups: GroupClient;
  readonly self: { readonly account: string; readonly deviceId: number };
  readonly rules: ChatRules;
  readonly emit: (event: ClientEvent) => void;
}

/** Options of `ChatSender.send`. */
export interface ChatSendOptions {
  /** The id of the message (in the same chat) this one replies to. */
  readonly replyTo?: Uint8Array;
  readonly attachment?: Attachment;
}

export class ChatSender {
  constructor(private readonly deps: ChatSenderDeps) {}

  /** Sends a chat message, with the chat's timer and an optional reply; returns it as stored. */
  async send(chat: string, text: string, options: ChatSendOptions = {}): Promise<StoredMessage> {
    let quote: ChatDataFields['quote'];
    if (options.replyTo !== undefined) {
      const target = await this.#target(chat, options.replyTo);
      quote = {
        target: { author: target.sender, messageId: target.id },
        snippet: target.text.slice(0, SNIPPET_CHARS),
      };
    }
    // The chat's timer is added by the send path itself.
    const fields: ChatDataFields = quote !== undefined ? { quote } : {};
    const { id } = await this.#send(chat, text, fields, options.attachment);
    const stored = await this.deps.store.messages.get(chat, id);
    if (stored === undefined)
      throw new ChatError('unknown-message', 'the sent message was not stored');
    return stored;
  }

  /** Reacts to a message with one emoji, replacing this account's earlier reaction. */
  async react(chat: string, messageId: Uint8Array, emoji: string): Promise<void> {
    const bytes = new TextEncoder().encode(emoji).length;
    if (bytes === 0 || bytes > MAX_EMOJI_BYTES) {
      throw new ChatError('invalid-argument', 'a reaction is one emoji of 1 to 64 bytes');
    }
    await this.#reaction(chat, messageId, emoji, false);
  }

  /** Removes this account's reaction to a message. */
  async removeReaction(chat: string, messageId: Uint8Array): Promise<void> {
    await this.#reaction(chat, messageId, '', true);
  }

  async #reaction(
    chat: string,
    messageId: Uint8Array,
    emoji: string,
    remove: boolean,
  ): Promise<void> {
    const target = await this.#target(chat, messageId);
    await this.#send(chat, '', {
      event: {
        case: 'reaction',
        value: { target: { author: target.sender, messageId }, emoji, remove },
      },
    });
  }

  /** Replaces the text of one of this account's messages (within the edit window). */
  async edit(chat: string, messageId: Uint8Array, text: string): Promise<void> {
    const target = await this.#ownTarget(chat, messageId, this.deps.rules.editWindowMs, 'edit');
    await this.#send(chat, '', {
      event: { case: 'edit', value: { target: { author: target.sender, messageId }, text } },
    });
  }

  /** Deletes one of this account's messages for everyone (within the delete window). */
  async deleteForEveryone(chat: string, messageId: Uint8Array): Promise<void> {
    const target = await this.#ownTarget(chat, messageId, this.deps.rules.deleteWindowMs, 'delete');
    await this.#send(chat, '', {
      event: { case: 'delete', value: { target: { author: target.sender, messageId } } },
    });
  }

  /**
   * Deletes messages on this account's devices only: here at once, and a
   * sync to the other devices of the account.
   */
  async deleteForMe(chat: string, messageIds: readonly Uint8Array[]): Promise<void> {
    if (messageIds.length === 0 || messageIds.length > MAX_DELETE_FOR_ME_TARGETS) {
      throw new ChatError('invalid-argument', 'delete-for-me takes 1 to 100 messages');
    }
    const { store, outbox, self } = this.deps;
    const targets: MessageRefInit[] = [];
    for (const id of messageIds) {
      const target = await store.messages.get(chat, id);
      if (target === undefined)
        throw new ChatError('unknown-message', 'no such message in this chat');
      targets.push({ author: target.sender, messageId: id });
    }
    const at = outbox.nextTimestamp();
    const updates = await store.transaction(async (tx) => {
      const out: ChatUpdate[] = [];
      for (const target of targets) {
        out.push(
          ...(await applyMessageEvent(
            tx,
            {
              kind: 'delete-for-me',
              chat,
              sender: self.account,
              senderDevice: self.deviceId,
              eventId: target.messageId,
              at,
              target: { author: target.author, id: target.messageId },
            },
            this.#env(),
          )),
        );
      }
      return out;
    });
    this.#emit(updates);
    try {
      await outbox.sendContent(self.account, {
        body: {
          case: 'syncMessage',
          value: {
            body: { case: 'deleteForMe', value: { chat, targets, timestamp: BigInt(at) } },
          },
        },
      });
    } catch (error) {
      this.deps.emit({
        type: 'error',
        code: errorCode(error),
        message: 'the deletion could not be synced to your other devices',
      });
    }
  }

  /** Sets the chat's disappearing timer (0 = off, 24 h, 7 d, 90 d, in seconds). */
  async setTimer(chat: string, seconds: number): Promise<void> {
    if (!TIMER_VALUES.includes(seconds)) {
      throw new ChatError('invalid-argument', 'the timer is one of off, 24 h, 7 d, 90 d');
    }
    if (isGroupChat(chat)) {
      const head = await this.deps.store.groups.getHead(parseGroupId(chat));
      const me = head?.change.members.find((m) => m.account === this.deps.self.account);
      if (me?.admin !== true) throw new ChatError('not-admin', 'only group admins set the timer');
    }
    await this.#send(chat, '', {
      event: { case: 'timerChange', value: { seconds } },
      expireTimer: seconds,
    });
  }

  /** The chat's disappearing timer, seconds (0 = off). */
  async timer(chat: string): Promise<number> {
    return (await this.deps.store.chat.timer(chat))?.seconds ?? 0;
  }

  /**
   * Removes every message past its expiry (text and attachment key; the
   * record stays as an `expired` mark so nothing brings it back) and
   * reports each as `message-deleted`. Returns how many.
   */
  sweepExpired(): Promise<number> {
    return sweepExpiredMessages(this.deps.store, this.deps.ctx.clock, (updates) =>
      this.#emit(updates),
    );
  }

  #env(): ChatEnv {
    return { now: this.deps.ctx.clock.now(), rules: this.deps.rules };
  }

  #emit(updates: readonly ChatUpdate[]): void {
    // Own new messages are not announced (as with a plain send); changes are.
    for (const event of chatUpdateEvents(updates)) {
      if (event.type !== 'message') this.deps.emit(event);
    }
  }

  async #target(chat: string, id: Uint8Array): Promise<StoredMessage> {
    const target = await this.deps.store.messages.get(chat, id);
    if (target === undefined)
      throw new ChatError('unknown-message', 'no such message in this chat');
    if (target.deleted !== undefined)
      throw new ChatError('message-deleted', 'the message is deleted');
    if (target.timerChange !== undefined) {
      throw new ChatError('not-a-message', 'a timer change is not a message');
    }
    return target;
  }

  async #ownTarget(
    chat: string,
    id: Uint8Array,
    windowMs: number,
    what: 'edit' | 'delete',
  ): Promise<StoredMessage> {
    const target = await this.#target(chat, id);
    if (target.sender !== this.deps.self.account) {
      throw new ChatError('not-author', `only the author may ${what} a message`);
    }
    if (this.deps.ctx.clock.now() - target.sentAt > windowMs) {
      throw new ChatError(
        what === 'edit' ? 'edit-window-passed' : 'delete-window-passed',
        `the message is too old to ${what}`,
      );
    }
    return target;
  }

  /**
   * Sends one data message through the 1:1 (outbox) or group path, which
   * apply it here exactly as the receivers do; returns its id.
   */
  async #send(
    chat: string,
    text: string,
    fields: ChatDataFields,
    attachment?: Attachment,
  ): Promise<{ id: Uint8Array }> {
    if (isGroupChat(chat)) {
      const outcome = await this.deps.groups.sendChat(parseGroupId(chat), text, fields, attachment);
      this.#emit(outcome.updates);
      return { id: outcome.message.id };
    }
    const sent = await this.deps.outbox.sendText(chat, text, undefined, attachment, fields);
    this.#emit(sent.updates);
    return { id: sent.message.id };
  }
}
