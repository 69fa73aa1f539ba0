/**
 * Linking sessions: what a server keeps between a companion showing its QR
 * code and completing its link. They live for seconds to minutes, so a
 * single node keeps them in memory (`MemoryLinkSessionStore`: a restart
 * simply makes the companion show a fresh code); a cluster keeps them in
 * PostgreSQL (`PostgresLinkSessionStore`), because the companion may wait
 * on node A while the primary approves through node B.
 *
 * 1. `open`: an anonymous companion connection — the waiter, named by its
 *    node and connection id — gets a random reference for its QR code,
 *    valid `refTtlMs`. Asking again replaces it, so at most one reference
 *    per waiter is live and an old QR code stops working.
 * 2. `claim`: the primary's approval takes the reference out of circulation
 *    atomically, so two approvals of one code (even on two nodes) cannot
 *    both proceed; a failed approval hands it back with `release`.
 * 3. `admit`: counts the approval against the account's companion limit
 *    while it runs (see `LinkAdmission`).
 * 4. `approve`: the approved link is filed under a fresh random token that
 *    only the waiting companion receives; `takeApproved` consumes it once.
 *    When the waiter sits on another node, the `LinkApproved` push is filed
 *    with it too, so the waiter's node can deliver it (`takePushes`) should
 *    the bus drop the hand-off.
 */
import { ServiceError } from '../errors.js';

/** Random bytes in a reference (128 bits: not guessable within its lifetime). */
export const REF_BYTES = 16;
/** Random bytes in a link token. */
export const LINK_TOKEN_LENGTH = 32;
/** Longest reference accepted in a request (ours are 22 characters). */
export const MAX_REF_LENGTH = 64;
/**
 * How long an admitted approval holds its slot at most. An approval takes a
 * few store round trips; the bound only matters when the node running it
 * dies before `end`, so the slot is not lost for good.
 */
export const ADMISSION_TTL_MS = 60_000;
/**
 * How long a consumed approval keeps counting against the companion limit
 * while its device is not yet in the account (see `admit`). A completion
 * takes a few store round trips; a failed one frees its slot after this.
 */
export const COMPLETION_GRACE_MS = 60_000;
/**
 * How long after its expiry a claimed reference is kept: an approval in
 * flight still finds it; one whose node died no longer holds it.
 */
export const CLAIM_LEASE_MS = 60_000;

/** The companion connection waiting on a reference: which node, which connection. */
export interface LinkWaiter {
  readonly nodeId: string;
  readonly connectionId: number;
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
  /** Names this claim, so only its holder can release or approve it. */
  readonly claimId: string;
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

/** An approval as `approve` filed it. */
export interface FiledApproval {
  /** The single-use token, for the `LinkApproved` push (never stored in clear). */
  readonly token: Uint8Array;
  readonly expiresAt: number;
}

/** A filed `LinkApproved` push for a waiter of this node, taken by `takePushes`. */
export interface PendingLinkPush {
  readonly connectionId: number;
  readonly push: Uint8Array;
  /** When the approval expires: the waiter may stay anonymous until then. */
  readonly expiresAt: number;
}

/** An approval counted against its account's companion limit; `end` stops counting it. */
export interface LinkAdmission {
  end(): Promise<void>;
}

/** Where linking sessions are kept. Every operation is safe across nodes sharing the store. */
export interface LinkSessionStore {
  /** A fresh reference for `waiter`, invalidating the one it held before. */
  open(waiter: LinkWaiter): Promise<OpenedLink>;
  /**
   * Takes `ref` for approval: `unknown-link` if it is not open (unknown,
   * used, replaced, or being approved), `link-expired` if its time ran out.
   */
  claim(ref: string): Promise<ClaimedLink>;
  /** Hands back a claimed reference whose approval failed (still subject to expiry). */
  release(claimed: ClaimedLink): Promise<void>;
  /**
   * Whether `claimed` still holds its reference: false once the waiter's
   * connection closed (`dropConnection`) or it asked for a new one.
   */
  isHeld(claimed: ClaimedLink): Promise<boolean>;
  /**
   * Counts an approval for `account` against its companion limit while it
   * runs, so concurrent approvals (on any node) cannot overshoot.
   * `linkedDeviceIds` are the account's companions now. Throws
   * `too-many-devices` when companions + approvals not yet completed +
   * approvals in flight leave no slot.
   */
  admit(
    account: string,
    linkedDeviceIds: readonly number[],
    maxCompanions: number,
  ): Promise<LinkAdmission>;
  /**
   * Consumes the claimed reference and files the approval under a new
   * single-use token. With `pushFor`, the push it builds from the token is
   * filed for the waiter's node to take (`takePushes`).
   */
  approve(
    claimed: ClaimedLink,
    link: Omit<ApprovedLink, 'expiresAt'>,
    pushFor?: (token: Uint8Array) => Uint8Array,
  ): Promise<FiledApproval>;
  /** Consumes an approval by its token: `unknown-link` or `link-expired`. */
  takeApproved(token: Uint8Array): Promise<ApprovedLink>;
  /**
   * Takes the filed pushes of these waiters of `nodeId` (each is returned
   * once, ever): the waiter's node delivers them when the bus did not.
   */
  takePushes(nodeId: string, connectionIds: readonly number[]): Promise<PendingLinkPush[]>;
  /**
   * A closed connection's open reference dies with it, and so does any push
   * filed for it (approvals keep their token: the companion may complete
   * from a new connection).
   */
  dropConnection(waiter: LinkWaiter): Promise<void>;
  /** `dropConnection` for every connection of a node that (re)started: its ids start over. */
  dropNode(nodeId: string): Promise<void>;
  /** Drops expired references, approvals and admissions; returns how many. */
  prune(): Promise<number>;
}

/** The refusal of a reference that is not open. */
export function unknownLink(): ServiceError {
  return new ServiceError('unknown-link', 'no open linking session with that reference');
}

/** The refusal of an expired reference. */
export function expiredLink(): ServiceError {
  return new ServiceError('link-expired', 'the linking session has expired');
}

/** The refusal of a token that is unknown or was used. */
export function unknownToken(): ServiceError {
  return new ServiceError('unknown-link', 'unknown or already used link token');
}

/** The refusal of an approval not completed in time. */
export function expiredToken(): ServiceError {
  return new ServiceError('link-expired', 'the approved link was not completed in time');
}

/** The refusal of an approval beyond the companion limit. */
export function tooManyCompanions(maxCompanions: number): ServiceError {
  return new ServiceError(
    'too-many-devices',
    `an account may have at most ${maxCompanions} companion devices`,
  );
}

/** A fresh reference: 16 random bytes, base64url (22 characters). */
export function newRef(random: (length: number) => Uint8Array): string {
  return Buffer.from(random(REF_BYTES)).toString('base64url');
}
