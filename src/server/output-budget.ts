/**
 * One connection's output budget: what the server has sent it and the
 * client has not read yet (the ws socket's `bufferedAmount`: ws's own queue
 * plus the TCP socket's write buffer, corked writes included).
 *
 * Past `maxConnectionOutputBytes` the connection's socket is paused — the
 * server stops reading its requests, and TCP backpressure holds the client
 * back instead of the server buffering what it keeps sending — and backlog
 * delivery waits (`waitForRoom`), until the output drains to half the budget.
 * A connection over budget for `outputStuckMs`, or at twice the budget
 * (responses to requests read before the pause and pushes can still
 * arrive), is declared stuck: without this a client that never reads could
 * make the server hold everything sent to it.
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { ServerLimits } from './config.js';
import type { ServerMetrics } from './metrics.js';

/** How often an over-budget connection checks whether it drained (besides `drain`). */
const POLL_MS = 250;

/**
 * What one queued message costs beyond its bytes: its own buffer object,
 * ws's frame header and the write queue's entry. Charged so that a flood of
 * tiny responses (a 90-byte error each) is held to the budget in memory,
 * not only in bytes — uncharged, 4 MiB of them held about 35 MiB.
 */
const MESSAGE_OVERHEAD_BYTES = 512;

/** Tracks and enforces one connection's output budget. */
export class OutputBudget {
  /** Set while over budget (requests not read); fires the stuck deadline. */
  private stuckTimer: NodeJS.Timeout | undefined;
  private poll: NodeJS.Timeout | undefined;
  /** Backlog delivery waiting for the output to drain. */
  private waiters: Array<() => void> = [];
  private disposed = false;
  /** Other reasons not to read requests now (a send waiting for an earlier one). */
  private readingHolds = 0;
  /** Messages written since the output was last seen empty (an overestimate of those queued). */
  private messages = 0;
  private readonly onDrain = (): void => this.checkDrained();

  constructor(
    private readonly socket: WebSocket,
    private readonly tcp: Socket | undefined,
    private readonly limits: ServerLimits,
    private readonly metrics: ServerMetrics,
    /** Called once the connection is stuck; the owner closes it. */
    private readonly onStuck: (why: string) => void,
  ) {}

  /** Whether requests are not being read (the output is over budget). */
  get paused(): boolean {
    return this.stuckTimer !== undefined;
  }

  /** Before each write: an empty output has nothing queued, so the message count restarts. */
  beforeWrite(): void {
    if (this.messages > 0 && this.socket.bufferedAmount === 0) this.messages = 0;
  }

  /** After each write: past the budget, stop reading; past twice the budget, stuck. */
  afterWrite(): void {
    this.messages += 1;
    const buffered = this.queued();
    if (buffered <= this.limits.maxConnectionOutputBytes) return;
    if (buffered > 2 * this.limits.maxConnectionOutputBytes) {
      this.stuck('output reached twice its budget');
      return;
    }
    if (!this.paused) this.pause();
  }

  /** Whether more may be sent now. */
  hasRoom(): boolean {
    return !this.disposed && !this.paused && this.queued() <= this.limits.maxConnectionOutputBytes;
  }

  /** Resolves once the output has drained below half the budget (or the connection closed). */
  waitForRoom(): Promise<void> {
    if (this.disposed || this.hasRoom()) return Promise.resolve();
    if (!this.paused) this.pause();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * Stops reading requests for a reason of the owner's (sends held behind
   * an earlier send still preparing): what the client pipelines meanwhile
   * waits in TCP buffers, not in ours. Paired with `releaseReading`.
   */
  holdReading(): void {
    this.readingHolds += 1;
    if (this.readingHolds === 1 && !this.paused && !this.disposed) this.socket.pause();
  }

  /** Ends one `holdReading`; reading resumes when no hold and no output pause remains. */
  releaseReading(): void {
    if (this.readingHolds === 0) return;
    this.readingHolds -= 1;
    if (this.readingHolds === 0 && !this.paused && !this.disposed) this.socket.resume();
  }

  /** The connection closed: stop timers and release waiters. */
  dispose(): void {
    this.disposed = true;
    this.clear();
    this.wake();
  }

  /**
   * Stops reading requests: the TCP socket is paused, so what the client
   * keeps sending waits in its own buffers, not ours (what ws has already
   * read is still handled, which bounds the overshoot).
   */
  private pause(): void {
    this.metrics.outputPauses += 1;
    this.socket.pause();
    this.stuckTimer = setTimeout(
      () => this.stuck('output stayed over budget'),
      this.limits.outputStuckMs,
    );
    this.poll = setInterval(() => this.checkDrained(), POLL_MS);
    this.tcp?.on('drain', this.onDrain);
  }

  /** Resumes reading once the output is at or below half the budget. */
  private checkDrained(): void {
    if (this.disposed || !this.paused) return;
    if (this.socket.bufferedAmount === 0) this.messages = 0;
    if (this.queued() > this.limits.maxConnectionOutputBytes / 2) return;
    this.clear();
    if (this.readingHolds === 0) this.socket.resume();
    this.wake();
  }

  /** Bytes not yet taken by the client plus the per-message overhead. */
  private queued(): number {
    return this.socket.bufferedAmount + this.messages * MESSAGE_OVERHEAD_BYTES;
  }

  private stuck(why: string): void {
    if (this.disposed) return;
    this.metrics.outputStuckCloses += 1;
    this.dispose();
    this.onStuck(why);
  }

  private clear(): void {
    clearTimeout(this.stuckTimer);
    clearInterval(this.poll);
    this.stuckTimer = undefined;
    this.poll = undefined;
    this.tcp?.off('drain', this.onDrain);
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
