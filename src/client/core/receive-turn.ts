/**
 * What the receive pipeline sends back to the server and to senders, in
 * batches: one `AckRequest` frame for the envelopes committed in a turn,
 * and one delivery receipt per sender (and group) for the messages of that
 * turn — not one round trip per envelope.
 *
 * A turn lasts while any envelope is in the pipeline: the batch goes out
 * when the last one in progress has finished (or, under a steady stream
 * that never empties the pipeline, whenever `MAX_ACK_BATCH` acks are
 * waiting, so acks never wait without bound). Only committed envelopes are
 * added (the receiver's invariant: decryption result, stored message and
 * processed mark commit together, and the ack comes after), so a lost or
 * late batch costs a redelivery, which the processed mark turns into a
 * no-op — never a lost message.
 */

/**
 * Guids per `AckRequest`. Far below the server's default limit (1024,
 * `maxAcksPerRequest`), so a server configured lower than the default
 * still takes every batch.
 */
export const MAX_ACK_BATCH = 100;

/** Message ids per delivery receipt (a receipt stays a small envelope). */
export const MAX_RECEIPT_IDS = 100;

/** Where a turn's batches go. */
export interface TurnSink {
  /** Acks one batch of server guids (one frame). */
  ack(serverGuids: Uint8Array[]): Promise<void>;
  /** A failed ack: reported, not thrown (the envelopes are stored). */
  ackFailed(error: unknown): void;
  /** Delivery receipts for messages of one sender (and group). Starts the send; does not wait. */
  delivered(from: string, messageIds: readonly Uint8Array[], groupId: string | undefined): void;
}

/** Collects acks and delivery receipts of the envelopes in progress. */
export class ReceiveTurn {
  readonly #sink: TurnSink;
  #active = 0;
  #acks: Uint8Array[] = [];
  /** Message ids per sender and group, in arrival order. */
  #deliveries = new Map<string, { from: string; groupId?: string; ids: Uint8Array[] }>();
  /** The ack frames sent so far, in order; never rejects. */
  #sent: Promise<void> = Promise.resolve();

  constructor(sink: TurnSink) {
    this.#sink = sink;
  }

  /** An envelope enters the pipeline. */
  begin(): void {
    this.#active++;
  }

  /** A committed (or deliberately dropped) envelope may be acked. */
  ack(serverGuid: Uint8Array): void {
    // An ephemeral envelope (typing.ts) has no guid: it is in no queue, and
    // an empty guid would make the server refuse the whole batch.
    if (serverGuid.length === 0) return;
    this.#acks.push(serverGuid);
    // The flush's promise never rejects (failures go to `ackFailed`), and
    // `end` waits for every flush started before it.
    if (this.#acks.length >= MAX_ACK_BATCH) void this.#flushAcks();
  }

  /** A new message from `from` was stored: a delivery receipt is due. */
  delivered(from: string, messageId: Uint8Array, groupId?: string): void {
    const key = groupId === undefined ? `${from}\u0000` : `${from}\u0000${groupId}`;
    let entry = this.#deliveries.get(key);
    if (entry === undefined) {
      entry = groupId === undefined ? { from, ids: [] } : { from, groupId, ids: [] };
      this.#deliveries.set(key, entry);
    }
    entry.ids.push(messageId);
  }

  /**
   * The envelope left the pipeline. When it was the last one, the turn's
   * acks go out (then its receipts start); resolves once every ack frame
   * sent so far is answered.
   */
  async end(): Promise<void> {
    this.#active--;
    if (this.#active > 0) return;
    await this.#flushAcks();
    this.#flushDeliveries();
  }

  /** Sends the waiting acks, at most `MAX_ACK_BATCH` per frame, after earlier frames. */
  #flushAcks(): Promise<void> {
    const guids = this.#acks;
    this.#acks = [];
    for (let start = 0; start < guids.length; start += MAX_ACK_BATCH) {
      const chunk = guids.slice(start, start + MAX_ACK_BATCH);
      this.#sent = this.#sent.then(() =>
        this.#sink.ack(chunk).catch((error: unknown) => this.#sink.ackFailed(error)),
      );
    }
    return this.#sent;
  }

  #flushDeliveries(): void {
    const deliveries = this.#deliveries;
    this.#deliveries = new Map();
    for (const { from, groupId, ids } of deliveries.values()) {
      for (let start = 0; start < ids.length; start += MAX_RECEIPT_IDS) {
        this.#sink.delivered(from, ids.slice(start, start + MAX_RECEIPT_IDS), groupId);
      }
    }
  }
}
