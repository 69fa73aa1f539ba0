/**
 * Single-use authentication challenges.
 *
 * A nonce is 32 random bytes, bound to the connection that asked for it,
 * valid for `CHALLENGE_TTL_MS`, and consumed by the first attempt to use it
 * — successful or not — so a captured signature can never be replayed and a
 * forger gets one guess per round trip. Nonces live only in memory: a
 * restart simply invalidates outstanding challenges.
 */
import type { Clock, RandomSource } from '../../crypto/provider.js';
import { CHALLENGE_TTL_MS, NONCE_LENGTH } from '../../wire/auth.js';

interface Issued {
  readonly key: string;
  readonly connectionId: number;
  readonly expiresAt: number;
}

function key(nonce: Uint8Array): string {
  let out = '';
  for (const byte of nonce) out += byte.toString(16).padStart(2, '0');
  return out;
}

/** Stale queue entries tolerated beyond the live ones before the queue is rebuilt. */
const QUEUE_SLACK = 1024;

/**
 * Issues and consumes nonces. Every operation costs O(1) (amortised)
 * whatever the number outstanding, so a flood of challenge requests cannot
 * make each one dearer. Nonces are looked up in a `Map`; a queue in issue
 * order — which, since every nonce lives the same `ttlMs`, is also expiry
 * order — finds the expired and the oldest ones from its front. (Iterating
 * the `Map` itself would not do: deleted entries stay in its table as
 * holes until it is rebuilt, so walking from the front is O(deletions).)
 * Entries of nonces already used stay in the queue until they reach its
 * front; the queue is rebuilt when they outnumber the live ones. A
 * connection's own nonces (at most `maxPerConnection`) are listed per
 * connection for `dropConnection`.
 */
export class ChallengeRegistry {
  private readonly issued = new Map<string, Issued>();
  private readonly perConnection = new Map<number, string[]>();
  private queue: Issued[] = [];
  private head = 0;

  constructor(
    private readonly clock: Clock,
    private readonly random: RandomSource,
    private readonly maxPerConnection: number,
    /**
     * Outstanding nonces server-wide. Past it the oldest is forgotten rather
     * than new ones refused: refusing would let one flooder lock everybody
     * out of logging in, while evicting only costs an honest client whose
     * nonce was pushed out a retry.
     */
    private readonly maxOutstanding = Number.POSITIVE_INFINITY,
    private readonly ttlMs = CHALLENGE_TTL_MS,
  ) {}

  /**
   * A fresh nonce for `connectionId`, or undefined when the connection
   * already holds its maximum of unused ones (bounds memory per socket).
   */
  issue(connectionId: number): Uint8Array | undefined {
    this.sweep();
    const held = this.perConnection.get(connectionId);
    if (held !== undefined && held.length >= this.maxPerConnection) return undefined;
    while (this.issued.size >= this.maxOutstanding) {
      if (!this.forgetOldest()) break;
    }
    const nonce = this.random(NONCE_LENGTH);
    const k = key(nonce);
    const entry: Issued = { key: k, connectionId, expiresAt: this.clock.now() + this.ttlMs };
    this.issued.set(k, entry);
    this.queue.push(entry);
    if (held === undefined) this.perConnection.set(connectionId, [k]);
    else held.push(k);
    this.compact();
    return nonce;
  }

  /**
   * Consumes `nonce`: true only if it was issued to this connection and has
   * not expired. It is gone afterwards whatever the outcome.
   */
  consume(connectionId: number, nonce: Uint8Array): boolean {
    if (nonce.length !== NONCE_LENGTH) return false;
    const k = key(nonce);
    const entry = this.issued.get(k);
    if (entry === undefined) return false;
    // Only the owner may burn it; another connection guessing it learns nothing.
    if (entry.connectionId !== connectionId) return false;
    this.issued.delete(k);
    this.release(connectionId, k);
    return entry.expiresAt > this.clock.now();
  }

  /** Forgets every nonce of a closed connection. */
  dropConnection(connectionId: number): void {
    const held = this.perConnection.get(connectionId);
    if (held === undefined) return;
    for (const k of held) this.issued.delete(k);
    this.perConnection.delete(connectionId);
  }

  /** Outstanding nonces (for tests and metrics). */
  get size(): number {
    return this.issued.size;
  }

  private release(connectionId: number, k: string): void {
    const held = this.perConnection.get(connectionId);
    if (held === undefined) return;
    const index = held.indexOf(k);
    if (index >= 0) held.splice(index, 1);
    if (held.length === 0) this.perConnection.delete(connectionId);
  }

  /** Whether a queue entry is still an outstanding nonce (not used, dropped or evicted). */
  private live(entry: Issued): boolean {
    return this.issued.get(entry.key) === entry;
  }

  /** Drops the oldest outstanding nonce; false when there is none. */
  private forgetOldest(): boolean {
    while (this.head < this.queue.length) {
      const entry = this.queue[this.head];
      this.head += 1;
      if (entry !== undefined && this.live(entry)) {
        this.issued.delete(entry.key);
        this.release(entry.connectionId, entry.key);
        return true;
      }
    }
    return false;
  }

  /** Drops expired nonces from the front of the queue. */
  private sweep(): void {
    const now = this.clock.now();
    while (this.head < this.queue.length) {
      const entry = this.queue[this.head];
      if (entry === undefined) break;
      if (this.live(entry)) {
        if (entry.expiresAt > now) break;
        this.issued.delete(entry.key);
        this.release(entry.connectionId, entry.key);
      }
      this.head += 1;
    }
  }

  /**
   * Keeps the queue proportional to the outstanding nonces: the consumed
   * front is cut off, and stale entries are filtered out once they
   * outnumber the live ones (each rebuild follows as many operations as it
   * costs, so it is O(1) amortised).
   */
  private compact(): void {
    const length = this.queue.length - this.head;
    if (length > 2 * this.issued.size + QUEUE_SLACK) {
      this.queue = this.queue.slice(this.head).filter((entry) => this.live(entry));
      this.head = 0;
    } else if (this.head > QUEUE_SLACK && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }
}
