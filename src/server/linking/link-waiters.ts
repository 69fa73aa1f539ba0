/**
 * The companions waiting on this node for their link to be approved, and
 * the safety net under the linking hand-off: when the primary approves
 * through another node, that node files the `LinkApproved` push with the
 * approval and sends it over the bus; should the bus drop it, this node
 * finds it in the store within one poll (`pollMs`, ~2 s) and delivers it;
 * when the bus did deliver it, the filed copy is taken at once
 * (`pushedOverBus`), so the token it holds leaves the database.
 * Only this node's own open waiters are polled, and only while there are
 * any, so an idle node asks nothing. A push reaching a waiter by both paths
 * is sent once (`ClientConnection.sendPush` drops the repeat).
 */
import type { Logger } from 'pino';
import type { Clock } from '../../crypto/provider.js';
import type { LinkSessionStore } from './link-sessions.js';

/** What a waiting companion connection must offer. */
export interface WaitingConnection {
  sendPush(bytes: Uint8Array): void;
  /** Lets the still-anonymous waiter stay connected `ms` longer (it is waiting on purpose). */
  extendAuthDeadline(ms: number): void;
}

/** How the waiters of one node reach the store. */
export interface LinkWaitersOptions {
  readonly links: LinkSessionStore;
  readonly nodeId: string;
  readonly clock: Clock;
  /** Added to an approval's remaining time: the waiter's deadline to authenticate. */
  readonly authTimeoutMs: number;
  readonly logger: Logger;
  /** How often filed pushes are looked for while anyone waits; default 2000. */
  readonly pollMs?: number;
}

/** This node's waiting companions, by connection id. */
export class LinkWaiters {
  private readonly waiting = new Map<number, WaitingConnection>();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;

  constructor(private readonly options: LinkWaitersOptions) {}

  /** `connection` waits for an approval (it opened a link). */
  add(connectionId: number, connection: WaitingConnection): void {
    this.waiting.set(connectionId, connection);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.tick(), this.options.pollMs ?? 2000);
      this.timer.unref();
    }
  }

  /** `connectionId` waits no more (closed, or linked). */
  remove(connectionId: number): void {
    this.waiting.delete(connectionId);
    if (this.waiting.size === 0) this.stop();
  }

  /** Connections waiting here. */
  get size(): number {
    return this.waiting.size;
  }

  /** Delivers the pushes filed for this node's waiters now; returns how many. */
  async poll(): Promise<number> {
    if (this.waiting.size === 0) return 0;
    const taken = await this.options.links.takePushes(this.options.nodeId, [
      ...this.waiting.keys(),
    ]);
    let delivered = 0;
    for (const pending of taken) {
      const connection = this.waiting.get(pending.connectionId);
      // Closed since: its close also dropped what was filed for it.
      if (connection === undefined) continue;
      const left = pending.expiresAt - this.options.clock.now();
      connection.extendAuthDeadline(left + this.options.authTimeoutMs);
      connection.sendPush(pending.push);
      delivered += 1;
    }
    return delivered;
  }

  /**
   * A push reached waiter `connectionId` over the bus: its filed copy,
   * which holds the approval's token, is taken out of the store now rather
   * than at the next poll, so the token sits in the database only for the
   * bus's round trip. The copy is dropped as a repeat by the connection.
   */
  pushedOverBus(connectionId: number): void {
    if (!this.waiting.has(connectionId)) return;
    this.options.links
      .takePushes(this.options.nodeId, [connectionId])
      .then((taken) => {
        for (const pending of taken) this.waiting.get(pending.connectionId)?.sendPush(pending.push);
      })
      .catch((error: unknown) => {
        // The poll takes it later; only the token's time in the store grows.
        this.options.logger.warn({ err: error }, 'could not take a filed link push');
      });
  }

  /** Stops polling (server shutdown). */
  close(): void {
    this.waiting.clear();
    this.stop();
  }

  private tick(): void {
    // A slow store must not pile polls up.
    if (this.polling) return;
    this.polling = true;
    this.poll()
      .catch((error: unknown) => {
        this.options.logger.warn({ err: error }, 'could not check for approved links');
      })
      .finally(() => {
        this.polling = false;
      });
  }

  private stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
