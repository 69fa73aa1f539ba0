/**
 * Delivery to one authenticated connection: first the backlog, in queue
 * order, then `QueueDrained`, then live envelopes as they are committed.
 *
 * Envelopes committed while the backlog is still being read may show up
 * twice — once in a store page, once as a live hand-off — so live ones are
 * held back during the drain and pushed afterwards only if the drain did not
 * already send them. Envelopes stay in the store until the device acks
 * them; an unacked one is sent again on the next connection.
 *
 * Envelopes past their lifetime (accepted more than `messageTtlMs` ago) are
 * never sent, even when the expiry sweep has not deleted them yet.
 *
 * A store failure while reading the backlog closes the connection
 * (`PushChannel.fail`): the client reconnects and the drain starts over,
 * rather than the device staying connected but never hearing of its queue.
 *
 * What is held back in memory is bounded too: past a page's worth, held
 * envelopes are dropped and read from the store again after the drain
 * (they are there until acked). Pages are only read, and envelopes only
 * sent, while the connection's output has room (see connection.ts); a live
 * envelope arriving while it has none sends delivery back to reading the
 * store from where the backlog ended, so nothing waits in memory for a
 * client that does not read. Envelopes that this re-reads and the client
 * already has are redeliveries, which clients recognise.
 */
import type { Logger } from 'pino';
import type { DeviceAddress, ServerContext } from './context.js';
import { QUEUE_DRAINED_PUSH, envelopePush } from './envelope-frames.js';
import { guidSequence } from './store/envelope-guid.js';
import type { QueuedEnvelope } from './store/types.js';

/** Pushed live already (a read never returns what an earlier read of this connection did). */
function wasSeenBy(
  seen: { readonly through: number; readonly ahead: ReadonlySet<number> },
  envelope: QueuedEnvelope,
): boolean {
  const seq = guidSequence(envelope.guid);
  return seq !== undefined && (seq <= seen.through || seen.ahead.has(seq));
}

function guidKey(guid: Uint8Array): string {
  let out = '';
  for (const byte of guid) out += byte.toString(16).padStart(2, '0');
  return out;
}

/** The socket operations delivery needs. */
export interface PushChannel {
  /** Sends bytes; resolves when the socket has taken them (backpressure). */
  send(bytes: Uint8Array): Promise<void>;
  /** Sends without waiting. */
  sendNow(bytes: Uint8Array): void;
  isOpen(): boolean;
  /** Delivery cannot go on (a store failure): close so the client reconnects. */
  fail(): void;
  /** Whether the connection's output is within its budget. */
  hasRoom(): boolean;
  /** Resolves once the output has drained (or the connection closed). */
  waitForRoom(): Promise<void>;
}

/** One device's delivery state on one connection. */
export class DeviceDelivery {
  /** Live envelopes held back while the backlog drains (undefined once drained). */
  private held: QueuedEnvelope[] | undefined = [];
  /** Content bytes in `held`. */
  private heldBytes = 0;
  /** Live envelopes were dropped during the drain: read on from the store. */
  private missed = false;
  /** Where reading the store resumes: the last envelope read. */
  private cursor = 0;
  /** `QueueDrained` went out (it is sent once per connection). */
  private announced = false;
  private readonly drained = new Set<string>();
  private stopped = false;
  /**
   * In a cluster only (undefined on a single node, where nothing re-reads
   * behind live pushes): what this connection has seen of the queue, by
   * sequence number. Every envelope up to `through` was pushed or read from
   * the store; `ahead` holds the ones pushed beyond a gap. A wake re-reads
   * from the cursor and skips what was seen, so nothing is pushed twice;
   * envelopes another node carries in its wake are pushed without a store
   * read only when they come next (a lost or late wake leaves a gap, and a
   * gap sends delivery to the store).
   */
  private readonly seen: { through: number; readonly ahead: Set<number> } | undefined;

  constructor(
    private readonly ctx: ServerContext,
    private readonly address: DeviceAddress,
    private readonly channel: PushChannel,
    private readonly logger: Logger,
    options: { readonly trackLive?: boolean } = {},
  ) {
    this.seen = options.trackLive === true ? { through: 0, ahead: new Set() } : undefined;
  }

  /** Starts draining the backlog; live envelopes flow once it is done. */
  start(): void {
    this.drain().catch((error: unknown) => {
      // A store failure mid-drain: the envelopes stay queued; the device gets
      // them on its next connection, so close this one rather than go quiet.
      this.logger.error({ err: error }, 'backlog delivery failed; closing the connection');
      this.stop();
      this.channel.fail();
    });
  }

  /** Hands over envelopes that were just committed for this device. */
  offer(envelopes: readonly QueuedEnvelope[]): void {
    if (this.stopped) return;
    if (this.held !== undefined) {
      this.hold(envelopes);
      return;
    }
    if (!this.channel.hasRoom()) {
      // The client is behind: keep nothing for it in memory; these are in
      // the store, and a drain from the cursor sends them once it catches up.
      this.held = [];
      this.heldBytes = 0;
      this.start();
      return;
    }
    for (const envelope of envelopes) this.push(envelope);
  }

  /** Holds live envelopes during a drain, up to a page and half the output budget. */
  private hold(envelopes: readonly QueuedEnvelope[]): void {
    if (this.held === undefined) return;
    for (const envelope of envelopes) {
      this.heldBytes += envelope.content.length;
      this.held.push(envelope);
    }
    if (
      this.held.length > this.ctx.limits.backlogPageSize ||
      this.heldBytes > this.ctx.limits.maxConnectionOutputBytes / 2
    ) {
      this.held = [];
      this.heldBytes = 0;
      this.missed = true;
    }
  }

  /**
   * Envelopes were queued for this device where it could not be handed over
   * (another node took the send, or the bus is down): read the store on
   * from the cursor. Wakes arriving while a read is under way coalesce into
   * one more pass of that read.
   */
  wake(): void {
    if (this.stopped) return;
    if (this.held !== undefined) {
      this.missed = true;
      return;
    }
    this.held = [];
    this.heldBytes = 0;
    this.start();
  }

  /**
   * Envelopes another node committed for this device, in queue order: each
   * is pushed if it is the next one this connection has not seen; on a gap
   * (a wake lost or overtaken, a refused enqueue's unused sequence) the
   * store is read from the cursor instead, which is the truth.
   */
  offerRemote(envelopes: readonly QueuedEnvelope[]): void {
    if (this.stopped) return;
    const seen = this.seen;
    if (
      seen === undefined ||
      this.ctx.store.queue.contiguousSequences !== true ||
      this.held !== undefined ||
      !this.channel.hasRoom()
    ) {
      this.wake();
      return;
    }
    for (const envelope of envelopes) {
      const seq = guidSequence(envelope.guid);
      if (seq === undefined || seq > seen.through + 1) {
        this.wake();
        return;
      }
      if (seq <= seen.through || seen.ahead.has(seq)) continue;
      this.push(envelope);
    }
  }

  /** Stops all delivery (connection closed or replaced). */
  stop(): void {
    this.stopped = true;
    this.held = undefined;
    this.heldBytes = 0;
    this.drained.clear();
  }

  private push(envelope: QueuedEnvelope): void {
    this.channel.sendNow(envelopePush(envelope));
    this.ctx.metrics.messagesDelivered += 1;
    if (this.seen !== undefined) this.sawPushed(this.seen, guidSequence(envelope.guid));
  }

  private sawPushed(seen: { through: number; readonly ahead: Set<number> }, seq?: number): void {
    if (seq === undefined || seq <= seen.through) return;
    if (seq === seen.through + 1) {
      seen.through = seq;
      while (seen.ahead.delete(seen.through + 1)) seen.through += 1;
      return;
    }
    // Bounded: past this, a later wake may redeliver (clients drop redeliveries).
    if (seen.ahead.size >= this.ctx.limits.backlogPageSize * 4) seen.ahead.clear();
    seen.ahead.add(seq);
  }

  /**
   * A store read ended at `cursor`: sequences are taken under the device's
   * queue-head lock and committed in that order, so every envelope up to
   * the cursor was in the read (or acked, or a refused enqueue's gap).
   */
  private sawRead(cursor: number): void {
    const seen = this.seen;
    if (seen === undefined || cursor <= seen.through) return;
    seen.through = cursor;
    for (const seq of seen.ahead) if (seq <= cursor) seen.ahead.delete(seq);
    while (seen.ahead.delete(seen.through + 1)) seen.through += 1;
  }

  private async drain(): Promise<void> {
    const { queue } = this.ctx.store;
    for (;;) {
      // No page is read while the client has not taken what it was sent.
      if (!this.channel.hasRoom()) await this.channel.waitForRoom();
      if (this.stopped || !this.channel.isOpen()) return;
      const page = await queue.page(
        this.address.account,
        this.address.deviceId,
        this.cursor,
        this.ctx.limits.backlogPageSize,
      );
      this.cursor = page.cursor;
      let last: Promise<void> | undefined;
      // Read per page: a long drain moves with the clock.
      const expiredBefore = this.ctx.clock.now() - this.ctx.limits.messageTtlMs;
      for (const envelope of page.envelopes) {
        if (!this.channel.hasRoom()) await this.channel.waitForRoom();
        if (this.stopped || !this.channel.isOpen()) return;
        // Past its lifetime, awaiting the sweep: never delivered.
        if (envelope.serverTimestamp < expiredBefore) continue;
        if (this.seen !== undefined && wasSeenBy(this.seen, envelope)) continue;
        this.drained.add(guidKey(envelope.guid));
        last = this.channel.send(envelopePush(envelope));
        this.ctx.metrics.messagesDelivered += 1;
      }
      this.sawRead(page.cursor);
      // Wait for the socket to take each page before reading the next, so a
      // large backlog never sits in memory at once.
      if (last !== undefined) await last;
      if (page.envelopes.length < this.ctx.limits.backlogPageSize) {
        if (!this.missed) break;
        // Held envelopes were dropped: they are in the store past the cursor.
        this.missed = false;
        this.held = [];
        this.heldBytes = 0;
      }
    }
    if (this.stopped || !this.channel.isOpen()) return;
    if (!this.announced) {
      this.announced = true;
      this.channel.sendNow(QUEUE_DRAINED_PUSH);
    }
    const held = this.held ?? [];
    this.held = undefined;
    this.heldBytes = 0;
    for (const envelope of held) {
      if (!this.drained.has(guidKey(envelope.guid))) this.push(envelope);
    }
    this.drained.clear();
  }
}
