/**
 * Applies received (or own) chat content to the device store, inside the
 * caller's transaction: the receive pipeline calls it in the same
 * transaction as the decrypt and the processed mark, so a state change
 * commits exactly when its envelope counts as processed.
 *
 * A data message is either a new chat message (text, attachment, reply,
 * with the disappearing timer it was sent with) or an event: a reaction,
 * an edit, a delete for everyone, a timer change. Events on a message this
 * device does not have yet are kept (`chat-pending`) and applied when it
 * arrives, so the order of arrival never changes the outcome.
 */
import type { DataMessage, DeleteForMe, MessageRef } from '../../../gen/quintet/v1/content_pb.js';
import { withAttachment } from '../attachments/pointer.js';
import { isGroupChat, parseGroupId } from '../groups/group-id.js';
import type { DeviceStoreView } from '../store/device-store.js';
import type { StoredMessage } from '../store/records.js';
import type { ChatRules } from './chat-rules.js';
import {
  applyEvent,
  arrivingMessage,
  isExpired,
  tombstone,
  timerWins,
  type MessageChange,
  type MessageEvent,
  type RefusalReason,
} from './chat-state.js';

/** Who a data message is from and which chat it belongs to (from the envelope). */
export interface DataOrigin {
  readonly chat: string;
  readonly sender: string;
  readonly senderDevice: number;
  /** Sent by this account (a copy from another own device, or this device itself). */
  readonly outgoing: boolean;
}

/** The environment of an apply: the injected clock's time and the windows. */
export interface ChatEnv {
  readonly now: number;
  readonly rules: ChatRules;
}

/** What applying content did, in order; the caller turns it into events. */
export type ChatUpdate =
  | { readonly kind: 'message'; readonly message: StoredMessage }
  | {
      readonly kind: 'changed';
      readonly chat: string;
      readonly messageId: Uint8Array;
      readonly by: string;
      readonly byDevice: number;
      readonly change: MessageChange;
    }
  | {
      readonly kind: 'timer';
      readonly chat: string;
      /** The chat's setting after this change (a late, older change does not win). */
      readonly seconds: number;
      readonly by: string;
      readonly at: number;
    }
  | {
      readonly kind: 'refused';
      readonly chat: string;
      readonly from: string;
      readonly fromDevice: number;
      readonly event: 'reaction' | 'edit' | 'delete' | 'delete-for-me' | 'timer';
      /** The message the event named (absent for timer changes). */
      readonly messageId?: Uint8Array;
      readonly reason: RefusalReason;
    };

type Tx = Pick<DeviceStoreView, 'messages' | 'chat' | 'groups' | 'lockChat'>;

function targetOf(ref: MessageRef | undefined): { author: string; id: Uint8Array } {
  // content.ts checked every reference before this runs.
  return { author: ref?.author ?? '', id: ref?.messageId ?? new Uint8Array(0) };
}

/** Applies one decoded data message (already checked by content.ts). */
export async function applyChatData(
  tx: Tx,
  origin: DataOrigin,
  data: DataMessage,
  env: ChatEnv,
): Promise<ChatUpdate[]> {
  // Held until the commit: no concurrent transaction rewrites this chat's
  // messages from a stale read (chat-locks.ts).
  await tx.lockChat(origin.chat);
  const base = {
    chat: origin.chat,
    sender: origin.sender,
    senderDevice: origin.senderDevice,
    eventId: data.messageId,
    at: Number(data.timestamp),
  };
  const event = data.event;
  switch (event.case) {
    case 'reaction':
      return applyMessageEvent(
        tx,
        {
          ...base,
          kind: 'reaction',
          target: targetOf(event.value.target),
          emoji: event.value.emoji,
          remove: event.value.remove,
        },
        env,
      );
    case 'edit':
      return applyMessageEvent(
        tx,
        { ...base, kind: 'edit', target: targetOf(event.value.target), text: event.value.text },
        env,
      );
    case 'delete':
      return applyMessageEvent(
        tx,
        { ...base, kind: 'delete', target: targetOf(event.value.target) },
        env,
      );
    case 'timerChange':
      return applyTimerChange(tx, origin, data, event.value.seconds, env);
    case undefined:
      return storeNewMessage(tx, messageOf(origin, data, env.now), env);
  }
}

/** The stored form of a new chat message. */
function messageOf(origin: DataOrigin, data: DataMessage, now: number): StoredMessage {
  const quote = data.quote;
  return {
    id: data.messageId,
    chat: origin.chat,
    sender: origin.sender,
    senderDevice: origin.senderDevice,
    text: data.text,
    sentAt: Number(data.timestamp),
    receivedAt: origin.outgoing ? 0 : now,
    outgoing: origin.outgoing,
    receipts: {},
    ...withAttachment(data),
    ...(quote !== undefined
      ? { replyTo: { ...targetOf(quote.target), snippet: quote.snippet } }
      : {}),
    ...(data.expireTimer > 0 ? { expireTimer: data.expireTimer } : {}),
  };
}

/**
 * Stores a new message once per id (a redelivered or re-sent copy, or one
 * this device already deleted or saw expire, changes nothing), then applies
 * the events that were waiting for it.
 */
export async function storeNewMessage(
  tx: Tx,
  message: StoredMessage,
  env: ChatEnv,
): Promise<ChatUpdate[]> {
  if ((await tx.messages.get(message.chat, message.id)) !== undefined) return [];
  let stored = arrivingMessage(message, env.now, env.rules.timerSecondMs);
  const updates: ChatUpdate[] =
    stored.deleted === undefined ? [{ kind: 'message', message: stored }] : [];
  for (const pending of await tx.chat.takePending(message.chat, message.id)) {
    const result = applyEvent(stored, pending, env.rules);
    if (result.kind === 'applied') {
      stored = result.message;
      updates.push(changed(pending, result.change));
    } else if (result.kind === 'refused') {
      updates.push(refused(pending, result.reason));
    }
  }
  await tx.messages.put(stored);
  // The `message` update shows the state after the pending events.
  return updates.map((u) => (u.kind === 'message' ? { kind: 'message', message: stored } : u));
}

function changed(event: MessageEvent, change: MessageChange): ChatUpdate {
  return {
    kind: 'changed',
    chat: event.chat,
    messageId: event.target.id,
    by: event.sender,
    byDevice: event.senderDevice,
    change,
  };
}

function refused(event: MessageEvent, reason: RefusalReason): ChatUpdate {
  return {
    kind: 'refused',
    chat: event.chat,
    from: event.sender,
    fromDevice: event.senderDevice,
    event: event.kind,
    messageId: event.target.id,
    reason,
  };
}

/** Applies an event to its target, or keeps it until the target arrives. */
export async function applyMessageEvent(
  tx: Tx,
  event: MessageEvent,
  env: ChatEnv,
): Promise<ChatUpdate[]> {
  const target = await tx.messages.get(event.chat, event.target.id);
  if (target === undefined) {
    if (await tx.chat.addPending(event, env.rules.maxPendingPerChat)) return [];
    return [refused(event, 'pending-full')];
  }
  const result = applyEvent(target, event, env.rules);
  switch (result.kind) {
    case 'applied':
      await tx.messages.put(result.message);
      return [changed(event, result.change)];
    case 'refused':
      return [refused(event, result.reason)];
    case 'unchanged':
      return [];
  }
}

/**
 * A timer change: shown in the chat as an entry of its own, and the chat's
 * setting when it is the latest change (last writer wins). In a group only
 * an admin of the verified membership may change it.
 */
async function applyTimerChange(
  tx: Tx,
  origin: DataOrigin,
  data: DataMessage,
  seconds: number,
  env: ChatEnv,
): Promise<ChatUpdate[]> {
  const at = Number(data.timestamp);
  if (isGroupChat(origin.chat)) {
    const head = await tx.groups.getHead(parseGroupId(origin.chat));
    const member = head?.change.members.find((m) => m.account === origin.sender);
    if (member?.admin !== true) {
      return [
        {
          kind: 'refused',
          chat: origin.chat,
          from: origin.sender,
          fromDevice: origin.senderDevice,
          event: 'timer',
          reason: 'not-admin',
        },
      ];
    }
  }
  if ((await tx.messages.get(origin.chat, data.messageId)) !== undefined) return [];
  const entry: StoredMessage = {
    ...messageOf(origin, data, env.now),
    timerChange: seconds,
  };
  await tx.messages.put(entry);
  const setting = await adoptTimer(tx, entry);
  return [
    { kind: 'message', message: entry },
    { kind: 'timer', chat: origin.chat, seconds: setting, by: origin.sender, at },
  ];
}

/**
 * Makes a timer entry the chat's setting when it is the latest change (last
 * writer wins); returns the setting after it. History import calls it for
 * the timer entries of an archive, so a new device carries the same timer.
 */
export async function adoptTimer(tx: Tx, entry: StoredMessage): Promise<number> {
  const candidate = {
    seconds: entry.timerChange ?? 0,
    at: entry.sentAt,
    sender: entry.sender,
    device: entry.senderDevice,
    eventId: entry.id,
  };
  const current = await tx.chat.timer(entry.chat);
  if (!timerWins(candidate, current)) return current?.seconds ?? candidate.seconds;
  await tx.chat.putTimer(entry.chat, candidate);
  return candidate.seconds;
}

/** Removes every message whose expiry has passed, at most `limit` per call. */
export async function sweepExpired(tx: Tx, now: number, limit: number): Promise<ChatUpdate[]> {
  const updates: ChatUpdate[] = [];
  for (const entry of await tx.chat.expiredBy(now, limit)) {
    const message = await tx.messages.get(entry.chat, entry.id);
    if (message === undefined || message.deleted !== undefined || !isExpired(message, now)) {
      // A stale row (the message is gone or changed): forget it, or every
      // later sweep would stop at it.
      await tx.chat.forgetExpiry(entry);
      continue;
    }
    // Rewriting the message as a tombstone also drops its index row.
    await tx.messages.put(tombstone(message, 'expired'));
    updates.push({
      kind: 'changed',
      chat: entry.chat,
      messageId: entry.id,
      by: message.sender,
      byDevice: message.senderDevice,
      change: { kind: 'deleted', scope: 'expired' },
    });
  }
  return updates;
}

/**
 * Delete-for-me from another device of this account (the caller checked the
 * source is this account): hides each named message here too.
 */
export async function applyDeleteForMe(
  tx: Tx,
  source: { readonly sender: string; readonly senderDevice: number },
  sync: DeleteForMe,
  env: ChatEnv,
): Promise<ChatUpdate[]> {
  const updates: ChatUpdate[] = [];
  await tx.lockChat(sync.chat);
  for (const ref of sync.targets) {
    const event: MessageEvent = {
      kind: 'delete-for-me',
      chat: sync.chat,
      sender: source.sender,
      senderDevice: source.senderDevice,
      eventId: ref.messageId,
      at: Number(sync.timestamp),
      target: targetOf(ref),
    };
    updates.push(...(await applyMessageEvent(tx, event, env)));
  }
  return updates;
}
