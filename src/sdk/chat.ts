/**
 * `device.chat`: replies, reactions, edits, deletes and the disappearing
 * timer of a chat (an account name for 1:1, a group id for a group). Each
 * call is an end-to-end-encrypted chat event (docs/protocol.md, "Chat
 * events") sent to every device of the chat — the sender's own other
 * devices included — so all of them end in the same state. Receivers check
 * the same rules the sender checks first: a refused call rejects with a
 * `ChatError` and sends nothing.
 */
import type { QuintetClient } from '../client/core/client.js';
import type { Attachment } from '../client/core/attachments/pointer.js';
import type { StoredMessage } from '../client/core/store/records.js';
import { ClientError } from '../client/core/errors.js';
import type { AccountName } from './ids.js';

/** A chat: an account name (1:1) or a group id (hex). */
export type ChatName = AccountName | string;

/** The disappearing-message timers a chat may have, in seconds (0: off). */
export const CHAT_TIMERS = { off: 0, '24h': 86_400, '7d': 604_800, '90d': 7_776_000 } as const;

/** Runs a body on the online client (QuintetDevice's own wait-and-close rules). */
type WithClient = <T>(body: (client: QuintetClient) => Promise<T>) => Promise<T>;

/** The chat calls of one device; get it as `device.chat`. */
export class DeviceChat {
  readonly #withClient: WithClient;

  /** @internal QuintetDevice builds it. */
  constructor(withClient: WithClient) {
    this.#withClient = withClient;
  }

  /**
   * Sends a text (optionally a reply to `replyTo`, a message id of the same
   * chat, and/or with an uploaded attachment) carrying the chat's timer.
   *
   * @example
   * const sent = await device.chat.send('bob', 'see you', { replyTo: earlier.id });
   */
  async send(
    chat: ChatName,
    text: string,
    options: { replyTo?: Uint8Array; attachment?: Attachment } = {},
  ): Promise<StoredMessage> {
    return this.#withClient((client) => client.chat.send(chat, text, options));
  }

  /** Sets this account's one reaction to a message (replacing an earlier one). */
  async react(chat: ChatName, messageId: Uint8Array, emoji: string): Promise<void> {
    return this.#withClient((client) => client.chat.react(chat, messageId, emoji));
  }

  /** Removes this account's reaction to a message. */
  async removeReaction(chat: ChatName, messageId: Uint8Array): Promise<void> {
    return this.#withClient((client) => client.chat.removeReaction(chat, messageId));
  }

  /** Edits one of this account's messages (within the edit window, default 15 minutes). */
  async edit(chat: ChatName, messageId: Uint8Array, text: string): Promise<void> {
    return this.#withClient((client) => client.chat.edit(chat, messageId, text));
  }

  /** Deletes one of this account's messages for everyone (within 48 hours by default). */
  async deleteForEveryone(chat: ChatName, messageId: Uint8Array): Promise<void> {
    return this.#withClient((client) => client.chat.deleteForEveryone(chat, messageId));
  }

  /** Hides messages on this account's devices only (synced to its other devices). */
  async deleteForMe(chat: ChatName, messageIds: readonly Uint8Array[]): Promise<void> {
    return this.#withClient((client) => client.chat.deleteForMe(chat, messageIds));
  }

  /** Sets the chat's disappearing timer (one of CHAT_TIMERS; in a group only admins may). */
  async setTimer(chat: ChatName, seconds: number): Promise<void> {
    return this.#withClient((client) => client.chat.setTimer(chat, seconds));
  }

  /** The chat's current disappearing timer in seconds (0: off). */
  async timer(chat: ChatName): Promise<number> {
    return this.#withClient((client) => client.chat.timer(chat));
  }

  /** Removes expired messages (and their attachment keys) now; returns how many. */
  async sweepExpired(): Promise<number> {
    return this.#withClient((client) => client.chat.sweepExpired());
  }

  /**
   * Says this device started or stopped typing in a chat: a peer account,
   * or a group chat id (to the current member devices, own other devices
   * included). It reaches only devices connected right now and is never
   * stored (docs/protocol.md, "Typing indicators"); repeat `started` at
   * least every 15 s while the user types, since receivers stop showing it
   * after `TYPING_EXPIRY_MS`. Resolves false (nothing sent) when typing
   * indicators are off on this device, or in a group when no member device
   * holds this device's sender key yet (before its first message there, or
   * when a removal is due to rotate it). This account itself rejects with
   * `invalid-argument`; a group the account is not in, with the server's
   * refusal (`not-group-member`, `unknown-group`).
   */
  async typing(chat: ChatName, state: 'started' | 'stopped'): Promise<boolean> {
    if (state !== 'started' && state !== 'stopped') {
      // A JavaScript caller's typo would otherwise be sent as `stopped`.
      throw new ClientError('invalid-argument', 'typing state must be started or stopped');
    }
    return this.#withClient((client) => client.typing.send(chat, state));
  }

  /** Whether typing indicators are on for this device (the default). */
  async typingEnabled(): Promise<boolean> {
    return this.#withClient((client) => client.typing.enabled());
  }

  /**
   * Turns typing indicators on or off for this device: off, it neither
   * sends its own nor reports anyone else's `typing` events.
   */
  async setTypingEnabled(on: boolean): Promise<void> {
    return this.#withClient((client) => client.typing.setEnabled(on));
  }
}
