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

/** Issues and consumes nonces. */
export class ChallengeRegistry {
  private readonly issued = new Map<string, Issued>();
  private readonly perConnection = new Map<number, number>();

  constructor(
    private readonly clock: Clock,
    private readonly random: RandomSource,
    private readonly maxPerConnection: number,
    private readonly ttlMs = CHALLENGE_TTL_MS,
  ) {}

  /**
   * A fresh nonce for `connectionId`, or undefined when the connection
   * already holds its maximum of unused ones (bounds memory per socket).
   */
  issue(connectionId: number): Uint8Array | undefined {
    this.sweep();
    const held = this.perConnection.get(connectionId) ?? 0;
    if (held >= this.maxPerConnection) return undefined;
    const nonce = this.random(NONCE_LENGTH);
    this.issued.set(key(nonce), { connectionId, expiresAt: this.clock.now() + this.ttlMs });
    this.perConnection.set(connectionId, held + 1);
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
    this.release(connectionId);
    return entry.expiresAt > this.clock.now();
  }

  /** Forgets every nonce of a closed connection. */
  dropConnection(connectionId: number): void {
    if (!this.perConnection.has(connectionId)) return;
    for (const [k, entry] of this.issued) {
      if (entry.connectionId === connectionId) this.issued.delete(k);
    }
    this.perConnection.delete(connectionId);
  }

  /** Outstanding nonces (for tests and metrics). */
  get size(): number {
    return this.issued.size;
  }

  private release(connectionId: number): void {
    const held = (this.perConnection.get(connectionId) ?? 1) - 1;
    if (held <= 0) this.perConnection.delete(connectionId);
    else this.perConnection.set(connectionId, held);
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const [k, entry] of this.issued) {
      if (entry.expiresAt <= now) {
        this.issued.delete(k);
        this.release(entry.connectionId);
      }
    }
  }
}
