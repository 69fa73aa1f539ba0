/**
 * When to reconnect after a connection to the server ends, and whether to
 * reconnect at all. Pure: the random source and the times are passed in, so
 * tests pin every delay.
 *
 * Delays use capped exponential backoff with full jitter (a uniformly random
 * delay between 0 and `min(cap, base · 2^attempt)`): after a server restart
 * every client of that server drops at the same instant, and without jitter
 * they would all come back in lock-step, each wave a thundering herd. The
 * attempt count resets only after a connection stayed up for a while, so a
 * server that accepts and then immediately drops every connection is not
 * hammered at the base rate forever.
 */
import type { RandomSource } from '../../crypto/provider.js';

/** Tunables of a `ReconnectPolicy`. */
export interface ReconnectPolicyOptions {
  /** Upper bound of the first delay, ms (default 1 s). */
  readonly baseDelayMs?: number;
  /** No delay is ever longer than this, ms (default 30 s). */
  readonly maxDelayMs?: number;
  /**
   * A connection that stayed authenticated this long, ms, counts as stable:
   * the next drop starts the backoff from the beginning (default 60 s).
   */
  readonly stableAfterMs?: number;
  /** A uniform random number in [0, 1); see `unitRandom`. */
  readonly random: () => number;
}

/** Default upper bound of the first reconnect delay, ms. */
export const DEFAULT_BASE_DELAY_MS = 1_000;
/** Default cap of every reconnect delay, ms. */
export const DEFAULT_MAX_DELAY_MS = 30_000;
/** Default time a connection must stay up to reset the backoff, ms. */
export const DEFAULT_STABLE_AFTER_MS = 60_000;

/**
 * Backoff state of one reconnecting connection: call `nextDelay()` before
 * each attempt after the first, `connected(now)` when an attempt
 * authenticated, `disconnected(now)` when that connection ended.
 */
export class ReconnectPolicy {
  readonly #base: number;
  readonly #max: number;
  readonly #stableAfter: number;
  readonly #random: () => number;
  #attempt = 0;
  #connectedAt: number | undefined;

  constructor(options: ReconnectPolicyOptions) {
    this.#base = options.baseDelayMs ?? DEFAULT_BASE_DELAY_MS;
    this.#max = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
    this.#stableAfter = options.stableAfterMs ?? DEFAULT_STABLE_AFTER_MS;
    this.#random = options.random;
    if (!(this.#base > 0) || !(this.#max >= this.#base) || !(this.#stableAfter >= 0)) {
      throw new RangeError('reconnect policy: need 0 < base <= max and stableAfter >= 0');
    }
  }

  /** How many delays were handed out since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The upper bound of the next delay (before jitter), ms. */
  get ceilingMs(): number {
    // 2^attempt overflows to Infinity long after the cap is reached; clamp
    // the exponent so the product stays finite.
    return Math.min(this.#max, this.#base * 2 ** Math.min(this.#attempt, 52));
  }

  /** The delay before the next attempt, ms: uniform in [0, ceiling]. */
  nextDelay(): number {
    const ceiling = this.ceilingMs;
    this.#attempt += 1;
    const r = this.#random();
    // A broken random source must not produce a negative or endless wait.
    const unit = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 1;
    return Math.round(unit * ceiling);
  }

  /** An attempt succeeded (the device authenticated) at `now`, ms. */
  connected(now: number): void {
    this.#connectedAt = now;
  }

  /** The connection ended at `now`, ms: resets the backoff if it had been stable. */
  disconnected(now: number): void {
    const since = this.#connectedAt;
    this.#connectedAt = undefined;
    if (since !== undefined && now - since >= this.#stableAfter) this.#attempt = 0;
  }

  /** Starts the backoff over (e.g. the network came back). */
  reset(): void {
    this.#attempt = 0;
  }
}

/**
 * A uniform number in [0, 1) from an injected random byte source (53 random
 * bits, the precision of a double).
 */
export function unitRandom(random: RandomSource): () => number {
  return () => {
    const bytes = random(7);
    // 5 bits of the first byte and 48 of the other six: 53 bits, so every
    // intermediate value is an exact integer (56 bits would round up to 1).
    let value = (bytes[0] ?? 0) & 0x1f;
    for (const byte of bytes.subarray(1, 7)) value = value * 256 + byte;
    return value / 2 ** 53;
  };
}

/** What to do after the server closed the connection with a WebSocket close code. */
export type CloseDisposition =
  /** Transient (restart, stuck output, failed delivery, network): reconnect with backoff. */
  | 'reconnect'
  /** 4001: a newer connection of this same device took over; reconnecting would evict it. */
  | 'replaced'
  /** 4003: the device was removed from its account; it cannot log in again. */
  | 'logged-out';

/** Close codes after which reconnecting is wrong (see src/server/connection.ts `CloseCodes`). */
const FINAL_CLOSE_CODES: Readonly<Record<number, CloseDisposition>> = {
  4001: 'replaced',
  4003: 'logged-out',
};

/**
 * Whether to reconnect after close `code`. Everything not known to be final
 * reconnects: 1001 (server going away), 1006 (dropped without a close
 * frame), 4004 (output stuck), 4005 (authentication deadline), 4006
 * (delivery failed), and codes a newer server may add.
 */
export function closeDisposition(code: number | undefined): CloseDisposition {
  if (code === undefined) return 'reconnect';
  return FINAL_CLOSE_CODES[code] ?? 'reconnect';
}
