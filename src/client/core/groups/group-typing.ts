/**
 * Typing indicators in a group (typing.ts; docs/protocol.md "Typing
 * indicators"): a `TypingMessage` naming the group, encrypted once under
 * this device's current sender key and posted as an ephemeral group send,
 * which the server pushes to the member devices connected right now and
 * never queues. The device set is the one a group message goes to: every
 * verified device of every member, this account's other devices included.
 *
 * A sender key must arrive durably, before anything under it, so an
 * indicator never carries distributions: it goes only to devices that
 * already hold the current key. Every other current device (one added
 * since this device's last message, or one ADV refuses) is listed as
 * refused and gets nothing until the next message brings the key. When the
 * key must be rotated (a holder device is gone — a removed member, a
 * removed companion), nothing is sent: the rotation belongs to the next
 * message, which distributes the new key durably.
 *
 * Nothing is kept: no sent record (a late re-send would be wrong), no
 * receipt bookkeeping, no chat state.
 */
import { protocolAddress } from '../../../protocol/address.js';
import type { ProtocolContext } from '../../../protocol/context.js';
import { groupEncrypt } from '../../../protocol/group-cipher.js';
import type { TypingMessage_Action } from '../../../gen/quintet/v1/content_pb.js';
import { encodeContent } from '../content.js';
import type { KeyedQueue } from '../keyed-queue.js';
import type { DeviceStore } from '../store/device-store.js';
import { GroupError } from './errors.js';
import type { GroupApi } from './group-api.js';
import { groupIdToBytes, type GroupId } from './group-id.js';
import type { GroupMembership, GroupSelf } from './group-membership.js';
import { groupRecipients, type GroupSender } from './group-sender.js';
import { deviceKey } from './group-store.js';
import { planSenderKey } from './sender-key-tracker.js';

/** Attempts of one indicator: a device-set dispute is repaired and tried once more. */
const MAX_ATTEMPTS = 2;

export interface GroupTypingDeps {
  readonly ctx: ProtocolContext;
  readonly store: DeviceStore;
  readonly api: GroupApi;
  /** The per-address session queue (group encryption runs on `group:<id>:encrypt`). */
  readonly queue: KeyedQueue;
  readonly membership: GroupMembership;
  readonly sender: GroupSender;
  readonly self: GroupSelf;
}

/**
 * Sends one typing indicator to the group's current member devices that
 * hold this device's sender key and are connected. Resolves whether it was
 * posted (false: nobody can read it yet — no device holds the current key,
 * or the key is due for rotation). Not a member: `GroupError('not-a-member')`.
 * Callers run it on the group's queue, so no send rotates the key meanwhile.
 */
export async function sendGroupTyping(
  deps: GroupTypingDeps,
  groupId: GroupId,
  action: TypingMessage_Action,
  timestamp: number,
): Promise<boolean> {
  const { ctx, store, self } = deps;
  const padded = encodeContent({
    body: {
      case: 'typingMessage',
      value: { action, timestamp: BigInt(timestamp), groupId: groupIdToBytes(groupId) },
    },
  });
  const selfAddress = protocolAddress(self.account, self.deviceId);
  for (let attempt = 1; ; attempt++) {
    const group = await deps.membership.current(groupId);
    if (!group.members.has(self.account)) {
      throw new GroupError('not-a-member', 'this account is not a member of the group');
    }
    const { devices, refused } = await deps.sender.recipients(
      groupId,
      [...group.members.keys()],
      group.unverifiedMembers,
    );
    const plan = planSenderKey(devices, await store.groups.keyHolders(groupId));
    if (plan.rotate) return false;
    const lacking = new Set(plan.needKey.map((d) => deviceKey(d.account, d.deviceId)));
    const targets = devices.filter((d) => !lacking.has(deviceKey(d.account, d.deviceId)));
    if (targets.length === 0) return false;
    const ciphertext = await deps.queue.run(`group:${groupId}:encrypt`, () =>
      groupEncrypt(ctx, store.senderKeys, selfAddress, groupId, padded),
    );
    try {
      await deps.api.sendGroupMessage({
        groupId: groupIdToBytes(groupId),
        ciphertext,
        recipients: groupRecipients(targets, true),
        distributions: [],
        refused: groupRecipients(
          [...refused.map((r) => ({ ...r, registrationId: 0 })), ...plan.needKey],
          false,
        ),
        timestamp,
        ephemeral: true,
      });
      return true;
    } catch (error) {
      if (attempt >= MAX_ATTEMPTS || !(await deps.sender.repair(groupId, group.members, error))) {
        throw error;
      }
    }
  }
}
