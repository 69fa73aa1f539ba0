/**
 * Which server to try next, and after how long: round robin over the
 * device's server URLs, paced by the reconnect backoff (reconnect-policy.ts,
 * capped exponential with full jitter from the injected random source).
 * Pure: no timers, no clock of its own.
 *
 * Every ended connection and every failed attempt moves to the next URL, so
 * a node that died is left at once and a node that refuses everything is
 * not retried before the others had their turn. The backoff is shared by
 * all URLs rather than kept per URL: when the whole cluster is down (or this
 * device is offline) the attempts still slow down to the cap instead of
 * cycling through N nodes at the base rate; and the jitter spreads the
 * clients of a node that died over the remaining nodes instead of moving
 * them all in one wave. A connection that authenticated and stayed up
 * `stableAfterMs` resets the backoff, as with a single server.
 *
 * With one URL this is exactly the single-server `ReconnectPolicy`: the
 * same delays from the same random numbers, always the same URL.
 */
import { ReconnectPolicy, type ReconnectPolicyOptions } from './reconnect-policy.js';

/** What a `FailoverPolicy` needs. */
export interface FailoverPolicyOptions extends ReconnectPolicyOptions {
  /** The URLs to rotate over, in order; the first attempt uses the first. */
  readonly servers: readonly string[];
}

/** The next attempt: where, and how long to wait before it. */
export interface NextAttempt {
  readonly server: string;
  readonly delayMs: number;
}

/** URL rotation plus backoff for one reconnecting device. */
export class FailoverPolicy {
  readonly #servers: readonly string[];
  readonly #backoff: ReconnectPolicy;
  #index = 0;

  constructor(options: FailoverPolicyOptions) {
    if (options.servers.length === 0) throw new RangeError('failover policy: no server URL');
    this.#servers = [...options.servers];
    this.#backoff = new ReconnectPolicy(options);
  }

  /** The URL of the next (or current) attempt. */
  get server(): string {
    // The index is always kept within the list (see `failed`).
    return this.#servers[this.#index] ?? '';
  }

  /** Every URL, in rotation order. */
  get servers(): readonly string[] {
    return this.#servers;
  }

  /** Delays handed out since the last reset. */
  get attempt(): number {
    return this.#backoff.attempt;
  }

  /** The upper bound of the next delay (before jitter), ms. */
  get ceilingMs(): number {
    return this.#backoff.ceilingMs;
  }

  /**
   * The attempt on `server` failed or its connection ended: moves to the
   * next URL and returns it with the (jittered) wait before trying it.
   */
  failed(): NextAttempt {
    this.#index = (this.#index + 1) % this.#servers.length;
    return { server: this.server, delayMs: this.#backoff.nextDelay() };
  }

  /** The attempt authenticated at `now`, ms. */
  connected(now: number): void {
    this.#backoff.connected(now);
  }

  /** The connection ended at `now`, ms: resets the backoff if it had been stable. */
  disconnected(now: number): void {
    this.#backoff.disconnected(now);
  }

  /** Starts the backoff over (the network came back); the rotation keeps its place. */
  reset(): void {
    this.#backoff.reset();
  }
}
