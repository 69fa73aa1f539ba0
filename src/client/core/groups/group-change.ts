/**
 * One link of a group's membership chain: building and signing a
 * `GroupChange`, and parsing a `SignedGroupChange` that came from the
 * server. Parsing is a trust boundary: every malformed field is
 * `GroupError('invalid-change')` before any signature work.
 *
 * The signature is XEdDSA by the author device's identity key over
 * "quintet-group-change-v1" ‖ 0x00 ‖ change bytes. The domain prefix keeps a
 * group-change signature from being replayed as any other signed object
 * (ADV identities, prekeys) made with the same identity key.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { ProtocolContext } from '../../../protocol/context.js';
import { PublicKey, sign, type PrivateKey } from '../../../protocol/curve.js';
import {
  GroupChange_Action,
  GroupChangeSchema,
  SignedGroupChangeSchema,
  type GroupChange,
  type SignedGroupChange,
} from '../../../gen/quintet/v1/groups_pb.js';
import { isValidAccountName } from '../../../wire/account-name.js';
import { utf8 } from '../bytes.js';
import { GroupError } from './errors.js';
import { groupIdFromBytes, groupIdToBytes, type GroupId } from './group-id.js';

/** WhatsApp's limit, and ours: members per group. */
export const MAX_GROUP_MEMBERS = 1024;
/** Longest group name, in UTF-16 code units. */
export const MAX_GROUP_NAME_LENGTH = 256;
/** Length of a chain hash (SHA-256). */
export const CHAIN_HASH_LENGTH = 32;
const PUBLIC_KEY_LENGTH = 33;
/** Signature domain of group changes. */
export const GROUP_CHANGE_DOMAIN = utf8('quintet-group-change-v1');

/**
 * What a change does. A `checkpoint` restates the membership unchanged (an
 * admin's snapshot for readers with no state; docs/groups.md).
 */
export type GroupAction = 'create' | 'add' | 'remove' | 'leave' | 'checkpoint';

/** One member as a change lists it. */
export interface GroupMemberInfo {
  readonly account: string;
  readonly admin: boolean;
}

/** The fields of a parsed `GroupChange`. */
export interface GroupChangeFields {
  readonly groupId: GroupId;
  readonly version: number;
  /** Empty at version 0. */
  readonly previousHash: Uint8Array;
  readonly action: GroupAction;
  /** Empty for `create`. */
  readonly target: string;
  /** The whole membership after this change, as listed. */
  readonly members: readonly GroupMemberInfo[];
  readonly name: string;
  readonly author: string;
  readonly authorDevice: number;
  /** ms since the epoch, the author's clock. */
  readonly timestamp: number;
}

/** A parsed signed link, with the exact bytes its successor hashes. */
export interface GroupLink {
  /** The serialized `SignedGroupChange`: what `previous_hash` of the next link covers. */
  readonly bytes: Uint8Array;
  /** The `GroupChange` bytes exactly as signed. */
  readonly changeBytes: Uint8Array;
  readonly change: GroupChangeFields;
  readonly authorIdentityKey: PublicKey;
  readonly signature: Uint8Array;
  /** `ADVSignedDeviceIdentity` of a companion author; empty for a primary. */
  readonly authorDeviceIdentity: Uint8Array;
}

const ACTIONS: ReadonlyMap<GroupChange_Action, GroupAction> = new Map([
  [GroupChange_Action.CREATE, 'create'],
  [GroupChange_Action.ADD, 'add'],
  [GroupChange_Action.REMOVE, 'remove'],
  [GroupChange_Action.LEAVE, 'leave'],
  [GroupChange_Action.CHECKPOINT, 'checkpoint'],
]);

const WIRE_ACTIONS: Readonly<Record<GroupAction, GroupChange_Action>> = {
  create: GroupChange_Action.CREATE,
  add: GroupChange_Action.ADD,
  remove: GroupChange_Action.REMOVE,
  leave: GroupChange_Action.LEAVE,
  checkpoint: GroupChange_Action.CHECKPOINT,
};

/** The bytes an author signs: domain ‖ 0x00 ‖ change. */
export function signedPayload(changeBytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(GROUP_CHANGE_DOMAIN.length + 1 + changeBytes.length);
  out.set(GROUP_CHANGE_DOMAIN, 0);
  out[GROUP_CHANGE_DOMAIN.length] = 0;
  out.set(changeBytes, GROUP_CHANGE_DOMAIN.length + 1);
  return out;
}

/** The author device's signing material. */
export interface ChangeAuthor {
  readonly account: string;
  readonly deviceId: number;
  readonly identityKey: PublicKey;
  readonly privateKey: PrivateKey;
  /** A companion's own `ADVSignedDeviceIdentity`; undefined for the primary. */
  readonly signedDeviceIdentity: Uint8Array | undefined;
}

/** Serializes and signs a change by `author`; returns the parsed link. */
export async function signGroupChange(
  ctx: ProtocolContext,
  author: ChangeAuthor,
  fields: Omit<GroupChangeFields, 'author' | 'authorDevice'>,
): Promise<GroupLink> {
  const changeBytes = toBinary(
    GroupChangeSchema,
    create(GroupChangeSchema, {
      groupId: groupIdToBytes(fields.groupId),
      version: fields.version,
      previousHash: fields.previousHash,
      action: WIRE_ACTIONS[fields.action],
      target: fields.target,
      members: fields.members.map((m) => ({ account: m.account, admin: m.admin })),
      name: fields.name,
      author: author.account,
      authorDevice: author.deviceId,
      timestamp: BigInt(fields.timestamp),
    }),
  );
  const signature = await sign(
    ctx.crypto,
    author.privateKey,
    signedPayload(changeBytes),
    ctx.random,
  );
  const signed = create(SignedGroupChangeSchema, {
    change: changeBytes,
    authorIdentityKey: author.identityKey.serialize(),
    signature,
    authorDeviceIdentity: author.signedDeviceIdentity ?? new Uint8Array(0),
  });
  return parseSignedChange(signed);
}

/** The wire message of a link (for Create/UpdateGroup requests). */
export function linkMessage(link: GroupLink): SignedGroupChange {
  return fromBinary(SignedGroupChangeSchema, link.bytes);
}

/** Parses a served `SignedGroupChange` (message or bytes); see the module comment. */
export function parseSignedChange(input: SignedGroupChange | Uint8Array): GroupLink {
  let signed: SignedGroupChange;
  try {
    signed = input instanceof Uint8Array ? fromBinary(SignedGroupChangeSchema, input) : input;
  } catch (cause) {
    throw new GroupError('invalid-change', 'signed group change does not parse', { cause });
  }
  // The canonical encoding of the four signed-over fields, as the server
  // stores it: both sides hash the same bytes for the same link. Unknown
  // fields are dropped (nobody signed them).
  const bytes = toBinary(
    SignedGroupChangeSchema,
    create(SignedGroupChangeSchema, {
      change: signed.change,
      authorIdentityKey: signed.authorIdentityKey,
      signature: signed.signature,
      authorDeviceIdentity: signed.authorDeviceIdentity,
    }),
  );
  if (signed.authorIdentityKey.length !== PUBLIC_KEY_LENGTH) {
    throw new GroupError('invalid-change', 'author identity key must be 33 bytes');
  }
  let authorIdentityKey: PublicKey;
  try {
    authorIdentityKey = PublicKey.deserialize(signed.authorIdentityKey);
  } catch (cause) {
    throw new GroupError('invalid-change', 'author identity key is not a public key', { cause });
  }
  let change: GroupChange;
  try {
    change = fromBinary(GroupChangeSchema, signed.change);
  } catch (cause) {
    throw new GroupError('invalid-change', 'group change does not parse', { cause });
  }
  return {
    bytes,
    changeBytes: signed.change,
    change: checkFields(change),
    authorIdentityKey,
    signature: signed.signature,
    authorDeviceIdentity: signed.authorDeviceIdentity,
  };
}

function checkFields(change: GroupChange): GroupChangeFields {
  const action = ACTIONS.get(change.action);
  if (action === undefined) throw new GroupError('invalid-change', 'unknown group action');
  if (change.previousHash.length !== 0 && change.previousHash.length !== CHAIN_HASH_LENGTH) {
    throw new GroupError('invalid-change', 'previous hash must be 32 bytes');
  }
  if (!isValidAccountName(change.author) || change.authorDevice < 1) {
    throw new GroupError('invalid-change', 'author is not a valid device');
  }
  if (change.target !== '' && !isValidAccountName(change.target)) {
    throw new GroupError('invalid-change', 'target is not a valid account name');
  }
  if (change.name.length > MAX_GROUP_NAME_LENGTH) {
    throw new GroupError('invalid-change', 'group name is too long');
  }
  if (change.members.length > MAX_GROUP_MEMBERS) {
    throw new GroupError('invalid-change', `a group has at most ${MAX_GROUP_MEMBERS} members`);
  }
  const seen = new Set<string>();
  const members: GroupMemberInfo[] = [];
  for (const member of change.members) {
    // A duplicate entry could carry two different admin flags; refuse it
    // rather than pick one.
    if (!isValidAccountName(member.account) || seen.has(member.account)) {
      throw new GroupError('invalid-change', 'members must be distinct valid account names');
    }
    seen.add(member.account);
    members.push({ account: member.account, admin: member.admin });
  }
  if (change.timestamp > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new GroupError('invalid-change', 'timestamp out of range');
  }
  return {
    groupId: groupIdFromBytes(change.groupId),
    version: change.version,
    previousHash: change.previousHash,
    action,
    target: change.target,
    members,
    name: change.name,
    author: change.author,
    authorDevice: change.authorDevice,
    timestamp: Number(change.timestamp),
  };
}
