/**
 * Verification of a group's signed membership chain (docs/groups.md).
 *
 * Link 0 is the creation; every later link names the SHA-256 of the link
 * before it (`previous_hash`) and the next version number. Each link must be
 * signed by a device the author ACCOUNT vouches for — the pinned account key
 * itself for device 1, an ADV identity signed by that key for a companion —
 * and the author must have been allowed to make it under the membership the
 * previous link established. So the server, which stores and serves the
 * chain, can neither add a member, reorder or drop a change, nor rewrite
 * history without the members' clients noticing: it has no account key.
 *
 * Verification stops at the first bad link. Everything before it stays
 * valid (the result's `state`); the bad link and anything after it are
 * refused with a typed error, reported to the user by the caller.
 */
import { AdvError, verifyDeviceIdentity } from '../../../protocol/adv/index.js';
import type { ProtocolContext } from '../../../protocol/context.js';
import type { PublicKey } from '../../../protocol/curve.js';
import { sameBytes } from '../bytes.js';
import { GroupError } from './errors.js';
import type { GroupId } from './group-id.js';
import { verifyGroupChangeSignature } from '../../../protocol/group-change.js';
import type { GroupLink, GroupMemberInfo } from './group-change.js';

/** The primary's device id: its identity key is the account key. */
const PRIMARY_DEVICE_ID = 1;

/** A verified group: the state its newest verified link establishes. */
export interface GroupState {
  readonly groupId: GroupId;
  readonly version: number;
  /** SHA-256 of the head link's bytes: the next link's `previous_hash`. */
  readonly headHash: Uint8Array;
  readonly name: string;
  /** account → admin. */
  readonly members: ReadonlyMap<string, boolean>;
  /** The head link itself (persisted; the state is re-derived from it). */
  readonly head: GroupLink;
}

/** Where the verifier learns which account key to trust for an author. */
export interface AuthorTrust {
  /** The trusted account key of `account` (pinned, or first use). */
  accountKey(account: string): Promise<PublicKey>;
  /**
   * Whether `deviceId` is, right now, an ADV-accepted device of `account`
   * with exactly `identityKey` (the account's current signed key-index list
   * still lists it). A companion's ADV identity keeps verifying after the
   * primary removed it, so only this tells a removed companion apart.
   */
  isCurrentDevice(account: string, deviceId: number, identityKey: PublicKey): Promise<boolean>;
}

/** The outcome of verifying a served chain. */
export interface ChainVerdict {
  /** The newest verified state; undefined when not even the creation verifies. */
  readonly state: GroupState | undefined;
  /** The links newly verified in this call, oldest first. */
  readonly accepted: readonly GroupLink[];
  /** Why verification stopped early; undefined when every link verified. */
  readonly refused: GroupError | undefined;
  /** The members the server's newest link lists, verified or not. */
  readonly servedMembers: ReadonlyMap<string, boolean>;
}

/** The state a verified head link establishes. */
export async function stateFromHead(ctx: ProtocolContext, head: GroupLink): Promise<GroupState> {
  return {
    groupId: head.change.groupId,
    version: head.change.version,
    headHash: await ctx.crypto.sha256(head.bytes),
    name: head.change.name,
    members: memberMap(head.change.members),
    head,
  };
}

function memberMap(members: readonly GroupMemberInfo[]): Map<string, boolean> {
  return new Map(members.map((m) => [m.account, m.admin]));
}

/**
 * Checks that `link` was signed by a device its author account vouches for.
 * Device 1 must sign with the account key itself; a companion must carry an
 * ADV identity, signed by the account key, for exactly the signing key —
 * otherwise anyone holding any key (the server) could claim to be an admin's
 * companion.
 *
 * Returns whether the author device is current: always for device 1 (its
 * key is the trusted account key); for a companion, whether the account's
 * current verified device list still has it with that key. A companion the
 * primary removed keeps a valid ADV identity, so without this it could,
 * with the server's help, go on signing changes (adding a reader) after its
 * owner revoked it. The caller decides what a non-current author means.
 */
async function checkAuthor(
  ctx: ProtocolContext,
  link: GroupLink,
  trust: AuthorTrust,
): Promise<boolean> {
  const { change } = link;
  const accountKey = await trust.accountKey(change.author);
  let current = true;
  if (change.authorDevice === PRIMARY_DEVICE_ID) {
    if (!link.authorIdentityKey.equals(accountKey)) {
      throw new GroupError('untrusted-author', "the signing key is not the author's account key", {
        version: change.version,
      });
    }
  } else {
    if (link.authorDeviceIdentity.length === 0) {
      throw new GroupError('untrusted-author', 'a companion author must carry its ADV identity', {
        version: change.version,
      });
    }
    try {
      await verifyDeviceIdentity(ctx, link.authorDeviceIdentity, {
        accountKey,
        deviceIdentityKey: link.authorIdentityKey,
      });
    } catch (cause) {
      if (!AdvError.is(cause)) throw cause;
      throw new GroupError('untrusted-author', 'the author device identity does not verify', {
        cause,
        version: change.version,
      });
    }
    current = await trust.isCurrentDevice(
      change.author,
      change.authorDevice,
      link.authorIdentityKey,
    );
  }
  const ok = await verifyGroupChangeSignature(ctx.crypto, link);
  if (!ok) {
    throw new GroupError('bad-signature', 'the group change signature does not verify', {
      version: change.version,
    });
  }
  return current;
}

/** The refusal for a link whose companion author is no longer a device of its account. */
function notCurrent(version: number): GroupError {
  return new GroupError(
    'untrusted-author',
    "the author companion is not a current device of the author's account",
    { version },
  );
}

function refuse(
  code: 'not-authorized' | 'bad-membership' | 'broken-chain',
  message: string,
  version: number,
): never {
  throw new GroupError(code, message, { version });
}

/**
 * Rules for the first link a reader with no stored state verifies: the
 * creation, or a snapshot — an add or checkpoint that lists `reader`, signed by an
 * account its own member list names as an admin (the signature itself is
 * checked by `checkAuthor` like every link's). Such a reader cannot tell a
 * forged creation from a real one either: what it gets either way is a
 * membership signed by a device of an account holding it as admin, never
 * one the server made up. Members that hold a verified head never start
 * over: they only accept links that continue it.
 */
function checkStart(link: GroupLink, groupId: GroupId, reader: string | undefined): void {
  const { change } = link;
  if (change.version === 0 || reader === undefined) {
    checkCreate(link, groupId);
    return;
  }
  const v = change.version;
  if (change.groupId !== groupId) refuse('broken-chain', 'the change is for another group', v);
  if (change.action !== 'add' && change.action !== 'checkpoint') {
    refuse('broken-chain', 'a reader starts at the creation, an add or a checkpoint', v);
  }
  const members = memberMap(change.members);
  if (members.get(change.author) !== true) {
    refuse('not-authorized', 'a snapshot is signed by an admin it lists', v);
  }
  const targetOk =
    change.action === 'add' ? members.get(change.target) === false : change.target === '';
  if (!members.has(reader) || !targetOk) {
    refuse('bad-membership', 'a snapshot lists its reader (and an add its new member)', v);
  }
}

/** Rules for the creation link. */
function checkCreate(link: GroupLink, groupId: GroupId): void {
  const { change } = link;
  const v = change.version;
  if (change.groupId !== groupId) refuse('broken-chain', 'the change is for another group', v);
  if (change.version !== 0 || change.action !== 'create' || change.previousHash.length !== 0) {
    refuse('broken-chain', 'a chain starts with a create at version 0', v);
  }
  if (change.target !== '') refuse('bad-membership', 'a create names no target', v);
  const members = memberMap(change.members);
  if (members.get(change.author) !== true) {
    refuse('bad-membership', 'the creator must be an admin member', v);
  }
}

/** The membership `link` must list, given the previous state. */
function expectedMembers(previous: GroupState, link: GroupLink): Map<string, boolean> {
  const { change } = link;
  const v = change.version;
  const authorAdmin = previous.members.get(change.author);
  // A non-member (a removed admin, an outsider) cannot sign anything.
  if (authorAdmin === undefined) refuse('not-authorized', 'the author is not a member', v);
  const next = new Map(previous.members);
  switch (change.action) {
    case 'create':
      return refuse('broken-chain', 'a group is created only once', v);
    case 'add':
      if (!authorAdmin) refuse('not-authorized', 'only admins add members', v);
      if (previous.members.has(change.target)) refuse('bad-membership', 'already a member', v);
      if (change.target === '') refuse('bad-membership', 'an add names its target', v);
      next.set(change.target, false);
      return next;
    case 'remove':
      if (!authorAdmin) refuse('not-authorized', 'only admins remove members', v);
      if (!previous.members.has(change.target) || change.target === change.author) {
        refuse('bad-membership', 'a remove names another current member', v);
      }
      next.delete(change.target);
      return next;
    case 'leave':
      // Only the member itself can leave: otherwise "leave" would be a
      // remove that needs no admin.
      if (change.target !== change.author)
        refuse('not-authorized', 'only a member leaves itself', v);
      next.delete(change.author);
      return next;
    case 'checkpoint':
      // Readers with no state trust a checkpoint's member list as it is:
      // only an admin may restate it, and only unchanged.
      if (!authorAdmin) refuse('not-authorized', 'only admins write checkpoints', v);
      if (change.target !== '') refuse('bad-membership', 'a checkpoint names no target', v);
      return next;
  }
}

function sameMembers(a: ReadonlyMap<string, boolean>, b: ReadonlyMap<string, boolean>): boolean {
  if (a.size !== b.size) return false;
  for (const [account, admin] of a) if (b.get(account) !== admin) return false;
  return true;
}

/**
 * Verifies one link on top of `previous` (undefined: the creation) and
 * returns the new state; throws `GroupError` naming the link's version,
 * including `untrusted-author` when a companion author is not a current
 * device of its account.
 */
export async function verifyLink(
  ctx: ProtocolContext,
  groupId: GroupId,
  previous: GroupState | undefined,
  link: GroupLink,
  trust: AuthorTrust,
): Promise<GroupState> {
  const { state, current } = await checkLink(ctx, groupId, previous, link, trust);
  if (!current) throw notCurrent(link.change.version);
  return state;
}

/** Every rule of `verifyLink`, with the author's currency returned, not enforced. */
async function checkLink(
  ctx: ProtocolContext,
  groupId: GroupId,
  previous: GroupState | undefined,
  link: GroupLink,
  trust: AuthorTrust,
  reader?: string,
): Promise<{ readonly state: GroupState; readonly current: boolean }> {
  const { change } = link;
  const v = change.version;
  if (previous === undefined) {
    checkStart(link, groupId, reader);
  } else {
    if (change.groupId !== groupId) refuse('broken-chain', 'the change is for another group', v);
    if (v !== previous.version + 1 || !sameBytes(change.previousHash, previous.headHash)) {
      refuse('broken-chain', 'the change does not continue the chain', v);
    }
    if (change.name !== previous.name) refuse('bad-membership', 'the name cannot change here', v);
    if (!sameMembers(expectedMembers(previous, link), memberMap(change.members))) {
      refuse('bad-membership', 'the member list does not follow from the change', v);
    }
  }
  // Cheap structural rules first; the signature and ADV work only after.
  const current = await checkAuthor(ctx, link, trust);
  return { state: await stateFromHead(ctx, link), current };
}

/** What the server served for one fetch (see `GroupApi.getGroup`). */
export interface ServedLinks {
  /** Parsed links, oldest first. */
  readonly links: readonly GroupLink[];
  /** The version of `links[0]`. */
  readonly firstVersion: number;
  /** The server's head version. */
  readonly headVersion: number;
}

/**
 * Verifies served links (oldest first). With `known` (the state verified
 * earlier) the links must continue that exact head: the first one names
 * its hash — else `rollback`: the server hides or rewrites changes — and
 * a head version below the known one is a `rollback` too. Links accepted
 * earlier are pinned by that hash and never re-checked, so they stay valid
 * even if their companion author has been removed since. Without `known`,
 * the first link is the creation or a snapshot listing `reader`
 * (`checkStart`).
 *
 * A newly verified link whose companion author is no longer current is held
 * back, not accepted: it counts only once a LATER link by a current device
 * of an admin verifies on top of it. That admin's client checked the held
 * link when it built on it (a client signs only on its verified head), and
 * its signature covers the held link through `previous_hash`. So a
 * legitimate change signed before its companion was removed becomes valid
 * again once a current admin builds on it, while a removed companion and
 * the server alone can only produce a tail that no current admin endorsed —
 * refused as `untrusted-author` at its first link. No timestamp is used:
 * the server could choose them.
 */
export async function verifyChain(
  ctx: ProtocolContext,
  groupId: GroupId,
  served: ServedLinks,
  trust: AuthorTrust,
  known?: GroupState,
  reader?: string,
): Promise<ChainVerdict> {
  const { links, firstVersion } = served;
  const last = links[links.length - 1];
  const servedMembers =
    last === undefined
      ? new Map<string, boolean>(known?.members ?? [])
      : memberMap(last.change.members);
  let state = known;
  const accepted: GroupLink[] = [];
  if (known !== undefined) {
    const first = links[0];
    const continues =
      served.headVersion >= known.version &&
      (first === undefined ||
        (firstVersion === known.version + 1 &&
          first.change.version === firstVersion &&
          sameBytes(first.change.previousHash, known.headHash)));
    if (!continues) {
      const refused = new GroupError(
        'rollback',
        'the served chain does not continue the verified head',
        {
          version: known.version,
        },
      );
      return { state, accepted, refused, servedMembers };
    }
  }
  // Links by non-current companions, waiting for a current author's link.
  let held: GroupLink[] = [];
  let heldState: GroupState | undefined;
  let heldError: GroupError | undefined;
  for (const [index, link] of links.entries()) {
    const version = firstVersion + index;
    try {
      // Position and version must agree, so a served list cannot skip links.
      if (link.change.version !== version)
        refuse('broken-chain', 'links are out of order', version);
      const checked = await checkLink(ctx, groupId, heldState ?? state, link, trust, reader);
      // Only an admin's link may release held links: an admin could have
      // made those changes itself, while a non-admin member colluding with
      // a removed companion would otherwise gain an admin's power.
      const releases = held.length === 0 || heldState?.members.get(link.change.author) === true;
      if (checked.current && releases) {
        accepted.push(...held, link);
        state = checked.state;
        held = [];
        heldState = undefined;
        heldError = undefined;
      } else {
        held.push(link);
        heldState = checked.state;
        heldError ??= notCurrent(version);
      }
    } catch (error) {
      if (!GroupError.is(error)) throw error;
      // The first held link is where the verified chain really stops.
      return { state, accepted, refused: heldError ?? error, servedMembers };
    }
  }
  return { state, accepted, refused: heldError, servedMembers };
}
