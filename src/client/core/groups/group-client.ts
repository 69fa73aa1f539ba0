/**
 * The group facade `QuintetClient.groups` exposes: membership changes
 * (group-membership.ts), sends (group-sender.ts), group receipts and the
 * reactions to pushes — `GroupChanged` (fetch and verify the chain) and a
 * member's removed device (rotate the own sender key).
 *
 * Sends, changes and rotations of one group run one at a time on the
 * group's queue, so a rotation never interleaves with a send that is
 * distributing the old key.
 */
import { protocolAddress } from '../../../protocol/address.js';
import type { ProtocolContext } from '../../../protocol/context.js';
import type { Attachment } from '../attachments/pointer.js';
import {
  ReceiptMessage_Type,
  type Content,
  type TypingMessage_Action,
} from '../../../gen/quintet/v1/content_pb.js';
import { createSenderKeyDistributionMessage } from '../../../protocol/group-cipher.js';
import type { Envelope } from '../../../gen/quintet/v1/transport_pb.js';
import { toHex } from '../bytes.js';
import type { DeviceDirectory } from '../devices/device-directory.js';
import { errorCode, type ClientEvent } from '../events.js';
import { KeyedQueue } from '../keyed-queue.js';
import type { Outbox } from '../outbox.js';
import type { ServerApi } from '../server-api.js';
import type { DeviceStore } from '../store/device-store.js';
import type { Transport } from '../transport.js';
import { GroupApi } from './group-api.js';
import { groupIdFromBytes, groupIdToBytes, parseGroupId, type GroupId } from './group-id.js';
import { GroupMembership, type GroupSelf, type GroupView } from './group-membership.js';
import { isVerifiedMember } from './group-receive.js';
import { GroupSender, type GroupSendOutcome } from './group-sender.js';
import { sendGroupTyping, type GroupTypingDeps } from './group-typing.js';
import type { ChatDataFields } from '../chat/chat-fields.js';
import type { ChatRules } from '../chat/chat-rules.js';

/** A group as listed to the user. */
export interface GroupSummary {
  readonly groupId: GroupId;
  readonly name: string;
  readonly version: number;
  /** Verified members with their admin flag. */
  readonly members: ReadonlyArray<{ readonly account: string; readonly admin: boolean }>;
}

/** Per-device receipt state of one outgoing group message. */
export interface GroupReceiptStatus {
  /** Devices (`account.device`) the message went to. */
  readonly devices: readonly string[];
  readonly delivered: readonly string[];
  readonly read: readonly string[];
  readonly deliveredToAll: boolean;
  readonly readByAll: boolean;
}

/** What the group client needs from the running client. */
export interface GroupClientDeps {
  readonly ctx: ProtocolContext;
  readonly store: DeviceStore;
  readonly transport: Transport;
  readonly api: ServerApi;
  /** The per-address session queue shared with the receiver. */
  readonly sessionQueue: KeyedQueue;
  readonly directory: DeviceDirectory;
  readonly outbox: Outbox;
  readonly emit: (event: ClientEvent) => void;
  readonly self: GroupSelf;
  /** Windows of chat events, for events that waited for a sent message (chat/). */
  readonly chatRules?: ChatRules;
}

/** Groups for one running client. */
export class GroupClient {
  readonly #deps: GroupClientDeps;
  readonly #membership: GroupMembership;
  readonly #sender: GroupSender;
  readonly #typing: GroupTypingDeps;
  /** One queue per group: sends, changes and rotations. */
  readonly #groupQueue = new KeyedQueue();

  constructor(deps: GroupClientDeps) {
    this.#deps = deps;
    const api = new GroupApi(deps.transport, deps.api.sends);
    this.#membership = new GroupMembership(
      deps.ctx,
      deps.store,
      api,
      deps.directory,
      deps.emit,
      deps.self,
    );
    this.#sender = new GroupSender(
      deps.ctx,
      deps.store,
      api,
      deps.api,
      deps.sessionQueue,
      deps.directory,
      this.#membership,
      deps.emit,
      deps.self,
      deps.chatRules,
    );
    this.#typing = {
      ctx: deps.ctx,
      store: deps.store,
      api,
      queue: deps.sessionQueue,
      membership: this.#membership,
      sender: this.#sender,
      self: deps.self,
    };
  }

  /** Creates a group of this account (admin) and `accounts`; returns its state. */
  async create(name: string, accounts: readonly string[]): Promise<GroupView> {
    return this.#membership.create(name, accounts);
  }

  /** Adds `account` (admins only). */
  async add(groupId: GroupId, account: string): Promise<GroupView> {
    return this.#groupQueue.run(groupId, () => this.#membership.add(groupId, account));
  }

  /** Removes `account` (admins only); this device's sender key is rotated. */
  async remove(groupId: GroupId, account: string): Promise<GroupView> {
    return this.#groupQueue.run(groupId, () => this.#membership.remove(groupId, account));
  }

  /** Leaves the group. */
  async leave(groupId: GroupId): Promise<GroupView> {
    return this.#groupQueue.run(groupId, () => this.#membership.leave(groupId));
  }

  /**
   * Sends a typing indicator to the connected member devices that hold this
   * device's sender key (group-typing.ts); resolves whether it was posted.
   */
  async sendTyping(
    groupId: GroupId,
    action: TypingMessage_Action,
    timestamp: number,
  ): Promise<boolean> {
    return this.#groupQueue.run(groupId, () =>
      sendGroupTyping(this.#typing, groupId, action, timestamp),
    );
  }

  /** Sends a text message to every verified member device. */
  async send(groupId: GroupId, text: string, attachment?: Attachment): Promise<GroupSendOutcome> {
    const timestamp = this.#deps.outbox.nextTimestamp();
    return this.#groupQueue.run(groupId, () =>
      this.#sender.send(groupId, text, timestamp, attachment),
    );
  }

  /**
   * Sends a data message with chat-state fields (a reply, a reaction, an
   * edit, …; chat/chat-sender.ts) to every verified member device.
   */
  async sendChat(
    groupId: GroupId,
    text: string,
    fields: ChatDataFields,
    attachment?: Attachment,
  ): Promise<GroupSendOutcome> {
    const timestamp = this.#deps.outbox.nextTimestamp();
    return this.#groupQueue.run(groupId, () =>
      this.#sender.send(groupId, text, timestamp, attachment, fields),
    );
  }

  /**
   * Group-aware retry, sender side (retry.ts): `account`'s device `deviceId`
   * could not decrypt the group message `content` sent at `timestamp`.
   * Re-sends this device's current sender key distribution and the message
   * over the pairwise sessions with `account` — only to a verified member's
   * verified device (false otherwise, nothing sent): the request itself is
   * unauthenticated plaintext, and the message must not reach a non-member.
   */
  async resend(
    groupId: GroupId,
    account: string,
    deviceId: number,
    content: Content,
    timestamp: number,
  ): Promise<boolean> {
    return this.#groupQueue.run(groupId, async () => {
      const { ctx, store, directory, outbox, self } = this.#deps;
      const view = await this.#membership.current(groupId);
      if (!view.members.has(account) || !view.members.has(self.account)) return false;
      if (!(await directory.devices(account)).accepted.has(deviceId)) return false;
      const selfAddress = protocolAddress(self.account, self.deviceId);
      // Only an existing chain is re-sent: creating one here would skip the
      // holder tracking, and after a rotation the next send distributes the
      // new chain to everyone anyway.
      if ((await store.senderKeys.loadSenderKey(selfAddress, groupId)) !== undefined) {
        const distribution = await createSenderKeyDistributionMessage(
          ctx,
          store.senderKeys,
          selfAddress,
          groupId,
        );
        await outbox.sendContent(account, {
          body: {
            case: 'senderKeyDistribution',
            value: { groupId: groupIdToBytes(groupId), distribution },
          },
        });
      }
      await outbox.sendContent(account, content, timestamp);
      return true;
    });
  }

  /** Fetches and verifies the chain now. */
  async refresh(groupId: GroupId): Promise<GroupView> {
    return this.#groupQueue.run(groupId, () => this.#membership.refresh(groupId));
  }

  /** The groups the server lists for this account, each verified, plus groups known locally. */
  async list(): Promise<GroupSummary[]> {
    const ids = new Set<GroupId>(await this.#deps.store.groups.listGroups());
    for (const bytes of await new GroupApi(this.#deps.transport).listGroups())
      ids.add(groupIdFromBytes(bytes));
    const out: GroupSummary[] = [];
    for (const groupId of [...ids].sort()) {
      let state;
      try {
        state = await this.refresh(groupId);
      } catch (error) {
        // A group this account left (or whose chain does not verify) is
        // shown as stored; the failure is reported, not hidden.
        this.#deps.emit({
          type: 'error',
          code: errorCode(error),
          message: 'a group could not be refreshed',
        });
        state = await this.#membership.stored(groupId);
      }
      if (state === undefined) continue;
      out.push({
        groupId,
        name: state.name,
        version: state.version,
        members: [...state.members].map(([account, admin]) => ({ account, admin })),
      });
    }
    return out;
  }

  /** Push: the group changed on the server. */
  onGroupChanged(groupIdBytes: Uint8Array): Promise<void> {
    const groupId = groupIdFromBytes(groupIdBytes);
    this.#membership.invalidate(groupId);
    return this.#groupQueue.run(groupId, async () => {
      await this.#membership.refresh(groupId);
    });
  }

  /** At start: catch up with changes made while this device was offline. */
  async syncAll(): Promise<void> {
    for (const bytes of await new GroupApi(this.#deps.transport).listGroups()) {
      await this.onGroupChanged(bytes);
    }
  }

  /**
   * A device of `account` was removed: every group with that account drops
   * this device's sender key, so the removed device cannot read on.
   */
  async onDevicesRemoved(account: string): Promise<void> {
    const self = protocolAddress(this.#deps.self.account, this.#deps.self.deviceId);
    for (const groupId of await this.#deps.store.groups.listGroups()) {
      await this.#groupQueue.run(groupId, async () => {
        if (!(await isVerifiedMember(this.#deps.store, groupId, account))) return;
        await this.#deps.store.transaction(async (tx) => {
          await tx.senderKeys.deleteSenderKey(self, groupId);
          await tx.groups.clearKeyHolders(groupId);
        });
      });
    }
  }

  /**
   * Receiver hook, before its transaction: a group message from an account
   * the stored chain does not list makes this device fetch the chain (the
   * sender may have been added by a change not seen yet).
   */
  async prepareEnvelope(envelope: Envelope): Promise<void> {
    if (envelope.groupId.length !== 16) return;
    const groupId = groupIdFromBytes(envelope.groupId);
    if (await isVerifiedMember(this.#deps.store, groupId, envelope.source)) return;
    try {
      await this.#membership.refresh(groupId);
    } catch (error) {
      // The message is then refused as from a non-member; say why.
      this.#deps.emit({
        type: 'error',
        code: errorCode(error),
        message: 'a group could not be verified',
      });
    }
  }

  /** Delivery receipt for group messages, to every device of the sender account. */
  async sendDelivery(
    from: string,
    messageIds: readonly Uint8Array[],
    groupId: string,
  ): Promise<void> {
    await this.#sendReceipt(from, ReceiptMessage_Type.DELIVERY, messageIds, groupId);
  }

  /**
   * Marks messages of a group read: read marks here, read receipts to each
   * message's sender (naming the group), and a read sync to own devices.
   */
  async markRead(groupId: GroupId, messageIds: readonly Uint8Array[]): Promise<void> {
    const store = this.#deps.store;
    const now = this.#deps.outbox.nextTimestamp();
    const bySender = new Map<string, Uint8Array[]>();
    for (const id of messageIds) {
      const message = await store.messages.get(groupId, id);
      if (message === undefined || message.outgoing) continue;
      bySender.set(message.sender, [...(bySender.get(message.sender) ?? []), id]);
    }
    await store.transaction(async (tx) => {
      for (const id of messageIds) await tx.read.markRead(groupId, id, now);
    });
    for (const [sender, ids] of bySender)
      await this.#sendReceipt(sender, ReceiptMessage_Type.READ, ids, groupId);
    await this.#deps.outbox.sendContent(this.#deps.self.account, {
      body: {
        case: 'syncMessage',
        value: {
          body: {
            case: 'read',
            value: { chat: groupId, messageIds: [...messageIds], timestamp: BigInt(now) },
          },
        },
      },
    });
  }

  /** Which recipient devices delivered and read an outgoing group message. */
  async receiptStatus(
    groupId: GroupId,
    messageId: Uint8Array,
  ): Promise<GroupReceiptStatus | undefined> {
    const store = this.#deps.store;
    const message = await store.messages.get(groupId, messageId);
    const devices = await store.groups.getSentTo(groupId, toHex(messageId));
    if (message === undefined || devices === undefined) return undefined;
    const delivered = devices.filter((d) => message.receipts[d] !== undefined);
    const read = devices.filter((d) => message.receipts[d] === 'read');
    return {
      devices,
      delivered,
      read,
      deliveredToAll: delivered.length === devices.length,
      readByAll: read.length === devices.length,
    };
  }

  async #sendReceipt(
    account: string,
    type: ReceiptMessage_Type,
    messageIds: readonly Uint8Array[],
    groupId: string,
  ): Promise<void> {
    if (messageIds.length === 0) return;
    const timestamp = this.#deps.outbox.nextTimestamp();
    await this.#deps.outbox.sendContent(
      account,
      {
        body: {
          case: 'receiptMessage',
          value: {
            type,
            messageIds: [...messageIds],
            timestamp: BigInt(timestamp),
            groupId: groupIdToBytes(parseGroupId(groupId)),
          },
        },
      },
      timestamp,
    );
  }
}
