/**
 * The typed events of chat state changes (part of `ClientEvent`), and the
 * mapping from what an apply did (chat-apply.ts) to them. New messages keep
 * the existing `message` event; its `message` carries the state (reply,
 * expiry, a timer entry's `timerChange`).
 */
import type { ClientEvent } from '../events.js';
import type { DeletedState } from '../store/records.js';
import type { ChatUpdate } from './chat-apply.js';
import type { RefusalReason } from './chat-state.js';

/** The author's edit of a message was applied (it is now the latest text). */
export interface MessageEditedEvent {
  readonly type: 'message-edited';
  readonly chat: string;
  readonly messageId: Uint8Array;
  readonly text: string;
  /** The edit's time on the author's clock, ms. */
  readonly editedAt: number;
}

/**
 * A message no longer shows: deleted for everyone by its author, deleted
 * for this account on one of its devices (`me`), or past its disappearing
 * timer (`expired`). Its text and attachment key are gone from the store.
 */
export interface MessageDeletedEvent {
  readonly type: 'message-deleted';
  readonly chat: string;
  readonly messageId: Uint8Array;
  readonly scope: DeletedState;
}

/** `reactor` reacted with `emoji`, replacing its earlier reaction, or removed it. */
export interface ReactionEvent {
  readonly type: 'reaction';
  readonly chat: string;
  readonly messageId: Uint8Array;
  readonly reactor: string;
  /** Empty when removed. */
  readonly emoji: string;
  readonly removed: boolean;
}

/** A disappearing-timer change arrived; `seconds` is the chat's setting now (0 = off). */
export interface TimerChangedEvent {
  readonly type: 'timer-changed';
  readonly chat: string;
  readonly seconds: number;
  readonly by: string;
  readonly at: number;
}

/**
 * A chat event broke a rule and was ignored (an edit of someone else's
 * message, after the window, a timer change by a non-admin, …); the state
 * is unchanged.
 */
export interface ChatEventRefusedEvent {
  readonly type: 'chat-event-refused';
  readonly chat: string;
  readonly from: string;
  readonly fromDevice: number;
  readonly event: 'reaction' | 'edit' | 'delete' | 'delete-for-me' | 'timer';
  readonly messageId?: Uint8Array;
  readonly reason: RefusalReason;
}

export type ChatStateEvent =
  | MessageEditedEvent
  | MessageDeletedEvent
  | ReactionEvent
  | TimerChangedEvent
  | ChatEventRefusedEvent;

/** The client events for what an apply did, in order. */
export function chatUpdateEvents(updates: readonly ChatUpdate[]): ClientEvent[] {
  return updates.map((update): ClientEvent => {
    switch (update.kind) {
      case 'message':
        return { type: 'message', message: update.message };
      case 'timer':
        return {
          type: 'timer-changed',
          chat: update.chat,
          seconds: update.seconds,
          by: update.by,
          at: update.at,
        };
      case 'refused':
        return {
          type: 'chat-event-refused',
          chat: update.chat,
          from: update.from,
          fromDevice: update.fromDevice,
          event: update.event,
          ...(update.messageId !== undefined ? { messageId: update.messageId } : {}),
          reason: update.reason,
        };
      case 'changed': {
        const where = { chat: update.chat, messageId: update.messageId };
        const change = update.change;
        switch (change.kind) {
          case 'edited':
            return { type: 'message-edited', ...where, text: change.text, editedAt: change.at };
          case 'deleted':
            return { type: 'message-deleted', ...where, scope: change.scope };
          case 'reaction':
            return {
              type: 'reaction',
              ...where,
              reactor: change.reactor,
              emoji: change.emoji,
              removed: change.removed,
            };
        }
      }
    }
  });
}
