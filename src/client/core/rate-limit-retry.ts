/**
 * Honouring the server's rate limits: a request refused with `rate-limited`
 * waits the `retry_after_ms` the server named and is sent again, a bounded
 * number of times, instead of failing the operation that needed it.
 *
 * Used for prekey-bundle fetches and for sends (1:1 and group, which share
 * one account bucket on the server). A first group send to many new accounts
 * needs one fetch per account, more than the server's per-device burst
 * (100 by default): without waiting, every account past the burst would be
 * left without the sender key. Once one fetch is refused, the following
 * ones queue behind it and go one at a time after the announced wait, so
 * concurrent fetches do not all hit the empty bucket together and use up
 * their retries on each other.
 *
 * A send is retried with the SAME request, already encrypted: encrypting
 * again would advance the ratchets and the recipient would see a gap. That
 * is safe because a refused send stored nothing (the server checks its
 * limits, and fails `storage-full` writes, before anything is queued) and
 * the server assigns guids only on accept, so the retry is the one copy.
 *
 * Time comes from the injected clock and sleep, so tests move a fake clock
 * instead of waiting.
 */
import { systemClock, type Clock } from '../../crypto/provider.js';
import { ClientError } from './errors.js';
import { platformScheduler, sleepOn } from './scheduler.js';

/** How a rate-limited request is retried. */
export interface RateLimitRetryOptions {
  /** Now, in ms; default: the system clock. */
  readonly clock?: Clock;
  /** Waits `ms`; default: a timer. A test's sleep moves its fake clock. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Refusals tolerated per request before its error is passed on (default 8). */
  readonly maxRetries?: number;
  /**
   * Longest single wait accepted (default 60 s): a server asking for more
   * fails the request at once rather than stalling the operation for long.
   */
  readonly maxWaitMs?: number;
  /**
   * Server codes waited out (default `rate-limited` only). Sends add
   * `storage-full` (the server names a wait and recovers once space
   * returns) and `unavailable` (its database restarts or fails over).
   */
  readonly waitOut?: readonly string[];
}

/**
 * Send refusals waited out and re-sent unchanged. `unavailable` (the
 * server lost its database) may come after the send was stored; the re-sent
 * copy is then a duplicate the recipient drops (`duplicate-message` in the
 * receiver), never a second message.
 */
export const SEND_WAIT_OUT: readonly string[] = ['rate-limited', 'storage-full', 'unavailable'];

/** Used when a refusal names no wait. */
const DEFAULT_WAIT_MS = 1_000;

/** The default wait: the platform timer (callers with a fake clock inject `sleep`). */
const timerSleep = sleepOn(platformScheduler);

/** Runs requests of one rate-limited kind, waiting out refusals. */
export class RateLimitedRequests {
  readonly #clock: Clock;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #maxRetries: number;
  readonly #maxWaitMs: number;
  readonly #waitOut: ReadonlySet<string>;
  /** No request goes out before this time (set by the last refusal). */
  #notBefore = 0;
  /** Requests waiting their turn after a refusal, run one at a time. */
  #lane: Promise<void> = Promise.resolve();
  #queued = 0;

  constructor(options: RateLimitRetryOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#sleep = options.sleep ?? timerSleep;
    this.#maxRetries = options.maxRetries ?? 8;
    this.#maxWaitMs = options.maxWaitMs ?? 60_000;
    this.#waitOut = new Set(options.waitOut ?? ['rate-limited']);
  }

  /** Runs `request`, retrying it after refusals to wait (`waitOut`) as described above. */
  async run<T>(request: () => Promise<T>): Promise<T> {
    if (this.#queued === 0 && this.#clock.now() >= this.#notBefore) {
      try {
        return await request();
      } catch (error) {
        this.#noteRefusal(error, 1);
        return this.#inLane(request, 1);
      }
    }
    return this.#inLane(request, 0);
  }

  #inLane<T>(request: () => Promise<T>, refusals: number): Promise<T> {
    this.#queued++;
    const turn = this.#lane.then(async () => {
      let refused = refusals;
      for (;;) {
        const wait = this.#notBefore - this.#clock.now();
        if (wait > 0) await this.#sleep(wait);
        try {
          return await request();
        } catch (error) {
          refused++;
          this.#noteRefusal(error, refused);
        }
      }
    });
    // The lane only orders the queued requests; each one's failure reaches
    // its own caller through `turn`.
    this.#lane = turn.then(
      () => undefined,
      () => undefined,
    );
    return turn.finally(() => {
      this.#queued--;
    });
  }

  /** Rethrows anything but a refusal that may still be waited out; else records the wait. */
  #noteRefusal(error: unknown, refused: number): void {
    if (!ClientError.is(error, 'server-error') || !this.#waitOut.has(error.serverCode ?? ''))
      throw error;
    const named = error.details?.retryAfterMs ?? 0;
    const wait = named > 0 ? named : DEFAULT_WAIT_MS;
    if (refused > this.#maxRetries || wait > this.#maxWaitMs) throw error;
    this.#notBefore = Math.max(this.#notBefore, this.#clock.now() + wait);
  }
}
