/**
 * The converging chat state: pure functions that apply chat events (edits,
 * deletes, reactions, delete-for-me, expiry) to a stored message. No I/O;
 * the clock is an argument.
 *
 * Convergence: every device of a chat must end in the same state whatever
 * order the same events arrive in. Each rule is therefore a join that does
 * not depend on order:
 *
 * - the accepted edit with the greatest (time, device, event id) wins;
 * - deletion is final and ranks `me` > `everyone` > `expired`; a deleted
 *   message keeps only its identity, so an edit or reaction before or after
 *   the delete ends the same;
 * - one reaction per reacting account, the greatest (time, device, event
 *   id) wins, removals included (a removal is kept as a mark, so an older
 *   reaction arriving after it cannot come back);
 * - whether an event is allowed depends only on fields every device sees
 *   alike (the message's author and sender time, the event's author and
 *   time), never on when it arrived.
 */
import { toHex } from '../bytes.js';
import type { DeletedState, EventMark, ReactionMark, StoredMessage } from '../store/records.js';
import type { ChatRules } from './chat-rules.js';

/** Names the message an event is about. */
export interface MessageTarget {
  readonly author: string;
  readonly id: Uint8Array;
}

/** What every event on a message carries. */
interface EventBase {
  readonly chat: string;
  readonly sender: string;
  readonly senderDevice: number;
  /** The event's own message id (16 bytes). */
  readonly eventId: Uint8Array;
  /** The event's time on its sender's clock, ms. */
  readonly at: number;
  readonly target: MessageTarget;
}

/** An event on an earlier message of a chat. */
export type MessageEvent =
  | (EventBase & { readonly kind: 'reaction'; readonly emoji: string; readonly remove: boolean })
  | (EventBase & { readonly kind: 'edit'; readonly text: string })
  | (EventBase & { readonly kind: 'delete' })
  | (EventBase & { readonly kind: 'delete-for-me' });

/** Why an event was refused (stable codes, surfaced as `chat-event-refused`). */
export type RefusalReason =
  /** The event names the message with another author than the one stored. */
  | 'target-mismatch'
  /** Only the author may edit or delete a message for everyone. */
  | 'not-author'
  | 'edit-window-passed'
  | 'delete-window-passed'
  /** Timer entries cannot be edited, deleted for everyone or reacted to. */
  | 'not-a-message'
  /** Only the sender's own account may delete for itself. */
  | 'not-own-account'
  /** In a group, only admins change the timer. */
  | 'not-admin'
  /** Too many events for messages this device does not have. */
  | 'pending-full';

/** What an accepted event changed, for the event stream. */
export type MessageChange =
  | { readonly kind: 'edited'; readonly text: string; readonly at: number }
  | { readonly kind: 'deleted'; readonly scope: DeletedState }
  | {
      readonly kind: 'reaction';
      readonly reactor: string;
      readonly emoji: string;
      readonly removed: boolean;
    };

export type ApplyResult =
  | { readonly kind: 'applied'; readonly message: StoredMessage; readonly change: MessageChange }
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'refused'; readonly reason: RefusalReason };

const UNCHANGED: ApplyResult = { kind: 'unchanged' };

/** Orders two ids by their bytes (hex order is byte order). */
function compareIds(a: Uint8Array, b: Uint8Array): number {
  const x = toHex(a);
  const y = toHex(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Orders two event marks: time, then device, then event id. */
export function compareMarks(a: EventMark, b: EventMark): number {
  return a.at - b.at || a.device - b.device || compareIds(a.eventId, b.eventId);
}

// Expiry ranks lowest: a device that saw a message expire and one that saw
// it deleted for everyone first (and never sweeps a deleted message) must
// still agree once both have the delete.
const DELETED_RANK: Record<DeletedState, number> = { expired: 1, everyone: 2, me: 3 };

/** The message reduced to its identity, marked deleted (attachment key dropped). */
export function tombstone(message: StoredMessage, scope: DeletedState): StoredMessage {
  return {
    id: message.id,
    chat: message.chat,
    sender: message.sender,
    senderDevice: message.senderDevice,
    text: '',
    sentAt: message.sentAt,
    receivedAt: message.receivedAt,
    outgoing: message.outgoing,
    receipts: message.receipts,
    ...(message.expireTimer !== undefined ? { expireTimer: message.expireTimer } : {}),
    ...(message.expiresAt !== undefined ? { expiresAt: message.expiresAt } : {}),
    ...(message.timerChange !== undefined ? { timerChange: message.timerChange } : {}),
    deleted: scope,
  };
}

/** Deletes `message` with `scope` unless a stronger (or equal) deletion stands. */
function applyDeletion(message: StoredMessage, scope: DeletedState): ApplyResult {
  const current = message.deleted;
  if (current !== undefined && DELETED_RANK[current] >= DELETED_RANK[scope]) return UNCHANGED;
  return {
    kind: 'applied',
    message: tombstone(message, scope),
    change: { kind: 'deleted', scope },
  };
}

/**
 * Applies one event to the message it targets. Pure: the result is the
 * new message (or why nothing changed), the argument is untouched.
 */
export function applyEvent(
  message: StoredMessage,
  event: MessageEvent,
  rules: ChatRules,
): ApplyResult {
  if (event.target.author !== message.sender) return { kind: 'refused', reason: 'target-mismatch' };
  if (event.kind === 'delete-for-me') {
    // The sync comes from this account's own devices only (checked by the
    // caller); any message of the chat may be hidden, timer entries too.
    return applyDeletion(message, 'me');
  }
  if (message.timerChange !== undefined) return { kind: 'refused', reason: 'not-a-message' };
  const age = event.at - message.sentAt;
  switch (event.kind) {
    case 'delete':
      if (event.sender !== message.sender) return { kind: 'refused', reason: 'not-author' };
      if (age > rules.deleteWindowMs) return { kind: 'refused', reason: 'delete-window-passed' };
      return applyDeletion(message, 'everyone');
    case 'edit': {
      if (event.sender !== message.sender) return { kind: 'refused', reason: 'not-author' };
      if (age > rules.editWindowMs) return { kind: 'refused', reason: 'edit-window-passed' };
      // A delete beats every edit, whichever came first.
      if (message.deleted !== undefined) return UNCHANGED;
      const mark: EventMark = { at: event.at, device: event.senderDevice, eventId: event.eventId };
      if (message.edit !== undefined && compareMarks(mark, message.edit) <= 0) return UNCHANGED;
      return {
        kind: 'applied',
        message: { ...message, text: event.text, edit: mark },
        change: { kind: 'edited', text: event.text, at: event.at },
      };
    }
    case 'reaction': {
      if (message.deleted !== undefined) return UNCHANGED;
      const mark: ReactionMark = {
        at: event.at,
        device: event.senderDevice,
        eventId: event.eventId,
        emoji: event.remove ? '' : event.emoji,
        removed: event.remove,
      };
      const current = message.reactions?.[event.sender];
      if (current !== undefined && compareMarks(mark, current) <= 0) return UNCHANGED;
      return {
        kind: 'applied',
        message: { ...message, reactions: { ...message.reactions, [event.sender]: mark } },
        change: {
          kind: 'reaction',
          reactor: event.sender,
          emoji: mark.emoji,
          removed: mark.removed,
        },
      };
    }
  }
}

/**
 * A new message as it is stored: its expiry from the timer it carries, and
 * already a tombstone when that expiry has passed (a message that arrives
 * after it should have disappeared is never shown).
 */
export function arrivingMessage(
  message: StoredMessage,
  now: number,
  timerSecondMs = 1000,
): StoredMessage {
  const timer = message.expireTimer ?? 0;
  if (timer <= 0 || message.timerChange !== undefined) return message;
  const expiresAt = message.sentAt + Math.ceil(timer * timerSecondMs);
  const withExpiry: StoredMessage = { ...message, expireTimer: timer, expiresAt };
  return expiresAt <= now ? tombstone(withExpiry, 'expired') : withExpiry;
}

/** Whether `message` should be removed by a sweep at `now`. */
export function isExpired(message: StoredMessage, now: number): boolean {
  return message.expiresAt !== undefined && message.expiresAt <= now;
}

/** Whether the message is shown (not deleted in any way and not past its expiry). */
export function isVisible(message: StoredMessage, now: number): boolean {
  return message.deleted === undefined && !isExpired(message, now);
}

/** A chat's disappearing-timer setting and the change that set it. */
export interface ChatTimer {
  readonly seconds: number;
  readonly at: number;
  readonly sender: string;
  readonly device: number;
  readonly eventId: Uint8Array;
}

/** Last writer wins by (time, sender account, device, event id). */
export function timerWins(candidate: ChatTimer, current: ChatTimer | undefined): boolean {
  if (current === undefined) return true;
  if (candidate.at !== current.at) return candidate.at > current.at;
  if (candidate.sender !== current.sender) return candidate.sender > current.sender;
  if (candidate.device !== current.device) return candidate.device > current.device;
  return compareIds(candidate.eventId, current.eventId) > 0;
}

/** The reactions shown: reacting account → emoji (removals left out). */
export function visibleReactions(message: StoredMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [account, mark] of Object.entries(message.reactions ?? {})) {
    if (!mark.removed) out[account] = mark.emoji;
  }
  return out;
}

/**
 * Joins two states of the same message (this device's and another
 * device's, e.g. from a history archive): the later edit, the stronger
 * deletion, per reactor the later reaction. Local fields (receipts, the
 * receive time) come from `local`.
 */
export function mergeMessage(local: StoredMessage, other: StoredMessage): StoredMessage {
  const rank = (m: StoredMessage): number =>
    m.deleted === undefined ? 0 : DELETED_RANK[m.deleted];
  if (rank(other) > rank(local) && other.deleted !== undefined) {
    return tombstone(local, other.deleted);
  }
  if (local.deleted !== undefined) return local;
  let merged: StoredMessage = local;
  if (
    other.edit !== undefined &&
    (local.edit === undefined || compareMarks(other.edit, local.edit) > 0)
  ) {
    merged = { ...merged, text: other.text, edit: other.edit };
  }
  const reactions: Record<string, ReactionMark> = { ...local.reactions };
  let changedReactions = false;
  for (const [account, mark] of Object.entries(other.reactions ?? {})) {
    const mine = reactions[account];
    if (mine === undefined || compareMarks(mark, mine) > 0) {
      reactions[account] = mark;
      changedReactions = true;
    }
  }
  return changedReactions ? { ...merged, reactions } : merged;
}
