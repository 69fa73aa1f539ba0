/**
 * Linking sessions of a single node, in memory. Every operation finishes
 * its checks and changes before its first await, so two approvals of one
 * reference cannot interleave: the first claim wins.
 */
import type { Clock, RandomSource } from '../../crypto/provider.js';
import {
  ADMISSION_TTL_MS,
  CLAIM_LEASE_MS,
  COMPLETION_GRACE_MS,
  LINK_TOKEN_LENGTH,
  expiredLink,
  expiredToken,
  newRef,
  tooManyCompanions,
  unknownLink,
  unknownToken,
  type ApprovedLink,
  type ClaimedLink,
  type FiledApproval,
  type LinkAdmission,
  type LinkSessionStore,
  type LinkWaiter,
  type OpenedLink,
  type PendingLinkPush,
} from './link-sessions.js';

/** What a link session store needs besides its storage. */
export interface LinkSessionOptions {
  readonly clock: Clock;
  readonly random: RandomSource;
  /** How long a reference stays open (`ServerLimits.linkRefTtlMs`). */
  readonly refTtlMs: number;
  /** How long an approval waits for completion (`ServerLimits.linkCompleteTtlMs`). */
  readonly completeTtlMs: number;
}

interface OpenEntry {
  readonly ref: string;
  readonly waiter: LinkWaiter;
  readonly expiresAt: number;
  claimId: string | undefined;
}

interface ApprovedEntry extends ApprovedLink {
  readonly waiter: LinkWaiter;
  push: Uint8Array | undefined;
  consumedAt: number | undefined;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

function waiterKey(waiter: LinkWaiter): string {
  return `${waiter.connectionId} ${waiter.nodeId}`;
}

/** The in-memory `LinkSessionStore` (one node; nothing survives a restart). */
export class MemoryLinkSessionStore implements LinkSessionStore {
  private readonly byRef = new Map<string, OpenEntry>();
  private readonly refOfWaiter = new Map<string, string>();
  private readonly approved = new Map<string, ApprovedEntry>();
  /** Approvals between admission and outcome: id → account and expiry. */
  private readonly admissions = new Map<number, { account: string; expiresAt: number }>();
  private nextAdmission = 1;

  constructor(private readonly options: LinkSessionOptions) {}

  open(waiter: LinkWaiter): Promise<OpenedLink> {
    this.pruneNow();
    this.dropRef(waiter);
    const ref = newRef(this.options.random);
    const expiresAt = this.options.clock.now() + this.options.refTtlMs;
    this.byRef.set(ref, { ref, waiter: { ...waiter }, expiresAt, claimId: undefined });
    this.refOfWaiter.set(waiterKey(waiter), ref);
    return Promise.resolve({ ref, expiresAt });
  }

  claim(ref: string): Promise<ClaimedLink> {
    const entry = this.byRef.get(ref);
    if (entry === undefined || entry.claimId !== undefined) return Promise.reject(unknownLink());
    if (entry.expiresAt <= this.options.clock.now()) {
      this.forget(entry);
      return Promise.reject(expiredLink());
    }
    const claimId = hex(this.options.random(16));
    entry.claimId = claimId;
    return Promise.resolve({ ref, waiter: entry.waiter, expiresAt: entry.expiresAt, claimId });
  }

  release(claimed: ClaimedLink): Promise<void> {
    const entry = this.byRef.get(claimed.ref);
    if (entry?.claimId === claimed.claimId) entry.claimId = undefined;
    return Promise.resolve();
  }

  isHeld(claimed: ClaimedLink): Promise<boolean> {
    return Promise.resolve(this.byRef.get(claimed.ref)?.claimId === claimed.claimId);
  }

  admit(
    account: string,
    linkedDeviceIds: readonly number[],
    maxCompanions: number,
  ): Promise<LinkAdmission> {
    this.pruneNow();
    const now = this.options.clock.now();
    let pending = 0;
    for (const admission of this.admissions.values()) {
      if (admission.account === account && admission.expiresAt > now) pending += 1;
    }
    for (const link of this.approved.values()) {
      if (link.account === account && countsAgainstLimit(link, now, linkedDeviceIds)) pending += 1;
    }
    if (linkedDeviceIds.length + pending >= maxCompanions) {
      return Promise.reject(tooManyCompanions(maxCompanions));
    }
    const id = this.nextAdmission++;
    this.admissions.set(id, { account, expiresAt: now + ADMISSION_TTL_MS });
    return Promise.resolve({
      end: () => {
        this.admissions.delete(id);
        return Promise.resolve();
      },
    });
  }

  approve(
    claimed: ClaimedLink,
    link: Omit<ApprovedLink, 'expiresAt'>,
    pushFor?: (token: Uint8Array) => Uint8Array,
  ): Promise<FiledApproval> {
    const entry = this.byRef.get(claimed.ref);
    if (entry?.claimId === claimed.claimId) this.forget(entry);
    const token = this.options.random(LINK_TOKEN_LENGTH);
    const expiresAt = this.options.clock.now() + this.options.completeTtlMs;
    this.approved.set(hex(token), {
      account: link.account,
      deviceId: link.deviceId,
      keyIndex: link.keyIndex,
      companionIdentityKey: link.companionIdentityKey.slice(),
      expiresAt,
      waiter: claimed.waiter,
      push: pushFor?.(token).slice(),
      consumedAt: undefined,
    });
    return Promise.resolve({ token, expiresAt });
  }

  takeApproved(token: Uint8Array): Promise<ApprovedLink> {
    const link = this.approved.get(hex(token));
    if (link === undefined || link.consumedAt !== undefined) return Promise.reject(unknownToken());
    const now = this.options.clock.now();
    // Kept, consumed, until its device shows up in the account (see `admit`).
    link.consumedAt = now;
    link.push = undefined;
    if (link.expiresAt <= now) return Promise.reject(expiredToken());
    return Promise.resolve({
      account: link.account,
      deviceId: link.deviceId,
      keyIndex: link.keyIndex,
      companionIdentityKey: link.companionIdentityKey.slice(),
      expiresAt: link.expiresAt,
    });
  }

  takePushes(nodeId: string, connectionIds: readonly number[]): Promise<PendingLinkPush[]> {
    const wanted = new Set(connectionIds);
    const now = this.options.clock.now();
    const taken: PendingLinkPush[] = [];
    for (const link of this.approved.values()) {
      const push = link.push;
      if (push === undefined || link.waiter.nodeId !== nodeId) continue;
      if (!wanted.has(link.waiter.connectionId) || link.expiresAt <= now) continue;
      link.push = undefined;
      taken.push({ connectionId: link.waiter.connectionId, push, expiresAt: link.expiresAt });
    }
    return Promise.resolve(taken);
  }

  dropConnection(waiter: LinkWaiter): Promise<void> {
    this.dropRef(waiter);
    for (const link of this.approved.values()) {
      if (
        link.waiter.nodeId === waiter.nodeId &&
        link.waiter.connectionId === waiter.connectionId
      ) {
        link.push = undefined;
      }
    }
    return Promise.resolve();
  }

  dropNode(nodeId: string): Promise<void> {
    for (const entry of [...this.byRef.values()]) {
      if (entry.waiter.nodeId === nodeId) this.forget(entry);
    }
    for (const link of this.approved.values()) {
      if (link.waiter.nodeId === nodeId) link.push = undefined;
    }
    return Promise.resolve();
  }

  prune(): Promise<number> {
    return Promise.resolve(this.pruneNow());
  }

  private pruneNow(): number {
    const now = this.options.clock.now();
    let dropped = 0;
    for (const entry of [...this.byRef.values()]) {
      const lease = entry.claimId === undefined ? 0 : CLAIM_LEASE_MS;
      if (entry.expiresAt + lease <= now) {
        this.forget(entry);
        dropped += 1;
      }
    }
    for (const [key, link] of this.approved) {
      const gone =
        link.consumedAt === undefined
          ? link.expiresAt <= now
          : link.consumedAt + COMPLETION_GRACE_MS <= now;
      if (gone) {
        this.approved.delete(key);
        dropped += 1;
      }
    }
    for (const [id, admission] of this.admissions) {
      if (admission.expiresAt <= now) {
        this.admissions.delete(id);
        dropped += 1;
      }
    }
    return dropped;
  }

  private dropRef(waiter: LinkWaiter): void {
    const key = waiterKey(waiter);
    const ref = this.refOfWaiter.get(key);
    if (ref === undefined) return;
    const entry = this.byRef.get(ref);
    if (entry !== undefined) this.forget(entry);
    else this.refOfWaiter.delete(key);
  }

  private forget(entry: OpenEntry): void {
    this.byRef.delete(entry.ref);
    const key = waiterKey(entry.waiter);
    if (this.refOfWaiter.get(key) === entry.ref) this.refOfWaiter.delete(key);
  }
}

/**
 * Whether an approval still takes a companion slot: until it expires
 * unconsumed, or — consumed — until its device is among the account's
 * companions (then the device itself counts) or the completion had time
 * to finish. Without the consumed case, a completion between its token
 * being taken and its device being added would count nowhere, and an
 * approval running then could overshoot the limit.
 */
export function countsAgainstLimit(
  link: { deviceId: number; expiresAt: number; consumedAt: number | undefined },
  now: number,
  linkedDeviceIds: readonly number[],
): boolean {
  if (link.consumedAt === undefined) return link.expiresAt > now;
  return link.consumedAt + COMPLETION_GRACE_MS > now && !linkedDeviceIds.includes(link.deviceId);
}
