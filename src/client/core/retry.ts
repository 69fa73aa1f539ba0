/**
 * Retry requests, both directions (WhatsApp "retry receipts", Signal
 * `DecryptionErrorMessage`).
 *
 * Receiver: an envelope that does not decrypt is answered with a plaintext
 * notice naming it (sender device + timestamp — all that is readable), so
 * the sender never waits forever for a message the peer cannot read.
 *
 * Sender: the notice makes it delete its session with the requesting device
 * and re-send the kept content on a new session from a fresh bundle. At most
 * `MAX_RETRIES` times per message and device, so two broken peers cannot
 * loop forever.
 *
 * Group messages (group-aware retry): a member that cannot decrypt a
 * SENDER_KEY envelope (its copy of the distribution was lost, say) names the
 * group in its request. The sender keeps what it sent to a group like a 1:1
 * message (under the group id) and answers with its current sender key
 * distribution and the message itself, both over the pairwise session; the
 * member stores the message once (same message id), and reads the group's
 * later messages with the key. No session is reset for a group request.
 *
 * Both directions are rate-limited per peer device (retry-limiter.ts): a
 * flood of undecryptable envelopes from one device gets at most a burst of
 * retry requests, and a flood of retry requests at most a burst of session
 * resets. Past the limit nothing is sent; the envelope was already acked and
 * recorded as failed, so nothing loops.
 */
import { protocolAddress } from '../../protocol/address.js';
import type { DecryptionErrorMessage } from '../../gen/quintet/v1/content_pb.js';
import type { Content } from '../../gen/quintet/v1/content_pb.js';
import { parseContent } from './content.js';
import { GroupError } from './groups/errors.js';
import { groupIdFromBytes, type GroupId } from './groups/group-id.js';
import type { ClientEvent, RetryRequestEvent } from './events.js';
import type { EventStream } from './event-stream.js';
import type { Outbox } from './outbox.js';
import type { SessionManager } from './session-manager.js';
import type { DeviceStore } from './store/device-store.js';
import type { ProtocolContext } from '../../protocol/context.js';
import { RETRY_REQUEST_LIMIT, RetryLimiter, SESSION_RESET_LIMIT } from './retry-limiter.js';

/** Retry requests answered per message and requesting device (WhatsApp's limit). */
export const MAX_RETRIES = 5;

/** The group side of a group-aware retry (groups/group-client.ts). */
export interface GroupResender {
  /**
   * Re-sends `content` (a group message sent at `timestamp`) and the current
   * sender key distribution pairwise to `account`, if `account`/`deviceId`
   * is a verified member device; false when it is not (nothing sent).
   */
  resend(
    groupId: GroupId,
    account: string,
    deviceId: number,
    content: Content,
    timestamp: number,
  ): Promise<boolean>;
}

/** Both halves of the retry flow. */
export class RetryManager {
  /** Retry requests this device may send, per sender device. */
  readonly #requests: RetryLimiter;
  /** Session resets this device may do on request, per requesting device. */
  readonly #resets: RetryLimiter;

  constructor(
    ctx: ProtocolContext,
    private readonly store: DeviceStore,
    private readonly outbox: Outbox,
    private readonly sessions: SessionManager,
    private readonly events: EventStream<ClientEvent>,
    private readonly self: { readonly account: string; readonly deviceId: number },
    private readonly groups: GroupResender,
  ) {
    this.#requests = new RetryLimiter(ctx.clock, RETRY_REQUEST_LIMIT);
    this.#resets = new RetryLimiter(ctx.clock, SESSION_RESET_LIMIT);
  }

  /**
   * Whether a retry request to `source`/`sourceDevice` may go out now (takes
   * a token). Called synchronously when a failure is reported, so the
   * `decryption-failure` event can say whether the sender was asked.
   */
  mayRequestRetry(source: string, sourceDevice: number): boolean {
    return this.#requests.take(source, sourceDevice);
  }

  /**
   * Receiver side: asks `source`'s device `sourceDevice` to re-send the
   * envelope sent at `timestamp` (naming `groupId` for a group message).
   */
  async requestRetry(
    source: string,
    sourceDevice: number,
    timestamp: number,
    groupId?: Uint8Array,
  ): Promise<void> {
    await this.outbox.sendPlaintext(source, {
      body: {
        case: 'decryptionErrorMessage',
        value: {
          timestamp: BigInt(timestamp),
          deviceId: sourceDevice,
          requesterDeviceId: this.self.deviceId,
          groupId: groupId ?? new Uint8Array(0),
        },
      },
    });
  }

  /**
   * Sender side: answers a retry request from `from`/`fromDevice`. The
   * request is unauthenticated content, but the server vouches for the
   * sending device, and all it can cause is a re-send to that same device.
   */
  async handleRequest(
    from: string,
    fromDevice: number,
    request: DecryptionErrorMessage,
  ): Promise<void> {
    // Sent to every device of this account; only the original sender acts.
    if (request.deviceId !== this.self.deviceId) return;
    const timestamp = Number(request.timestamp);
    const emit = (outcome: RetryRequestEvent['outcome']): void =>
      this.events.emit({ type: 'retry-request', from, fromDevice, timestamp, outcome });
    let groupId: GroupId | undefined;
    if (request.groupId.length > 0) {
      try {
        groupId = groupIdFromBytes(request.groupId);
      } catch (error) {
        if (!GroupError.is(error)) throw error;
        emit('unknown');
        return;
      }
    }
    // Group messages are kept under the group id (one record for all members).
    const sent = await this.store.sent.get(groupId ?? from, timestamp);
    if (sent === undefined) {
      emit('unknown');
      return;
    }
    const used = sent.retries[fromDevice] ?? 0;
    if (used >= MAX_RETRIES) {
      emit('exhausted');
      return;
    }
    // A flood of requests from one device must not reset sessions (and use
    // up prekey bundles) without bound.
    if (!this.#resets.take(from, fromDevice)) {
      emit('rate-limited');
      return;
    }
    // Count first: a crash after re-sending must not grant an extra try.
    await this.store.sent.put({ ...sent, retries: { ...sent.retries, [fromDevice]: used + 1 } });
    try {
      if (groupId !== undefined) {
        const content = parseContent(sent.content);
        if (!(await this.groups.resend(groupId, from, fromDevice, content, timestamp))) {
          emit('unknown');
          return;
        }
      } else {
        await this.sessions.resetSession(protocolAddress(from, fromDevice));
        await this.outbox.sendContent(from, parseContent(sent.content), timestamp);
      }
    } catch (error) {
      emit('failed');
      throw error;
    }
    emit('resent');
  }
}
