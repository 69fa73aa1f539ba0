/**
 * Linking sessions, kept in memory because they live for seconds to minutes
 * (a restart simply makes the companion show a fresh QR code).
 *
 * 1. `open`: an anonymous companion connection gets a random reference for
 *    its QR code, valid `refTtlMs`. Asking again replaces it, so at most one
 *    reference per connection is live and an old QR code stops working.
 * 2. `claim`: the primary's approval takes the reference out of circulation
 *    at once (before any await), so two approvals of one code cannot both
 *    proceed; a failed approval hands it back with `release`.
 * 3. `approve`: the approved link is filed under a fresh random token that
 *    only the waiting companion receives; `takeApproved` consumes it once.
 */
import type { Clock, RandomSource } from '../../crypto/provider.js';
import { ServiceError } from '../errors.js';

/** Random bytes in a reference (128 bits: not guessable within its lifetime). */
const REF_BYTES = 16;
/** Random bytes in a link token. */
export const LINK_TOKEN_LENGTH = 32;
/** Longest reference accepted in a request (ours are 22 characters). */
export const MAX_REF_LENGTH = 64;

/** The companion connection waiting on a reference. */
export interface LinkWaiter {
  readonly connectionId: number;
  /** False once the socket closed: the approval would reach nobody. */
  readonly isOpen: boolean;
  sendPush(bytes: Uint8Array): void;
  /** Lets the still-anonymous waiter stay connected `ms` longer (it is waiting on purpose). */
  extendAuthDeadline(ms: number): void;
}

/** A reference handed to a companion, as `open` returns it. */
export interface OpenedLink {
  readonly ref: string;
  /** ms since the epoch. */
  readonly expiresAt: number;
}

/** A claimed, not yet approved reference. */
export interface ClaimedLink {
  readonly ref: string;
  readonly waiter: LinkWaiter;
  readonly expiresAt: number;
}

/** What the primary approved, waiting for the companion to complete. */
export interface ApprovedLink {
  readonly account: string;
  readonly deviceId: number;
  readonly keyIndex: number;
  /** 33-byte serialized identity key the primary vouched for. */
  readonly companionIdentityKey: Uint8Array;
  /** ms since the epoch. */
  readonly expiresAt: number;
}

interface OpenEntry extends ClaimedLink {
  claimed: boolean;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** The registry of linking sessions of one server. */
export class LinkSessions {
  private readonly byRef = new Map<string, OpenEntry>();
  private readonly refOfConnection = new Map<number, string>();
  private readonly approved = new Map<string, ApprovedLink>();
  /** Approvals between their device-count check and their outcome, per account. */
  private readonly inFlight = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    private readonly random: RandomSource,
    private readonly refTtlMs: number,
    private readonly completeTtlMs: number,
  ) {}

  /** A fresh reference for `waiter`, invalidating the one it held before. */
  open(waiter: LinkWaiter): OpenedLink {
    this.prune();
    this.dropRef(waiter.connectionId);
    const ref = Buffer.from(this.random(REF_BYTES)).toString('base64url');
    const expiresAt = this.clock.now() + this.refTtlMs;
    this.byRef.set(ref, { ref, waiter, expiresAt, claimed: false });
    this.refOfConnection.set(waiter.connectionId, ref);
    return { ref, expiresAt };
  }

  /**
   * Takes `ref` for approval: `unknown-link` if it is not open (unknown,
   * used, replaced, or being approved), `link-expired` if its time ran out
   * or its companion is gone.
   */
  claim(ref: string): ClaimedLink {
    const entry = this.byRef.get(ref);
    if (entry === undefined || entry.claimed) {
      throw new ServiceError('unknown-link', 'no open linking session with that reference');
    }
    if (entry.expiresAt <= this.clock.now() || !entry.waiter.isOpen) {
      this.forget(entry);
      throw new ServiceError('link-expired', 'the linking session has expired');
    }
    entry.claimed = true;
    return entry;
  }

  /** Hands back a claimed reference whose approval failed (still subject to expiry). */
  release(claimed: ClaimedLink): void {
    const entry = this.byRef.get(claimed.ref);
    if (entry !== undefined) entry.claimed = false;
  }

  /**
   * Counts an approval for `account` against its companion limit while it
   * runs, so concurrent approvals cannot overshoot. `linked` is the number
   * of companions the account has now. Returns a function ending the count;
   * throws `too-many-devices` when no slot is left.
   */
  beginApproval(account: string, linked: number, maxCompanions: number): () => void {
    this.prune();
    let pending = this.inFlight.get(account) ?? 0;
    for (const link of this.approved.values()) if (link.account === account) pending += 1;
    if (linked + pending >= maxCompanions) {
      throw new ServiceError(
        'too-many-devices',
        `an account may have at most ${maxCompanions} companion devices`,
      );
    }
    this.inFlight.set(account, (this.inFlight.get(account) ?? 0) + 1);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const left = (this.inFlight.get(account) ?? 1) - 1;
      if (left > 0) this.inFlight.set(account, left);
      else this.inFlight.delete(account);
    };
  }

  /**
   * Consumes the claimed reference and files the approval under a new
   * single-use token, which is returned for the `LinkApproved` push.
   */
  approve(claimed: ClaimedLink, link: Omit<ApprovedLink, 'expiresAt'>): Uint8Array {
    const entry = this.byRef.get(claimed.ref);
    if (entry !== undefined) this.forget(entry);
    const token = this.random(LINK_TOKEN_LENGTH);
    this.approved.set(hex(token), {
      ...link,
      companionIdentityKey: link.companionIdentityKey.slice(),
      expiresAt: this.clock.now() + this.completeTtlMs,
    });
    return token;
  }

  /** Consumes an approval by its token: `unknown-link` or `link-expired`. */
  takeApproved(token: Uint8Array): ApprovedLink {
    const key = hex(token);
    const link = this.approved.get(key);
    if (link === undefined) {
      throw new ServiceError('unknown-link', 'unknown or already used link token');
    }
    this.approved.delete(key);
    if (link.expiresAt <= this.clock.now()) {
      throw new ServiceError('link-expired', 'the approved link was not completed in time');
    }
    return link;
  }

  /** A closed connection's open reference dies with it (approvals keep their token). */
  dropConnection(connectionId: number): void {
    this.dropRef(connectionId);
  }

  /** Drops expired references and approvals; returns how many. */
  prune(): number {
    const now = this.clock.now();
    let dropped = 0;
    for (const entry of this.byRef.values()) {
      if (!entry.claimed && entry.expiresAt <= now) {
        this.forget(entry);
        dropped += 1;
      }
    }
    for (const [key, link] of this.approved) {
      if (link.expiresAt <= now) {
        this.approved.delete(key);
        dropped += 1;
      }
    }
    return dropped;
  }

  /** Open references plus approvals waiting for completion. */
  get size(): number {
    return this.byRef.size + this.approved.size;
  }

  private dropRef(connectionId: number): void {
    const ref = this.refOfConnection.get(connectionId);
    if (ref === undefined) return;
    const entry = this.byRef.get(ref);
    if (entry !== undefined) this.forget(entry);
    else this.refOfConnection.delete(connectionId);
  }

  private forget(entry: OpenEntry): void {
    this.byRef.delete(entry.ref);
    if (this.refOfConnection.get(entry.waiter.connectionId) === entry.ref) {
      this.refOfConnection.delete(entry.waiter.connectionId);
    }
  }
}
