/**
 * The server's checks of a signed group change (defense in depth: every
 * member verifies the whole chain again). A change is accepted only when it
 * decodes under the format rules clients apply (src/protocol/group-change.ts),
 * is signed by the caller device's stored identity key over
 * "quintet-group-change-v1" ‖ 0x00 ‖ change, and fits the action and the
 * current head. That keeps garbage, forgeries and out-of-order links out of
 * the chain members download, and is what the server's own membership (who
 * may read, who may send) is derived from.
 */
import type { SignedGroupChange } from '../../gen/quintet/v1/groups_pb.js';
import {
  CHAIN_HASH_LENGTH,
  decodeSignedGroupChange,
  GroupChangeFormatError,
  verifyGroupChangeSignature,
  type DecodedGroupChange,
  type GroupChangeContent,
} from '../../protocol/group-change.js';
import type { DeviceAddress, ServerContext } from '../context.js';
import { ServiceError } from '../errors.js';
import type { GroupMemberRecord, GroupRecord } from '../store/group-store.js';

export { GROUP_ID_LENGTH } from '../../protocol/group-change.js';

/** A change that passed parsing and the signature check. */
export interface VerifiedChange {
  readonly change: GroupChangeContent;
  /** Canonical `SignedGroupChange` bytes: stored, served, and hashed by the next link. */
  readonly signedBytes: Uint8Array;
  /** SHA-256 of `signedBytes`. */
  readonly hash: Uint8Array;
  readonly members: readonly GroupMemberRecord[];
}

function invalid(message: string): ServiceError {
  return new ServiceError('invalid-group-change', message);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Decodes with the shared format (src/protocol/group-change.ts: the rules
 * every client applies too) and maps its faults onto the wire codes.
 */
function decode(ctx: ServerContext, signed: SignedGroupChange): DecodedGroupChange {
  try {
    return decodeSignedGroupChange(signed, { maxMembers: ctx.limits.maxGroupMembers });
  } catch (cause) {
    if (!GroupChangeFormatError.isFormat(cause)) throw cause;
    switch (cause.problem) {
      case 'envelope':
        throw new ServiceError('malformed-request', cause.message, {}, { cause });
      case 'too-many-members':
        throw new ServiceError('group-too-large', cause.message, {}, { cause });
      case 'change':
        throw new ServiceError('invalid-group-change', cause.message, {}, { cause });
    }
  }
}

/**
 * Parses `signed`, checks the fields that do not depend on the group's
 * state, that the caller is the author and that the signature verifies with
 * the caller device's stored identity key.
 */
export async function verifySignedChange(
  ctx: ServerContext,
  self: DeviceAddress,
  signed: SignedGroupChange | undefined,
): Promise<VerifiedChange> {
  if (signed === undefined) throw new ServiceError('malformed-request', 'no change');
  const decoded = decode(ctx, signed);
  const change = decoded.change;
  if (change.author !== self.account || change.authorDevice !== self.deviceId) {
    // Signing as someone else would let a member forge another's leave.
    throw new ServiceError('forbidden', 'the change must be authored by the calling device');
  }
  const device = await ctx.store.accounts.getDevice(self.account, self.deviceId);
  if (
    device === undefined ||
    !sameBytes(device.identityKey, decoded.authorIdentityKey.serialize())
  ) {
    throw new ServiceError('invalid-signature', 'author key is not the calling device’s key');
  }
  if (!(await verifyGroupChangeSignature(ctx.crypto, decoded))) {
    throw new ServiceError('invalid-signature', 'group change signature does not verify');
  }
  // Stored as the canonical encoding clients hash too (unknown fields
  // dropped: nobody signed them).
  const signedBytes = decoded.bytes;
  return {
    change,
    signedBytes,
    hash: await ctx.crypto.sha256(signedBytes),
    members: change.members.map((m) => ({ account: m.account, admin: m.admin })),
  };
}

/** Every member account must exist (`unknown-account`), so fanout never names a ghost. */
export async function requireAccountsExist(
  ctx: ServerContext,
  accounts: readonly string[],
): Promise<void> {
  for (const account of accounts) {
    if ((await ctx.store.accounts.listDevices(account)) === undefined) {
      throw new ServiceError('unknown-account', 'a member account does not exist');
    }
  }
}

/** The creation rules: version 0, CREATE, no previous hash or target, author an admin. */
export function checkCreate(verified: VerifiedChange, self: DeviceAddress): void {
  const { change, members } = verified;
  if (change.action !== 'create') throw invalid('a new group starts with CREATE');
  if (change.version !== 0) throw invalid('a new group starts at version 0');
  if (change.previousHash.length !== 0) throw invalid('the first change has no previous hash');
  if (change.target !== '') throw invalid('CREATE has no target');
  if (!members.some((m) => m.account === self.account && m.admin)) {
    throw invalid('the creator must be an admin member');
  }
}

/**
 * The update rules against the current head: next version, previous hash,
 * the author's right to the action, and a member list that differs from the
 * current one by exactly the target (everyone else's admin flag unchanged;
 * a checkpoint changes nobody).
 * Returns the account the change removes, if any.
 */
export function checkUpdate(
  verified: VerifiedChange,
  head: GroupRecord,
  self: DeviceAddress,
): string | undefined {
  const { change, members } = verified;
  if (!sameBytes(change.groupId, head.groupId)) throw invalid('group id differs');
  if (change.version !== head.version + 1 || change.previousHash.length !== CHAIN_HASH_LENGTH) {
    throw new ServiceError('group-version-conflict', 'not the next version: refetch the group');
  }
  if (!sameBytes(change.previousHash, head.headHash)) {
    throw new ServiceError('group-version-conflict', 'previous hash is not the current head');
  }
  const current = new Map(head.members.map((m) => [m.account, m.admin]));
  const authorAdmin = current.get(self.account);
  if (authorAdmin === undefined) throw new ServiceError('not-group-member', 'not a member');
  const target = change.target;
  const next = new Map(members.map((m) => [m.account, m.admin]));
  let expectedSize: number;
  let removed: string | undefined;
  switch (change.action) {
    case 'add':
      if (!authorAdmin) throw new ServiceError('not-group-admin', 'only admins add members');
      if (current.has(target) || !next.has(target))
        throw invalid('ADD must add exactly the target');
      expectedSize = current.size + 1;
      break;
    case 'remove':
      if (!authorAdmin) throw new ServiceError('not-group-admin', 'only admins remove members');
      // Removing oneself is a LEAVE, which needs no admin right.
      if (target === self.account) throw invalid('remove yourself with LEAVE');
      if (!current.has(target) || next.has(target)) {
        throw invalid('REMOVE must remove exactly the target');
      }
      expectedSize = current.size - 1;
      removed = target;
      break;
    case 'leave':
      if (target !== self.account) throw new ServiceError('forbidden', 'only a member can leave');
      if (next.has(target)) throw invalid('LEAVE must remove the leaving member');
      expectedSize = current.size - 1;
      removed = target;
      break;
    case 'checkpoint':
      // Readers with no state may start here, so only an admin may write
      // one, restating the membership unchanged (clients check it again).
      if (!authorAdmin) throw new ServiceError('not-group-admin', 'only admins write checkpoints');
      if (target !== '') throw invalid('CHECKPOINT has no target');
      expectedSize = current.size;
      break;
    case 'create':
      throw invalid('an update is ADD, REMOVE, LEAVE or CHECKPOINT');
  }
  if (next.size !== expectedSize) throw invalid('members must change by exactly the target');
  for (const [account, admin] of next) {
    if (account === target) continue;
    if (current.get(account) !== admin) throw invalid('other members must stay as they are');
  }
  return removed;
}
