/**
 * Group membership requests: create, update (add / remove / leave), read
 * the chain, list one's groups. The chain of signed changes is checked here
 * (group-change-check.ts) and stored as received; members verify it again.
 *
 * After a change every connected device of every member — before and after
 * the change, so a removed member learns it too — gets `GroupChanged`.
 * Offline devices are not queued anything: clients call `ListGroups` and
 * `GetGroup` for the groups they know when they connect, and a group send
 * whose recipient set is out of date is refused with the per-account
 * mismatch, which also makes the sender refetch.
 */
import { fromBinary } from '@bufbuild/protobuf';
import {
  GroupChangeSchema,
  GroupChange_Action,
  SignedGroupChangeSchema,
  type SignedGroupChange,
} from '../../gen/quintet/v1/groups_pb.js';
import type {
  CreateGroupRequest,
  GetGroupRequest,
  ListGroupsRequest,
  UpdateGroupRequest,
} from '../../gen/quintet/v1/transport_pb.js';
import { encodeFrame, pushFrame } from '../../wire/frame.js';
import type { ClientConnection, HandlerResult } from '../connection.js';
import type { DeviceAddress, ServerContext } from '../context.js';
import { ServiceError } from '../errors.js';
import type { GroupRecord } from '../store/group-store.js';
import { StoreError } from '../store/types.js';
import { requireDevice } from './common.js';
import {
  GROUP_ID_LENGTH,
  checkCreate,
  checkUpdate,
  requireAccountsExist,
  verifySignedChange,
} from './group-change-check.js';

/** Store failures a client can act on, as wire errors; anything else stays internal. */
function fromStoreError(error: unknown): never {
  if (StoreError.is(error, 'group-exists')) {
    throw new ServiceError('group-exists', 'group id already taken', {}, { cause: error });
  }
  if (StoreError.is(error, 'group-version-conflict')) {
    throw new ServiceError(
      'group-version-conflict',
      'a concurrent change won: refetch',
      {},
      {
        cause: error,
      },
    );
  }
  if (StoreError.is(error, 'unknown-group')) {
    throw new ServiceError('unknown-group', 'no such group', {}, { cause: error });
  }
  throw error;
}

/** A 16-byte group id from a request, or `malformed-request`. */
export function requireGroupId(groupId: Uint8Array): Uint8Array {
  if (groupId.length !== GROUP_ID_LENGTH) {
    throw new ServiceError('malformed-request', `group ids are ${GROUP_ID_LENGTH} bytes`);
  }
  return groupId;
}

/** The group, or `unknown-group`. */
export async function requireGroup(ctx: ServerContext, groupId: Uint8Array): Promise<GroupRecord> {
  const group = await ctx.store.groups.getGroup(groupId);
  if (group === undefined) throw new ServiceError('unknown-group', 'no such group');
  return group;
}

/** The encoded `Push.group_changed` frame. */
export function groupChangedPush(groupId: Uint8Array): Uint8Array {
  return encodeFrame(pushFrame({ case: 'groupChanged', value: { groupId } }));
}

/**
 * Pushes `GroupChanged` to every connected device of `accounts` except the
 * device that made the change. Off the request path: a lost notice only
 * delays a refetch (clients fetch on connect, and sends catch drift).
 */
function announceGroupChange(
  ctx: ServerContext,
  groupId: Uint8Array,
  accounts: ReadonlySet<string>,
  except: DeviceAddress,
): void {
  const push = groupChangedPush(groupId);
  (async () => {
    for (const account of accounts) {
      const devices = (await ctx.store.accounts.listDevices(account)) ?? [];
      for (const device of devices) {
        if (account === except.account && device.deviceId === except.deviceId) continue;
        ctx.devices.sendPush({ account, deviceId: device.deviceId }, push);
      }
    }
  })().catch((error: unknown) => {
    ctx.logger.warn({ err: error }, 'could not announce a group change');
  });
}

/** Stores the first change of a new group. */
export async function handleCreateGroup(
  ctx: ServerContext,
  connection: ClientConnection,
  request: CreateGroupRequest,
): Promise<HandlerResult> {
  const self = requireDevice(connection);
  const verified = await verifySignedChange(ctx, self, request.change);
  checkCreate(verified, self);
  const accounts = verified.members.map((m) => m.account);
  await requireAccountsExist(ctx, accounts);
  const groupId = verified.change.groupId;
  await ctx.store.groups
    .createGroup(groupId, {
      signedChange: verified.signedBytes,
      headHash: verified.hash,
      members: verified.members,
    })
    .catch(fromStoreError);
  return {
    body: { case: 'createGroup', value: {} },
    after: () => announceGroupChange(ctx, groupId, new Set(accounts), self),
  };
}

/** Appends a change (add, remove, leave) to an existing group. */
export async function handleUpdateGroup(
  ctx: ServerContext,
  connection: ClientConnection,
  request: UpdateGroupRequest,
): Promise<HandlerResult> {
  const self = requireDevice(connection);
  const verified = await verifySignedChange(ctx, self, request.change);
  const groupId = verified.change.groupId;
  const head = await requireGroup(ctx, groupId);
  const checkpoint = verified.change.action === 'checkpoint';
  // A checkpoint keeps the account the head removed able to read its
  // removal: it changes nobody's membership.
  const removed = checkpoint ? head.removed : checkUpdate(verified, head, self);
  if (checkpoint) checkUpdate(verified, head, self);
  else if (removed === undefined) await requireAccountsExist(ctx, [verified.change.target]);
  await ctx.store.groups
    .appendChange(groupId, {
      version: verified.change.version,
      signedChange: verified.signedBytes,
      headHash: verified.hash,
      members: verified.members,
      ...(removed === undefined ? {} : { removed }),
    })
    .catch(fromStoreError);
  const told = new Set([
    ...head.members.map((m) => m.account),
    ...verified.members.map((m) => m.account),
  ]);
  return {
    body: { case: 'updateGroup', value: {} },
    after: () => announceGroupChange(ctx, groupId, told, self),
  };
}

/**
 * Changes of the chain, to members and to the account the head change
 * removed. A caller that names the version it has verified gets only the
 * changes after it; one with no state (a new member, a reinstalled device)
 * gets the newest snapshot link that lists it and the changes after it —
 * never the whole history, which would grow without bound with every
 * change. A snapshot link is a change signed by an admin that carries the
 * whole membership (create, add, checkpoint); the reader checks it before
 * trusting it (docs/groups.md, "Reading the chain").
 */
export async function handleGetGroup(
  ctx: ServerContext,
  connection: ClientConnection,
  request: GetGroupRequest,
): Promise<HandlerResult> {
  const self = requireDevice(connection);
  const groupId = requireGroupId(request.groupId);
  const group = await requireGroup(ctx, groupId);
  const isMember = group.members.some((m) => m.account === self.account);
  if (!isMember && group.removed !== self.account) {
    throw new ServiceError('not-group-member', 'not a member of this group');
  }
  const head = group.version;
  let first: number;
  let changes: SignedGroupChange[];
  // The newest snapshot of any reader, and the one that lists the caller.
  let snapshotVersion: number | undefined;
  let readerSnapshot: number | undefined;
  if (request.knownVersion !== undefined) {
    // A version past the head serves nothing; the caller sees head_version
    // below its own and reports the rollback.
    first = Math.min(request.knownVersion + 1, head + 1);
    changes = (await ctx.store.groups.getChanges(groupId, first)).map(parseStored);
    snapshotVersion = newestSnapshot(changes, first, self.account).any;
  } else {
    // Read back from the head in growing windows until a snapshot listing
    // the caller turns up: checkpoints keep that within a few dozen links.
    let window = SNAPSHOT_SEARCH_WINDOW;
    for (;;) {
      first = Math.max(0, head + 1 - window);
      changes = (await ctx.store.groups.getChanges(groupId, first)).map(parseStored);
      const found = newestSnapshot(changes, first, self.account);
      snapshotVersion = found.any;
      readerSnapshot = found.listing;
      if (readerSnapshot !== undefined || first === 0) break;
      window *= 4;
    }
    if (readerSnapshot !== undefined) {
      changes = changes.slice(readerSnapshot - first);
      first = readerSnapshot;
    }
  }
  if (snapshotVersion === undefined) {
    // Not within what was read: look further back, for the admins' checkpoint decision.
    const start = Math.max(0, first - SNAPSHOT_SEARCH_WINDOW);
    const before = (await ctx.store.groups.getChanges(groupId, start))
      .slice(0, first - start)
      .map(parseStored);
    snapshotVersion = newestSnapshot(before, start, self.account).any ?? start;
  }
  return {
    body: {
      case: 'getGroup',
      value: { changes, firstVersion: first, headVersion: head, snapshotVersion },
    },
  };
}

/** Links read back from the head at a time when looking for a snapshot. */
const SNAPSHOT_SEARCH_WINDOW = 64;

/** The newest snapshot among `changes` (which start at `first`), and the newest listing `account`. */
function newestSnapshot(
  changes: readonly SignedGroupChange[],
  first: number,
  account: string,
): { readonly any: number | undefined; readonly listing: number | undefined } {
  let any: number | undefined;
  for (let i = changes.length - 1; i >= 0; i--) {
    const signed = changes[i];
    if (signed === undefined) continue;
    const kind = snapshotListing(signed, account);
    if (kind === 'no') continue;
    any ??= first + i;
    if (kind === 'lists') return { any, listing: first + i };
  }
  return { any, listing: undefined };
}

function parseStored(bytes: Uint8Array): SignedGroupChange {
  try {
    return fromBinary(SignedGroupChangeSchema, bytes);
  } catch (cause) {
    // Only verified changes are written, so this is local corruption.
    throw new StoreError('corrupt', 'stored group change does not parse', { cause });
  }
}

/**
 * Whether `signed` is a snapshot link (create, add, checkpoint: the whole
 * membership, signed by an admin), and whether it lists `account` — where a
 * reader with no state may start verifying (see handleGetGroup).
 */
function snapshotListing(signed: SignedGroupChange, account: string): 'no' | 'lists' | 'other' {
  let change;
  try {
    change = fromBinary(GroupChangeSchema, signed.change);
  } catch (cause) {
    throw new StoreError('corrupt', 'stored group change does not parse', { cause });
  }
  const snapshot =
    change.action === GroupChange_Action.CREATE ||
    change.action === GroupChange_Action.ADD ||
    change.action === GroupChange_Action.CHECKPOINT;
  if (!snapshot) return 'no';
  return change.members.some((m) => m.account === account) ? 'lists' : 'other';
}

/** Ids of the caller account's groups. */
export async function handleListGroups(
  ctx: ServerContext,
  connection: ClientConnection,
  _request: ListGroupsRequest,
): Promise<HandlerResult> {
  const self = requireDevice(connection);
  const groupIds = await ctx.store.groups.listGroups(self.account);
  return { body: { case: 'listGroups', value: { groupIds: [...groupIds] } } };
}
