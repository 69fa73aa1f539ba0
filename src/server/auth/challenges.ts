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
  readonly connectionId: number;
  readonly expiresAt: number;
}

function key(nonce: Uint8Array): string {
  let out = '';
  for (const byte of nonce) out += byte.toString(16).padStart(2, '0');
  return out;
}

/**
 * Issues and consumes nonces. Every operation costs O(1) (amortised)
 * whatever the number outstanding, so a flood of challenge requests cannot
 * make each one dearer: the table is a `Map` in insertion order, and since
 * every nonce lives the same `ttlMs` that is also expiry order — expired
 * ones are swept from the front. A connection's own nonces (at most
 * `maxPerConnection`) are listed per connection for `dropConnection`.
 */
export class ChallengeRegistry {
  private readonly issued = new Map<string, Issued>();
  private readonly perConnection = new Map<number, string[]>();

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
    this.issued.set(k, { connectionId, expiresAt: this.clock.now() + this.ttlMs });
    if (held === undefined) this.perConnection.set(connectionId, [k]);
    else held.push(k);
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

  /** Drops the oldest nonce; false when there is none. */
  private forgetOldest(): boolean {
    for (const [k, entry] of this.issued) {
      this.issued.delete(k);
      this.release(entry.connectionId, k);
      return true;
    }
    return false;
  }

  /** Drops expired nonces; they are at the front (insertion order is expiry order). */
  private sweep(): void {
    const now = this.clock.now();
    for (const [k, entry] of this.issued) {
      if (entry.expiresAt > now) return;
      this.issued.delete(k);
      this.release(entry.connectionId, k);
    }
  }
}
