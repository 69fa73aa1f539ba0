/**
 * The receiving half of groups, called by the receive pipeline (receiver.ts)
 * inside its per-sender queue and store transaction:
 *
 * - a `SenderKeyDistribution` (over the authenticated pairwise session) is
 *   stored as the sender device's key for that group — after checking that
 *   the group id names the same distribution id as the key inside, so one
 *   group's key cannot be filed under another;
 * - a SENDER_KEY envelope is decrypted only if its sender account is a
 *   member in this device's VERIFIED chain: a member the server alone added
 *   could otherwise hand out its own key and then post into the group. The
 *   content must be a data message naming the same group as the envelope,
 *   or a typing indicator naming it in an ephemeral envelope (typing.ts).
 *
 * - a `DataMessage` naming a group that arrives pairwise is a message the
 *   sender re-sent after this device asked (group-aware retry): the same
 *   membership rule applies, and it is stored once per message id.
 *
 * Before the transaction (`prepare`), a message from an account the stored
 * chain does not list makes the chain be fetched and verified first — it may
 * be a member added by a change this device has not seen yet.
 */
import type { ProtocolAddress } from '../../../protocol/address.js';
import type { ProtocolContext } from '../../../protocol/context.js';
import { applyChatData, type ChatUpdate } from '../chat/chat-apply.js';
import { DEFAULT_CHAT_RULES, type ChatRules } from '../chat/chat-rules.js';
import { ProtocolError } from '../../../protocol/errors.js';
import {
  groupDecrypt,
  processSenderKeyDistributionMessage,
} from '../../../protocol/group-cipher.js';
import { SenderKeyDistributionMessage } from '../../../protocol/sender-key-messages.js';
import type { DataMessage, SenderKeyDistribution } from '../../../gen/quintet/v1/content_pb.js';
import type { Envelope } from '../../../gen/quintet/v1/transport_pb.js';
import { ClientError } from '../errors.js';
import { decodeContent } from '../content.js';
import type { DeviceStoreView } from '../store/device-store.js';
import type { StoredMessage } from '../store/records.js';
import { groupTypingEvent, typingEnabled, type TypingEvent } from '../typing.js';
import { GroupError } from './errors.js';
import { groupIdFromBytes, type GroupId } from './group-id.js';

/** What a group envelope or content became. */
export type GroupReceiveResult =
  | { readonly kind: 'message'; readonly message: StoredMessage; readonly groupId: GroupId }
  | { readonly kind: 'chat'; readonly updates: readonly ChatUpdate[]; readonly groupId: GroupId }
  | { readonly kind: 'refused'; readonly groupId: string; readonly reason: string }
  | {
      readonly kind: 'failed';
      readonly code: string;
      /**
       * Set when the sender key could not decrypt (no key, a missing chain
       * step): the sender is asked to re-send pairwise, naming this group.
       */
      readonly retryGroupId?: Uint8Array;
    }
  | { readonly kind: 'key'; readonly groupId: GroupId }
  | { readonly kind: 'typing'; readonly event: TypingEvent }
  | { readonly kind: 'nothing' };

/** The group id of an envelope or content, or undefined when malformed. */
function groupIdOf(bytes: Uint8Array): GroupId | undefined {
  try {
    return groupIdFromBytes(bytes);
  } catch (error) {
    if (GroupError.is(error)) return undefined;
    throw error;
  }
}

/** Whether `account` is a member of the group in the stored, verified chain. */
export async function isVerifiedMember(
  tx: Pick<DeviceStoreView, 'groups'>,
  groupId: GroupId,
  account: string,
): Promise<boolean> {
  const head = await tx.groups.getHead(groupId);
  if (head === undefined) return false;
  return head.change.members.some((m) => m.account === account);
}

/** Stores a member device's sender key (see the module comment). */
export async function acceptDistribution(
  ctx: ProtocolContext,
  tx: DeviceStoreView,
  sender: ProtocolAddress,
  value: SenderKeyDistribution,
): Promise<GroupReceiveResult> {
  const groupId = groupIdOf(value.groupId);
  if (groupId === undefined) return { kind: 'failed', code: 'invalid-content' };
  let message: SenderKeyDistributionMessage;
  try {
    message = SenderKeyDistributionMessage.deserialize(value.distribution);
  } catch (error) {
    if (ProtocolError.is(error)) return { kind: 'failed', code: error.code };
    throw error;
  }
  if (message.distributionId !== groupId) return { kind: 'failed', code: 'invalid-content' };
  await processSenderKeyDistributionMessage(ctx, tx.senderKeys, sender, value.distribution);
  return { kind: 'key', groupId };
}

/** Decrypts and stores one SENDER_KEY envelope (see the module comment). */
export async function receiveGroupMessage(
  ctx: ProtocolContext,
  tx: DeviceStoreView,
  envelope: Envelope,
  sender: ProtocolAddress,
  self: { readonly account: string },
  rules: ChatRules = DEFAULT_CHAT_RULES,
): Promise<GroupReceiveResult> {
  const groupId = groupIdOf(envelope.groupId);
  if (groupId === undefined) return { kind: 'failed', code: 'invalid-message' };
  if (!(await isVerifiedMember(tx, groupId, envelope.source))) {
    return { kind: 'refused', groupId, reason: 'not-a-verified-member' };
  }
  let padded: Uint8Array;
  try {
    padded = await groupDecrypt(ctx, tx.senderKeys, sender, envelope.content);
  } catch (error) {
    if (ProtocolError.is(error, 'duplicate-message')) return { kind: 'nothing' };
    // A lost distribution, or a chain this device never got: only the sender
    // can help, by re-sending key and message pairwise (group-aware retry).
    if (ProtocolError.is(error)) {
      return { kind: 'failed', code: error.code, retryGroupId: envelope.groupId };
    }
    throw error;
  }
  let body;
  try {
    body = decodeContent(padded).body;
  } catch (error) {
    if (ClientError.is(error)) return { kind: 'failed', code: error.code };
    throw error;
  }
  if (body.case === 'typingMessage') {
    // Only ever meaningful live (one that came queued is dropped), and
    // only for this group, like a chat message below.
    if (
      !envelope.ephemeral ||
      groupIdOf(body.value.groupId) !== groupId ||
      !(await typingEnabled(tx.settings))
    ) {
      return { kind: 'nothing' };
    }
    const event = groupTypingEvent(
      body.value,
      groupId,
      { account: sender.name, deviceId: sender.deviceId },
      ctx.clock.now(),
    );
    return event === undefined ? { kind: 'nothing' } : { kind: 'typing', event };
  }
  // Only chat messages travel under a sender key, and only for this group:
  // a member cannot replay its ciphertext into another group's chat.
  if (body.case !== 'dataMessage' || groupIdOf(body.value.groupId) !== groupId) {
    return { kind: 'failed', code: 'invalid-content' };
  }
  return storeGroupMessage(ctx, tx, groupId, body.value, sender, self, rules);
}

/**
 * A group message re-sent pairwise (the sender's answer to a group retry
 * request): the same membership rule as for SENDER_KEY envelopes, and the
 * same message id, so a member that gets both stores it once.
 */
export async function receivePairwiseGroupMessage(
  ctx: ProtocolContext,
  tx: DeviceStoreView,
  data: DataMessage,
  sender: ProtocolAddress,
  self: { readonly account: string },
  rules: ChatRules = DEFAULT_CHAT_RULES,
): Promise<GroupReceiveResult> {
  const groupId = groupIdOf(data.groupId);
  if (groupId === undefined) return { kind: 'failed', code: 'invalid-content' };
  if (!(await isVerifiedMember(tx, groupId, sender.name))) {
    return { kind: 'refused', groupId, reason: 'not-a-verified-member' };
  }
  return storeGroupMessage(ctx, tx, groupId, data, sender, self, rules);
}

/**
 * Stores a decrypted group chat message once per message id, or applies the
 * chat event it carries (chat/chat-apply.ts).
 */
async function storeGroupMessage(
  ctx: ProtocolContext,
  tx: DeviceStoreView,
  groupId: GroupId,
  data: DataMessage,
  sender: ProtocolAddress,
  self: { readonly account: string },
  rules: ChatRules,
): Promise<GroupReceiveResult> {
  const origin = {
    chat: groupId,
    sender: sender.name,
    senderDevice: sender.deviceId,
    outgoing: sender.name === self.account,
  };
  const updates = await applyChatData(tx, origin, data, { now: ctx.clock.now(), rules });
  return { kind: 'chat', updates, groupId };
}
