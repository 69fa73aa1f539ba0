/**
 * What one envelope of the receive pipeline (receiver.ts) came to, once
 * committed, and step 4 of that pipeline: reporting it — the events an
 * application sees, the delivery receipt queued for the turn, and the
 * follow-ups (retry request, re-send, history) other modules run.
 */
import type { DecryptionErrorMessage } from '../../gen/quintet/v1/content_pb.js';
import type { Envelope } from '../../gen/quintet/v1/transport_pb.js';
import type { ClientEvent } from './events.js';
import type { EventStream } from './event-stream.js';
import type { ReceiptKind } from './receipts.js';
import type { StoredMessage } from './store/records.js';
import type { ChatUpdate } from './chat/chat-apply.js';
import { chatUpdateEvents } from './chat/chat-events.js';
import type { GroupReceiveResult } from './groups/group-receive.js';
import type { HistoryOutcome } from './history/history-receive.js';
import type { TypingEvent } from './typing.js';

/** What the receiver asks other modules to do after an envelope is committed. */
export interface ReceiverFollowUps {
  /**
   * New messages were stored: send one delivery receipt for them (naming
   * the group for group messages). Called once per sender and group per
   * turn (receive-turn.ts), with every message of that turn.
   */
  delivered(from: string, messageIds: readonly Uint8Array[], groupId?: string): void;
  /**
   * An envelope did not decrypt: ask the sender to re-send it. Returns
   * whether a request goes out (false: rate-limited for that device).
   */
  requestRetry(
    from: string,
    fromDevice: number,
    timestamp: number,
    groupId: Uint8Array | undefined,
  ): boolean;
  /** A peer asks this device to re-send a message. */
  retryRequested(from: string, fromDevice: number, request: DecryptionErrorMessage): void;
  /** A bootstrap state or history pointer was accepted or refused (history/). */
  history(outcome: HistoryOutcome): void;
}

/** The committed result of one envelope. */
export type Outcome =
  | { readonly kind: 'message'; readonly message: StoredMessage; readonly groupId?: string }
  | {
      readonly kind: 'group-refused';
      readonly groupId: string;
      readonly reason: string;
    }
  | {
      readonly kind: 'receipt';
      readonly receipt: ReceiptKind;
      readonly ids: readonly Uint8Array[];
      readonly timestamp: number;
    }
  | { readonly kind: 'retry-request'; readonly request: DecryptionErrorMessage }
  | { readonly kind: 'read-sync'; readonly chat: string; readonly ids: readonly Uint8Array[] }
  | { readonly kind: 'refused'; readonly reason: string; readonly held?: boolean }
  | {
      readonly kind: 'failed';
      readonly code: string;
      readonly retry: boolean;
      /** For a group message: the group the retry request names. */
      readonly retryGroupId?: Uint8Array | undefined;
    }
  | HistoryOutcome
  | { readonly kind: 'chat'; readonly updates: readonly ChatUpdate[]; readonly groupId?: string }
  | { readonly kind: 'typing'; readonly event: TypingEvent }
  | { readonly kind: 'nothing' };

/** Where `reportOutcome` sends what it reports. */
export interface OutcomeSinks {
  readonly events: EventStream<ClientEvent>;
  /** Queues a delivery receipt for the turn (receive-turn.ts batches them per sender). */
  readonly delivered: (from: string, messageId: Uint8Array, groupId: string | undefined) => void;
  readonly followUps: ReceiverFollowUps;
}

/** Reports a committed outcome (step 4 of the pipeline: outside the queue). */
export function reportOutcome(envelope: Envelope, outcome: Outcome, to: OutcomeSinks): void {
  const from = envelope.source;
  const fromDevice = envelope.sourceDevice;
  switch (outcome.kind) {
    case 'message':
      to.events.emit({ type: 'message', message: outcome.message });
      if (!outcome.message.outgoing) {
        to.delivered(from, outcome.message.id, outcome.groupId);
      }
      return;
    case 'chat':
      for (const event of chatUpdateEvents(outcome.updates)) {
        to.events.emit(event);
        if (event.type === 'message' && !event.message.outgoing) {
          to.delivered(from, event.message.id, outcome.groupId);
        }
      }
      return;
    case 'group-refused':
      to.events.emit({
        type: 'group-message-refused',
        groupId: outcome.groupId,
        from,
        fromDevice,
        reason: outcome.reason,
      });
      return;
    case 'receipt':
      to.events.emit({
        type: 'receipt',
        kind: outcome.receipt,
        from,
        fromDevice,
        messageIds: outcome.ids,
        timestamp: outcome.timestamp,
      });
      return;
    case 'retry-request':
      to.followUps.retryRequested(from, fromDevice, outcome.request);
      return;
    case 'read-sync':
      to.events.emit({ type: 'read', chat: outcome.chat, messageIds: outcome.ids, fromDevice });
      return;
    case 'refused':
      to.events.emit({
        type: 'session-refused',
        from,
        fromDevice,
        timestamp: Number(envelope.timestamp),
        reason: outcome.reason,
        held: outcome.held === true,
      });
      return;
    case 'typing':
      to.events.emit(outcome.event);
      return;
    case 'failed': {
      const timestamp = Number(envelope.timestamp);
      // A re-sent typing indicator would be stale: never asked for.
      const requested =
        outcome.retry &&
        !envelope.ephemeral &&
        to.followUps.requestRetry(from, fromDevice, timestamp, outcome.retryGroupId);
      to.events.emit({
        type: 'decryption-failure',
        from,
        fromDevice,
        timestamp,
        code: outcome.code,
        retryRequested: requested,
      });
      return;
    }
    case 'history-import':
    case 'history-bootstrap':
    case 'history-refused':
      to.followUps.history(outcome);
      return;
    case 'nothing':
      return;
  }
}

/** The messages an outcome newly stored. */
export function storedBy(outcome: Outcome): StoredMessage[] {
  if (outcome.kind === 'message') return [outcome.message];
  if (outcome.kind !== 'chat') return [];
  return outcome.updates.flatMap((update) => (update.kind === 'message' ? [update.message] : []));
}

/** Maps a group receive result onto the pipeline's outcome. */
export function groupOutcome(result: GroupReceiveResult): Outcome {
  switch (result.kind) {
    case 'message':
      return { kind: 'message', message: result.message, groupId: result.groupId };
    case 'chat':
      return { kind: 'chat', updates: result.updates, groupId: result.groupId };
    case 'refused':
      return { kind: 'group-refused', groupId: result.groupId, reason: result.reason };
    case 'failed':
      // Only a sender key failure is worth a (group-aware) retry request.
      return {
        kind: 'failed',
        code: result.code,
        retry: result.retryGroupId !== undefined,
        retryGroupId: result.retryGroupId,
      };
    case 'typing':
      return { kind: 'typing', event: result.event };
    case 'key':
    case 'nothing':
      return { kind: 'nothing' };
  }
}
