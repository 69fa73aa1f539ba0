/**
 * Group ids: 16 random bytes on the wire, UUID text everywhere else — the
 * same text is the Sender Keys distribution id (one sender key per device
 * and group) and the `chat` of group messages.
 */
import {
  distributionIdFromBytes,
  distributionIdToBytes,
  type DistributionId,
} from '../../../protocol/sender-key-distribution-id.js';
import { distributionId } from '../../../protocol/sender-key-distribution-id.js';
import { ProtocolError } from '../../../protocol/errors.js';
import { GroupError } from './errors.js';

/** Length of a group id on the wire. */
export const GROUP_ID_LENGTH = 16;

/** A group id as canonical lower-case UUID text. */
export type GroupId = DistributionId;

/** Reads 16 wire bytes as a group id; anything else is `invalid-change`. */
export function groupIdFromBytes(bytes: Uint8Array): GroupId {
  if (bytes.length !== GROUP_ID_LENGTH) {
    throw new GroupError('invalid-change', 'group id must be 16 bytes');
  }
  return distributionIdFromBytes(bytes);
}

/** The 16 wire bytes of a group id. */
export function groupIdToBytes(id: GroupId): Uint8Array {
  return distributionIdToBytes(id);
}

/** Parses UUID text (any case) as a group id; `invalid-argument` otherwise. */
export function parseGroupId(text: string): GroupId {
  try {
    return distributionId(text);
  } catch (error) {
    if (ProtocolError.is(error)) {
      throw new GroupError('invalid-argument', 'a group id is UUID text', { cause: error });
    }
    throw error;
  }
}

/** Whether `chat` names a group (UUID text) rather than an account. */
export function isGroupChat(chat: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(chat);
}
