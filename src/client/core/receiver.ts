/**
 * The receive pipeline. For each envelope, on the queue of its source
 * device (one worker per peer device):
 *
 *   1. skip it if its processed mark exists (a redelivery after a lost ack);
 *   2. in ONE store transaction: decrypt, parse, store the message or apply
 *      the receipt, and write the processed mark — so a failure anywhere
 *      leaves the old session, no message and no mark, and the envelope is
 *      simply delivered again;
 *   3. only then ack it to the server, which forgets it — in a batch: one
 *      ack frame for the envelopes of a turn (receive-turn.ts);
 *   4. outside the queue (receive-outcome.ts): emit events and start
 *      follow-ups (delivery receipt — batched per sender like the acks —,
 *      retry request).
 *      Follow-ups encrypt, which needs the same per-address queue, so
 *      running them inside step 2 would deadlock.
 *
 * An ephemeral envelope (a typing indicator, typing.ts) was never stored by
 * the server: it gets no processed mark and no ack, and a failure to
 * decrypt it asks for no re-send.
 *
 * An envelope that cannot be decrypted is marked processed and acked too
 * (keeping it would only fail again); the sender is asked to re-send it.
 *
 * Before step 2, a prekey envelope (one that can create a session) must come
 * from a device ADV vouches for (devices/incoming-trust.ts); otherwise it is
 * refused — marked, acked, reported, and no session is stored — or, when it
 * comes from a new account key the user has not accepted yet, held: neither
 * marked nor acked, so the server delivers it again on the next connection.
 */
import { addressKey, protocolAddress, type ProtocolAddress } from '../../protocol/address.js';
import type { ProtocolContext } from '../../protocol/context.js';
import { ProtocolError } from '../../protocol/errors.js';
import type { PublicKey } from '../../protocol/curve.js';
import { PQ_MESSAGE_VERSION, PreKeySignalMessageV4 } from '../../protocol/pq/messages-v4.js';
import { PreKeySignalMessage } from '../../protocol/prekey-signal-message.js';
import type { Content } from '../../gen/quintet/v1/content_pb.js';
import { EnvelopeType, type Envelope } from '../../gen/quintet/v1/transport_pb.js';
import { toHex } from './bytes.js';
import { decodeContent, parseContent } from './content.js';
import type { DeviceDirectory } from './devices/device-directory.js';
import { verifyIncomingSession } from './devices/incoming-trust.js';
import { ClientError } from './errors.js';
import { errorCode, type ClientEvent } from './events.js';
import type { EventStream } from './event-stream.js';
import type { KeyedQueue } from './keyed-queue.js';
import { applyReceipt, receiptKind } from './receipts.js';
import { ReceiveTurn } from './receive-turn.js';
import {
  groupOutcome,
  reportOutcome,
  storedBy,
  type Outcome,
  type ReceiverFollowUps,
} from './receive-outcome.js';
import type { ServerApi } from './server-api.js';
import { decryptEnvelope } from './session-ops.js';
import type { DeviceStoreView, DeviceStore } from './store/device-store.js';
import { applyChatData, applyDeleteForMe, type ChatEnv } from './chat/chat-apply.js';
import { DEFAULT_CHAT_RULES, type ChatRules } from './chat/chat-rules.js';
import {
  acceptDistribution,
  receiveGroupMessage,
  receivePairwiseGroupMessage,
} from './groups/group-receive.js';
import { groupIdFromBytes } from './groups/group-id.js';
import { markReadByMarker } from './history/bootstrap.js';
import { receiveHistoryContent } from './history/history-receive.js';
import { typingEnabled, typingEvent } from './typing.js';

export type { ReceiverFollowUps } from './receive-outcome.js';

/** The primary's device id: it never gets bootstrap state, so it has no read markers. */
const PRIMARY_DEVICE = 1;

/** Decrypts, stores and acks envelopes. */
export class Receiver {
  readonly #turn: ReceiveTurn;

  constructor(
    private readonly ctx: ProtocolContext,
    private readonly store: DeviceStore,
    private readonly api: ServerApi,
    private readonly queue: KeyedQueue,
    private readonly events: EventStream<ClientEvent>,
    private readonly followUps: ReceiverFollowUps,
    private readonly directory: DeviceDirectory,
    private readonly self: { readonly account: string; readonly deviceId: number },
    /**
     * Groups: called before the transaction for a SENDER_KEY envelope, so
     * the group's chain can be fetched and verified (network) when the
     * sender is not a member in the stored one.
     */
    private readonly prepareGroupEnvelope: (envelope: Envelope) => Promise<void> = async () => {},
    /** Edit and delete windows, pending bound (chat/chat-rules.ts). */
    private readonly chatRules: ChatRules = DEFAULT_CHAT_RULES,
  ) {
    this.#turn = new ReceiveTurn({
      ack: (guids) => this.api.ack(guids),
      // The envelopes are stored (or dropped on purpose); a lost ack only
      // means a redelivery, which the processed mark turns into a no-op.
      ackFailed: (error) =>
        this.events.emit({ type: 'error', code: errorCode(error), message: 'ack failed' }),
      delivered: (from, ids, groupId) => this.followUps.delivered(from, ids, groupId),
    });
  }

  #chatEnv(): ChatEnv {
    return { now: this.ctx.clock.now(), rules: this.chatRules };
  }

  /**
   * Processes one envelope. Never rejects: every failure becomes an event
   * (and an unacked envelope, when nothing was committed). Resolves once it
   * is committed; when it is the last envelope in the pipeline, also once
   * the turn's ack frame is answered.
   */
  async handle(envelope: Envelope): Promise<void> {
    this.#turn.begin();
    try {
      await this.#handle(envelope);
    } finally {
      await this.#turn.end();
    }
  }

  async #handle(envelope: Envelope): Promise<void> {
    let address: ProtocolAddress;
    try {
      address = protocolAddress(envelope.source, envelope.sourceDevice);
    } catch {
      // The server vouches for the source, so this is a server fault; the
      // envelope can never be processed, so drop it rather than loop.
      this.events.emit({
        type: 'error',
        code: 'invalid-envelope',
        message: 'envelope has no valid source',
      });
      this.#turn.ack(envelope.serverGuid);
      return;
    }
    let outcome: Outcome | undefined;
    try {
      outcome = await this.queue.run(addressKey(address), () =>
        this.#processEnvelope(envelope, address),
      );
    } catch (error) {
      // Nothing was committed and nothing acked: the server delivers it again.
      this.events.emit({
        type: 'error',
        code: errorCode(error),
        message: 'an envelope could not be stored; it will be delivered again',
      });
      return;
    }
    if (outcome !== undefined) this.#report(envelope, outcome);
  }

  /** Returns undefined for an already processed envelope. */
  async #processEnvelope(
    envelope: Envelope,
    address: ProtocolAddress,
  ): Promise<Outcome | undefined> {
    const mark = await this.#markKey(envelope);
    if (await this.store.processed.has(mark)) {
      this.#turn.ack(envelope.serverGuid);
      return undefined;
    }
    const refusal = await this.#checkNewSession(envelope);
    if (refusal?.kind === 'refused' && refusal.held === true) {
      // From a new account key awaiting the user's acceptance: no mark and no
      // ack, so the server keeps it and delivers it again on the next
      // connection, when the key may have been accepted.
      return refusal;
    }
    if (envelope.type === EnvelopeType.SENDER_KEY) await this.prepareGroupEnvelope(envelope);
    const outcome = await this.store.transaction(async (tx) => {
      const result = refusal ?? (await this.#decryptAndApply(tx, envelope, address));
      // A companion: the bootstrap's per-chat read markers cover messages
      // that arrive after it but were sent before the primary's last read.
      if (this.self.deviceId !== PRIMARY_DEVICE) await markReadByMarker(tx, storedBy(result));
      // Never redelivered, so no mark to keep.
      if (!envelope.ephemeral) await tx.processed.mark(mark, this.ctx.clock.now());
      return result;
    });
    // Only after the commit (see the module comment). An ephemeral envelope
    // is in no queue: nothing to acknowledge.
    if (!envelope.ephemeral) this.#turn.ack(envelope.serverGuid);
    return outcome;
  }

  /**
   * ADV for incoming sessions: a prekey envelope's sender must be a device
   * the account key vouches for. Undefined when the envelope may proceed
   * (including one that does not parse: decryption reports that). May fetch
   * the sender's device list, so it runs before the transaction.
   */
  async #checkNewSession(envelope: Envelope): Promise<Outcome | undefined> {
    if (envelope.type !== EnvelopeType.PREKEY) return undefined;
    // Both versions create sessions, so both are checked: a v4 (PQXDH)
    // prekey message that skipped this would let an unvouched device, or a
    // new account key the user has not accepted, open a session.
    let message: { readonly identityKey: PublicKey; readonly registrationId: number };
    try {
      message =
        (envelope.content[0] ?? 0) >> 4 === PQ_MESSAGE_VERSION
          ? PreKeySignalMessageV4.deserialize(envelope.content)
          : PreKeySignalMessage.deserialize(envelope.content);
    } catch (error) {
      if (ProtocolError.is(error)) return undefined;
      throw error;
    }
    const verdict = await verifyIncomingSession(this.ctx, this.store, this.directory, {
      account: envelope.source,
      deviceId: envelope.sourceDevice,
      identityKey: message.identityKey,
      registrationId: message.registrationId,
      sourceDeviceIdentity: envelope.sourceDeviceIdentity,
    });
    if (verdict.trusted) return undefined;
    return { kind: 'refused', reason: verdict.reason, held: verdict.hold === true };
  }

  async #decryptAndApply(
    tx: DeviceStoreView,
    envelope: Envelope,
    address: ProtocolAddress,
  ): Promise<Outcome> {
    let content: Content;
    if (envelope.type === EnvelopeType.PLAINTEXT) {
      try {
        content = parseContent(envelope.content);
      } catch (error) {
        return { kind: 'failed', code: errorCode(error), retry: false };
      }
      // Unencrypted content is only acceptable for retry requests: anything
      // else could be forged by the server.
      if (content.body.case !== 'decryptionErrorMessage') {
        return { kind: 'failed', code: 'unexpected-plaintext', retry: false };
      }
      return { kind: 'retry-request', request: content.body.value };
    }
    if (envelope.type === EnvelopeType.SENDER_KEY) {
      return groupOutcome(
        await receiveGroupMessage(this.ctx, tx, envelope, address, this.self, this.chatRules),
      );
    }
    let padded: Uint8Array;
    try {
      padded = await decryptEnvelope(
        this.ctx,
        tx.protocol,
        address,
        envelope.type,
        envelope.content,
      );
    } catch (error) {
      // Already decrypted once (its effects are stored): nothing to do.
      if (ProtocolError.is(error, 'duplicate-message')) return { kind: 'nothing' };
      if (ProtocolError.is(error, 'invalid-state')) {
        // The stored session itself is damaged and can never decrypt again;
        // deleting it (in this same transaction) lets the sender's re-send
        // on a fresh session succeed instead of failing the same way.
        await tx.protocol.sessions.deleteSession(address);
        return { kind: 'failed', code: error.code, retry: true };
      }
      if (ProtocolError.is(error) || ClientError.is(error)) {
        return { kind: 'failed', code: error.code, retry: true };
      }
      throw error;
    }
    try {
      content = decodeContent(padded);
    } catch (error) {
      // The session advanced (committed below) but the content is garbage;
      // a re-send would carry the same bytes, so no retry.
      if (ClientError.is(error)) return { kind: 'failed', code: error.code, retry: false };
      throw error;
    }
    return this.#apply(tx, envelope, content, address);
  }

  async #apply(
    tx: DeviceStoreView,
    envelope: Envelope,
    content: Content,
    address: ProtocolAddress,
  ): Promise<Outcome> {
    const body = content.body;
    switch (body.case) {
      case 'dataMessage': {
        if (body.value.groupId.length > 0) {
          // A group message the sender re-sent pairwise after a retry request.
          return groupOutcome(
            await receivePairwiseGroupMessage(
              this.ctx,
              tx,
              body.value,
              address,
              this.self,
              this.chatRules,
            ),
          );
        }
        // A new message (stored once per id), or an event on one (chat/).
        const updates = await applyChatData(
          tx,
          {
            chat: envelope.source,
            sender: envelope.source,
            senderDevice: envelope.sourceDevice,
            outgoing: false,
          },
          body.value,
          this.#chatEnv(),
        );
        return { kind: 'chat', updates };
      }
      case 'receiptMessage': {
        const kind = receiptKind(body.value.type);
        if (kind === undefined) return { kind: 'nothing' };
        const deviceKey = `${envelope.source}.${envelope.sourceDevice}`;
        // Receipts for group messages name the group: that is the chat.
        const chat =
          body.value.groupId.length === 0 ? envelope.source : receiptGroup(body.value.groupId);
        if (chat === undefined) return { kind: 'nothing' };
        // A receipt rewrites the message record: not from a stale read (chat/chat-locks.ts).
        await tx.lockChat(chat);
        for (const id of body.value.messageIds) {
          const message = await tx.messages.get(chat, id);
          if (message === undefined || !message.outgoing) continue;
          const updated = applyReceipt(message, deviceKey, kind);
          if (updated !== message) await tx.messages.put(updated);
        }
        return {
          kind: 'receipt',
          receipt: kind,
          ids: body.value.messageIds,
          timestamp: Number(body.value.timestamp),
        };
      }
      case 'decryptionErrorMessage':
        return { kind: 'retry-request', request: body.value };
      case 'syncMessage': {
        // Only this account's own devices may change its read state.
        if (envelope.source !== this.self.account) return { kind: 'nothing' };
        const sync = body.value.body;
        if (sync.case === 'deleteForMe') {
          const source = { sender: envelope.source, senderDevice: envelope.sourceDevice };
          const updates = await applyDeleteForMe(tx, source, sync.value, this.#chatEnv());
          return { kind: 'chat', updates };
        }
        if (sync.case !== 'read') return { kind: 'nothing' };
        const at = Number(sync.value.timestamp);
        for (const id of sync.value.messageIds) {
          if ((await tx.read.readAt(sync.value.chat, id)) === undefined) {
            await tx.read.markRead(sync.value.chat, id, at);
          }
        }
        return { kind: 'read-sync', chat: sync.value.chat, ids: sync.value.messageIds };
      }
      case 'deviceSentMessage': {
        // Only this account's own devices may speak for it.
        if (envelope.source !== this.self.account) return { kind: 'nothing' };
        const sent = body.value.message;
        if (sent === undefined) return { kind: 'nothing' };
        const updates = await applyChatData(
          tx,
          {
            chat: body.value.destination,
            sender: envelope.source,
            senderDevice: envelope.sourceDevice,
            outgoing: true,
          },
          sent,
          this.#chatEnv(),
        );
        return { kind: 'chat', updates };
      }
      case 'senderKeyDistribution':
        return groupOutcome(await acceptDistribution(this.ctx, tx, address, body.value));
      case 'typingMessage': {
        // Only ever meaningful live: one that came queued is dropped.
        if (!envelope.ephemeral || !(await typingEnabled(tx.settings))) return { kind: 'nothing' };
        const event = typingEvent(
          body.value,
          { account: envelope.source, deviceId: envelope.sourceDevice },
          this.self,
          this.ctx.clock.now(),
        );
        return event === undefined ? { kind: 'nothing' } : { kind: 'typing', event };
      }
      case 'historySync':
      case 'bootstrapState':
        return receiveHistoryContent(
          tx,
          { account: envelope.source, deviceId: envelope.sourceDevice },
          this.self,
          body,
        );
      case undefined:
        return { kind: 'nothing' };
    }
  }

  #report(envelope: Envelope, outcome: Outcome): void {
    reportOutcome(envelope, outcome, {
      events: this.events,
      delivered: (from, id, groupId) => this.#turn.delivered(from, id, groupId),
      followUps: this.followUps,
    });
  }

  /**
   * The processed mark: a hash of source device and ciphertext. A ciphertext
   * is unique to one message, so the mark survives a server that re-queues
   * an envelope under a new guid.
   */
  async #markKey(envelope: Envelope): Promise<string> {
    const source = new TextEncoder().encode(`${envelope.source}.${envelope.sourceDevice}\u0000`);
    const input = new Uint8Array(source.length + envelope.content.length);
    input.set(source, 0);
    input.set(envelope.content, source.length);
    return toHex(await this.ctx.crypto.sha256(input));
  }
}

/** The chat of a group receipt; undefined for a malformed group id (ignored). */
function receiptGroup(bytes: Uint8Array): string | undefined {
  return bytes.length === 16 ? groupIdFromBytes(bytes) : undefined;
}
