/**
 * One link of a group's membership chain, in the client's terms: signing a
 * change as this device, and parsing a `SignedGroupChange` that came from
 * the server. The format itself (encoding, field rules, canonical bytes,
 * signed bytes) is src/protocol/group-change.ts, shared with the server so
 * the two can never disagree about a link; this module maps its errors to
 * `GroupError('invalid-change')` and group ids to `GroupId`.
 */
import { fromBinary } from '@bufbuild/protobuf';
import type { ProtocolContext } from '../../../protocol/context.js';
import type { PrivateKey, PublicKey } from '../../../protocol/curve.js';
import {
  decodeSignedGroupChange,
  GroupChangeFormatError,
  signGroupChangeContent,
  type DecodedGroupChange,
  type GroupChangeAction,
  type GroupChangeMember,
} from '../../../protocol/group-change.js';
import {
  SignedGroupChangeSchema,
  type SignedGroupChange,
} from '../../../gen/quintet/v1/groups_pb.js';
import { GroupError } from './errors.js';
import { groupIdFromBytes, groupIdToBytes, type GroupId } from './group-id.js';

export {
  CHAIN_HASH_LENGTH,
  MAX_GROUP_MEMBERS,
  MAX_GROUP_NAME_LENGTH,
} from '../../../protocol/group-change.js';

/** What a change does (see src/protocol/group-change.ts). */
export type GroupAction = GroupChangeAction;

/** One member as a change lists it. */
export type GroupMemberInfo = GroupChangeMember;

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
  const decoded = await guard(() =>
    signGroupChangeContent(ctx.crypto, ctx.random, author, {
      ...fields,
      groupId: groupIdToBytes(fields.groupId),
      author: author.account,
      authorDevice: author.deviceId,
    }),
  );
  return toLink(decoded);
}

/** The wire message of a link (for Create/UpdateGroup requests). */
export function linkMessage(link: GroupLink): SignedGroupChange {
  return fromBinary(SignedGroupChangeSchema, link.bytes);
}

/** Parses a served `SignedGroupChange` (message or bytes); every format fault is `invalid-change`. */
export function parseSignedChange(input: SignedGroupChange | Uint8Array): GroupLink {
  let decoded: DecodedGroupChange;
  try {
    decoded = decodeSignedGroupChange(input);
  } catch (cause) {
    throw asGroupError(cause);
  }
  return toLink(decoded);
}

function toLink(decoded: DecodedGroupChange): GroupLink {
  return {
    bytes: decoded.bytes,
    changeBytes: decoded.changeBytes,
    change: { ...decoded.change, groupId: groupIdFromBytes(decoded.change.groupId) },
    authorIdentityKey: decoded.authorIdentityKey,
    signature: decoded.signature,
    authorDeviceIdentity: decoded.authorDeviceIdentity,
  };
}

async function guard<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (cause) {
    throw asGroupError(cause);
  }
}

function asGroupError(cause: unknown): unknown {
  if (!GroupChangeFormatError.isFormat(cause)) return cause;
  return new GroupError('invalid-change', cause.message, { cause });
}
