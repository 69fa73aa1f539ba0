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
 */
import type { Logger } from 'pino';
import type { DeviceAddress, ServerContext } from './context.js';
import { QUEUE_DRAINED_PUSH, envelopePush } from './envelope-frames.js';
import type { QueuedEnvelope } from './store/types.js';

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
}

/** One device's delivery state on one connection. */
export class DeviceDelivery {
  /** Live envelopes held back while the backlog drains (undefined once drained). */
  private held: QueuedEnvelope[] | undefined = [];
  private readonly drained = new Set<string>();
  private stopped = false;

  constructor(
    private readonly ctx: ServerContext,
    private readonly address: DeviceAddress,
    private readonly channel: PushChannel,
    private readonly logger: Logger,
  ) {}

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
      this.held.push(...envelopes);
      return;
    }
    for (const envelope of envelopes) this.push(envelope);
  }

  /** Stops all delivery (connection closed or replaced). */
  stop(): void {
    this.stopped = true;
    this.held = undefined;
    this.drained.clear();
  }

  private push(envelope: QueuedEnvelope): void {
    this.channel.sendNow(envelopePush(envelope));
    this.ctx.metrics.messagesDelivered += 1;
  }

  private async drain(): Promise<void> {
    const { queue } = this.ctx.store;
    let cursor = 0;
    for (;;) {
      if (this.stopped || !this.channel.isOpen()) return;
      const page = await queue.page(
        this.address.account,
        this.address.deviceId,
        cursor,
        this.ctx.limits.backlogPageSize,
      );
      cursor = page.cursor;
      let last: Promise<void> | undefined;
      // Read per page: a long drain moves with the clock.
      const expiredBefore = this.ctx.clock.now() - this.ctx.limits.messageTtlMs;
      for (const envelope of page.envelopes) {
        if (this.stopped) return;
        // Past its lifetime, awaiting the sweep: never delivered.
        if (envelope.serverTimestamp < expiredBefore) continue;
        this.drained.add(guidKey(envelope.guid));
        last = this.channel.send(envelopePush(envelope));
        this.ctx.metrics.messagesDelivered += 1;
      }
      // Wait for the socket to take each page before reading the next, so a
      // large backlog never sits in memory at once.
      if (last !== undefined) await last;
      if (page.envelopes.length < this.ctx.limits.backlogPageSize) break;
    }
    if (this.stopped || !this.channel.isOpen()) return;
    this.channel.sendNow(QUEUE_DRAINED_PUSH);
    const held = this.held ?? [];
    this.held = undefined;
    for (const envelope of held) {
      if (!this.drained.has(guidKey(envelope.guid))) this.push(envelope);
    }
    this.drained.clear();
  }
}
