/**
 * The signed group-change format: the one definition both the client (which
 * signs changes and verifies whole chains) and the server (which checks each
 * change before storing it) use. Two copies could drift, and a change one
 * side accepts and the other refuses splits a group; so encoding, decoding,
 * field rules, the canonical stored bytes and the signed bytes live here.
 *
 * A link is a `SignedGroupChange { change, author_identity_key, signature,
 * author_device_identity }`. The signature is XEdDSA by the author device's
 * identity key over "quintet-group-change-v1" ‖ 0x00 ‖ change bytes: the
 * domain prefix keeps a group-change signature from being replayed as any
 * other object signed with the same identity key (ADV identities, prekeys).
 *
 * Decoding is a trust boundary: every malformed field is a
 * `GroupChangeFormatError` before any signature work, and nothing here
 * allocates more than a bounded multiple of its input.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  GroupChange_Action,
  GroupChangeSchema,
  SignedGroupChangeSchema,
  type GroupChange,
  type SignedGroupChange,
} from '../gen/quintet/v1/groups_pb.js';
import { isValidAccountName } from '../wire/account-name.js';
import type { CryptoProvider, RandomSource } from '../crypto/provider.js';
import { PublicKey, sign, verify, type PrivateKey } from './curve.js';
import { ProtocolError } from './errors.js';

/** Length of a group id. */
export const GROUP_ID_LENGTH = 16;
/** Length of a chain hash (SHA-256 of the previous link's canonical bytes). */
export const CHAIN_HASH_LENGTH = 32;
/** Longest group name, in UTF-16 code units. */
export const MAX_GROUP_NAME_LENGTH = 256;
/** WhatsApp's limit, and the default one: members per group. */
export const MAX_GROUP_MEMBERS = 1024;
/** A 1024-member change is ~40 KiB; anything far beyond is not a change. */
export const MAX_GROUP_CHANGE_BYTES = 256 * 1024;
/** Real `ADVSignedDeviceIdentity` values are ~200 bytes. */
export const MAX_AUTHOR_DEVICE_IDENTITY_BYTES = 4096;
const SIGNATURE_LENGTH = 64;
const PUBLIC_KEY_LENGTH = 33;

/** Signature domain of group changes. */
export const GROUP_CHANGE_DOMAIN = new TextEncoder().encode('quintet-group-change-v1');

/**
 * What a change does. A `checkpoint` restates the membership unchanged (an
 * admin's snapshot for readers with no state; docs/groups.md).
 */
export type GroupChangeAction = 'create' | 'add' | 'remove' | 'leave' | 'checkpoint';

/** One member as a change lists it. */
export interface GroupChangeMember {
  readonly account: string;
  readonly admin: boolean;
}

/** The fields of a `GroupChange`, checked. */
export interface GroupChangeContent {
  /** 16 bytes. */
  readonly groupId: Uint8Array;
  readonly version: number;
  /** Empty at version 0, else 32 bytes. */
  readonly previousHash: Uint8Array;
  readonly action: GroupChangeAction;
  /** Empty for `create` and `checkpoint`. */
  readonly target: string;
  /** The whole membership after this change, as listed. */
  readonly members: readonly GroupChangeMember[];
  readonly name: string;
  readonly author: string;
  readonly authorDevice: number;
  /** ms since the epoch, the author's clock. */
  readonly timestamp: number;
}

/** A decoded link, with the exact bytes its successor hashes. */
export interface DecodedGroupChange {
  /** Canonical `SignedGroupChange` bytes: stored, served, and hashed by the next link. */
  readonly bytes: Uint8Array;
  /** The `GroupChange` bytes exactly as signed. */
  readonly changeBytes: Uint8Array;
  readonly change: GroupChangeContent;
  readonly authorIdentityKey: PublicKey;
  readonly signature: Uint8Array;
  /** `ADVSignedDeviceIdentity` of a companion author; empty for a primary. */
  readonly authorDeviceIdentity: Uint8Array;
}

/**
 * Which part of a link is wrong: `envelope` (the signature, key or device
 * identity around the change), `too-many-members` (over the caller's
 * limit), `change` (anything in the signed change itself).
 */
export type GroupChangeProblem = 'envelope' | 'too-many-members' | 'change';

/** A link that does not decode or breaks a field rule. */
export class GroupChangeFormatError extends ProtocolError {
  constructor(
    readonly problem: GroupChangeProblem,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('invalid-message', message, options);
  }
  static isFormat(value: unknown): value is GroupChangeFormatError {
    return value instanceof GroupChangeFormatError;
  }
}

const ACTIONS: ReadonlyMap<GroupChange_Action, GroupChangeAction> = new Map([
  [GroupChange_Action.CREATE, 'create'],
  [GroupChange_Action.ADD, 'add'],
  [GroupChange_Action.REMOVE, 'remove'],
  [GroupChange_Action.LEAVE, 'leave'],
  [GroupChange_Action.CHECKPOINT, 'checkpoint'],
]);

const WIRE_ACTIONS: Readonly<Record<GroupChangeAction, GroupChange_Action>> = {
  create: GroupChange_Action.CREATE,
  add: GroupChange_Action.ADD,
  remove: GroupChange_Action.REMOVE,
  leave: GroupChange_Action.LEAVE,
  checkpoint: GroupChange_Action.CHECKPOINT,
};

/** The `GroupChange` bytes of `content` (what the author signs). */
export function encodeGroupChange(content: GroupChangeContent): Uint8Array {
  return toBinary(
    GroupChangeSchema,
    create(GroupChangeSchema, {
      groupId: content.groupId,
      version: content.version,
      previousHash: content.previousHash,
      action: WIRE_ACTIONS[content.action],
      target: content.target,
      members: content.members.map((m) => ({ account: m.account, admin: m.admin })),
      name: content.name,
      author: content.author,
      authorDevice: content.authorDevice,
      timestamp: BigInt(content.timestamp),
    }),
  );
}

/** The bytes an author signs: domain ‖ 0x00 ‖ change. */
export function groupChangeSigningBytes(changeBytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(GROUP_CHANGE_DOMAIN.length + 1 + changeBytes.length);
  out.set(GROUP_CHANGE_DOMAIN, 0);
  out[GROUP_CHANGE_DOMAIN.length] = 0;
  out.set(changeBytes, GROUP_CHANGE_DOMAIN.length + 1);
  return out;
}

/** The parts of a link, as bytes. */
export interface SignedGroupChangeParts {
  readonly changeBytes: Uint8Array;
  readonly authorIdentityKey: Uint8Array;
  readonly signature: Uint8Array;
  readonly authorDeviceIdentity: Uint8Array;
}

/**
 * The canonical `SignedGroupChange` encoding of the four signed-over
 * fields: what the server stores and every client hashes, so both sides
 * hash the same bytes for the same link. Unknown fields are dropped
 * (nobody signed them).
 */
export function encodeSignedGroupChange(parts: SignedGroupChangeParts): Uint8Array {
  return toBinary(
    SignedGroupChangeSchema,
    create(SignedGroupChangeSchema, {
      change: parts.changeBytes,
      authorIdentityKey: parts.authorIdentityKey,
      signature: parts.signature,
      authorDeviceIdentity: parts.authorDeviceIdentity,
    }),
  );
}

/** Encodes and signs `content` with the author device's identity key. */
export async function signGroupChangeContent(
  crypto: CryptoProvider,
  random: RandomSource,
  author: {
    readonly identityKey: PublicKey;
    readonly privateKey: PrivateKey;
    readonly signedDeviceIdentity: Uint8Array | undefined;
  },
  content: GroupChangeContent,
): Promise<DecodedGroupChange> {
  const changeBytes = encodeGroupChange(content);
  const signature = await sign(
    crypto,
    author.privateKey,
    groupChangeSigningBytes(changeBytes),
    random,
  );
  return decodeSignedGroupChange(
    encodeSignedGroupChange({
      changeBytes,
      authorIdentityKey: author.identityKey.serialize(),
      signature,
      authorDeviceIdentity: author.signedDeviceIdentity ?? new Uint8Array(0),
    }),
  );
}

/** Whether the link's signature verifies with its own author identity key. */
export async function verifyGroupChangeSignature(
  crypto: CryptoProvider,
  link: Pick<DecodedGroupChange, 'authorIdentityKey' | 'changeBytes' | 'signature'>,
): Promise<boolean> {
  return verify(
    crypto,
    link.authorIdentityKey,
    groupChangeSigningBytes(link.changeBytes),
    link.signature,
  );
}

/**
 * Decodes a link (message or bytes) and checks every field rule that does
 * not depend on the chain: sizes, the author key, the action, lengths of
 * group id and previous hash, account names, distinct members (at most
 * `maxMembers`), name length and timestamp range.
 */
export function decodeSignedGroupChange(
  input: SignedGroupChange | Uint8Array,
  options: { readonly maxMembers?: number } = {},
): DecodedGroupChange {
  let signed: SignedGroupChange;
  try {
    signed = input instanceof Uint8Array ? fromBinary(SignedGroupChangeSchema, input) : input;
  } catch (cause) {
    throw new GroupChangeFormatError('change', 'signed group change does not parse', { cause });
  }
  if (signed.change.length === 0 || signed.change.length > MAX_GROUP_CHANGE_BYTES) {
    throw new GroupChangeFormatError('change', 'group change is empty or too large');
  }
  if (signed.signature.length !== SIGNATURE_LENGTH) {
    throw new GroupChangeFormatError('envelope', 'signature must be 64 bytes');
  }
  if (signed.authorDeviceIdentity.length > MAX_AUTHOR_DEVICE_IDENTITY_BYTES) {
    throw new GroupChangeFormatError('envelope', 'author device identity is too large');
  }
  if (signed.authorIdentityKey.length !== PUBLIC_KEY_LENGTH) {
    throw new GroupChangeFormatError('envelope', 'author identity key must be 33 bytes');
  }
  let authorIdentityKey: PublicKey;
  try {
    authorIdentityKey = PublicKey.deserialize(signed.authorIdentityKey);
  } catch (cause) {
    throw new GroupChangeFormatError('envelope', 'author identity key is not a public key', {
      cause,
    });
  }
  let change: GroupChange;
  try {
    change = fromBinary(GroupChangeSchema, signed.change);
  } catch (cause) {
    throw new GroupChangeFormatError('change', 'group change does not parse', { cause });
  }
  return {
    bytes: encodeSignedGroupChange({
      changeBytes: signed.change,
      authorIdentityKey: signed.authorIdentityKey,
      signature: signed.signature,
      authorDeviceIdentity: signed.authorDeviceIdentity,
    }),
    changeBytes: signed.change,
    change: checkContent(change, options.maxMembers ?? MAX_GROUP_MEMBERS),
    authorIdentityKey,
    signature: signed.signature,
    authorDeviceIdentity: signed.authorDeviceIdentity,
  };
}

function checkContent(change: GroupChange, maxMembers: number): GroupChangeContent {
  const bad = (message: string): GroupChangeFormatError =>
    new GroupChangeFormatError('change', message);
  if (change.groupId.length !== GROUP_ID_LENGTH) throw bad('group id must be 16 bytes');
  const action = ACTIONS.get(change.action);
  if (action === undefined) throw bad('unknown group action');
  if (change.previousHash.length !== 0 && change.previousHash.length !== CHAIN_HASH_LENGTH) {
    throw bad('previous hash must be 32 bytes');
  }
  if (!isValidAccountName(change.author) || change.authorDevice < 1) {
    throw bad('author is not a valid device');
  }
  if (change.target !== '' && !isValidAccountName(change.target)) {
    throw bad('target is not a valid account name');
  }
  if (change.name.length > MAX_GROUP_NAME_LENGTH) throw bad('group name is too long');
  if (change.members.length > maxMembers) {
    throw new GroupChangeFormatError(
      'too-many-members',
      `a group has at most ${maxMembers} members`,
    );
  }
  const seen = new Set<string>();
  const members: GroupChangeMember[] = [];
  for (const member of change.members) {
    // A duplicate entry could carry two different admin flags; refuse it
    // rather than pick one.
    if (!isValidAccountName(member.account) || seen.has(member.account)) {
      throw bad('members must be distinct valid account names');
    }
    seen.add(member.account);
    members.push({ account: member.account, admin: member.admin });
  }
  if (change.timestamp > BigInt(Number.MAX_SAFE_INTEGER)) throw bad('timestamp out of range');
  return {
    groupId: change.groupId,
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
