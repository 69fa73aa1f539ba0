/**
 * Sending one group message (Sender Keys, server fanout):
 *
 *  1. take the VERIFIED membership (membership-chain.ts) and, per member
 *     account, its ADV-verified devices (DeviceDirectory) — the recipients;
 *  2. plan the sender key (sender-key-tracker.ts): rotate if a device that
 *     holds the current key is gone, and list devices that lack it;
 *  3. encrypt a `SenderKeyDistribution` for each of those over its pairwise
 *     session (distribution.ts);
 *  4. encrypt the padded `Content` ONCE with `groupEncrypt`;
 *  5. one `SendGroupMessage` with the ciphertext, the recipients, the
 *     distributions and the refused devices (chunked under the frame limit);
 *  6. on `mismatched-devices` / `stale-devices` refresh what the server
 *     disputes and start again from 1.
 *
 * Refused — listed so the server's device-set check passes, yet sent
 * nothing: devices failing ADV, and every device of an account the server
 * lists as a member although no verified change added it. That is what
 * stops a server from adding itself a reader.
 *
 * Building is O(devices): one directory lookup per member account (cached
 * per run), one holder map, set lookups. Sends of one group run one at a
 * time (they share the sender chain).
 */
import { addressKey, protocolAddress, type ProtocolAddress } from '../../../protocol/address.js';
import type { ProtocolContext } from '../../../protocol/context.js';
import { attachmentToPointer, type Attachment } from '../attachments/pointer.js';
import {
  createSenderKeyDistributionMessage,
  groupEncrypt,
} from '../../../protocol/group-cipher.js';
import { GROUP_SEND_CHUNK_BYTES } from '../../../wire/limits.js';
import { toHex } from '../bytes.js';
import {
  encodeContent,
  MESSAGE_ID_LENGTH,
  serializeContent,
  type ContentInit,
} from '../content.js';
import type { DeviceDirectory } from '../devices/device-directory.js';
import { ClientError } from '../errors.js';
import type { ClientEvent } from '../events.js';
import type { KeyedQueue } from '../keyed-queue.js';
import type { ServerApi } from '../server-api.js';
import type { DeviceStore } from '../store/device-store.js';
import type { ChatDataFields } from '../chat/chat-fields.js';
import { applyChatData, type ChatUpdate } from '../chat/chat-apply.js';
import { DEFAULT_CHAT_RULES, type ChatRules } from '../chat/chat-rules.js';
import { create } from '@bufbuild/protobuf';
import { DataMessageSchema } from '../../../gen/quintet/v1/content_pb.js';
import type { StoredMessage } from '../store/records.js';
import { distributeToAccount, type AccountDistribution } from './distribution.js';
import { GroupError } from './errors.js';
import { GroupRequestError, type GroupApi, type GroupRecipientInit } from './group-api.js';
import { groupIdToBytes, type GroupId } from './group-id.js';
import type { GroupMembership, GroupSelf } from './group-membership.js';
import { deviceKey } from './group-store.js';
import { planSenderKey, type MemberDevice } from './sender-key-tracker.js';

/** How many times a send is rebuilt after the server disputes its device set. */
const MAX_ATTEMPTS = 4;
/** Member accounts resolved concurrently. */
const CONCURRENCY = 16;

/** A device that got nothing, and why. */
export interface GroupRefusal {
  readonly account: string;
  readonly deviceId: number;
  readonly reason: string;
}

/** The result of a group send. */
export interface GroupSendOutcome {
  readonly message: StoredMessage;
  /** Devices the ciphertext was queued for. */
  readonly recipients: number;
  /** Devices that got the sender key with this send. */
  readonly distributed: number;
  /** Whether this send started a new sender chain. */
  readonly rotated: boolean;
  readonly refused: readonly GroupRefusal[];
  readonly queuedOnly: boolean;
  /** What applying it here changed (chat/chat-apply.ts), for the sender's own events. */
  readonly updates: readonly ChatUpdate[];
}

/** Runs `fn` over `items` with at most `limit` in flight, keeping order. */
async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      const item = items[i];
      if (i >= items.length || item === undefined) return;
      out[i] = await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** The recipient set of one attempt. */
interface Recipients {
  readonly devices: MemberDevice[];
  readonly refused: GroupRefusal[];
}

/** Sends group messages. */
export class GroupSender {
  /** Devices of accounts the server counts as members but the chain does not (per group). */
  readonly #serverOnly = new Map<GroupId, Map<string, Set<number>>>();

  constructor(
    private readonly ctx: ProtocolContext,
    private readonly store: DeviceStore,
    private readonly api: GroupApi,
    private readonly serverApi: ServerApi,
    private readonly queue: KeyedQueue,
    private readonly directory: DeviceDirectory,
    private readonly membership: GroupMembership,
    private readonly emit: (event: ClientEvent) => void,
    private readonly self: GroupSelf,
    private readonly chatRules: ChatRules = DEFAULT_CHAT_RULES,
  ) {}

  /** Sends `text` to every verified member device of the group. */
  async send(
    groupId: GroupId,
    text: string,
    timestamp: number,
    attachment?: Attachment,
    fields: ChatDataFields = {},
  ): Promise<GroupSendOutcome> {
    const id = this.ctx.random(MESSAGE_ID_LENGTH);
    // Every message carries the group's disappearing timer (chat/).
    const timer = (await this.store.chat.timer(groupId))?.seconds ?? 0;
    const data = create(DataMessageSchema, {
      messageId: id,
      text,
      timestamp: BigInt(timestamp),
      groupId: groupIdToBytes(groupId),
      ...(attachment !== undefined ? { attachment: attachmentToPointer(attachment) } : {}),
      ...(timer > 0 ? { expireTimer: timer } : {}),
      ...fields,
    });
    const content: ContentInit = { body: { case: 'dataMessage', value: data } };
    const padded = encodeContent(content);
    // Kept for group-aware retries (retry.ts), before sending: a member's
    // request can arrive before the send returns.
    await this.store.sent.put({
      destination: groupId,
      timestamp,
      content: serializeContent(content),
      retries: {},
    });
    const selfAddress = protocolAddress(this.self.account, this.self.deviceId);
    let lastError: unknown;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const group = await this.membership.current(groupId);
      if (!group.members.has(this.self.account)) {
        throw new GroupError('not-a-member', 'this account is not a member of the group');
      }
      const { devices, refused } = await this.recipients(
        groupId,
        [...group.members.keys()],
        group.unverifiedMembers,
      );
      const plan = planSenderKey(devices, await this.store.groups.keyHolders(groupId));
      if (plan.rotate) {
        await this.store.transaction(async (tx) => {
          await tx.senderKeys.deleteSenderKey(selfAddress, groupId);
          await tx.groups.clearKeyHolders(groupId);
        });
      }
      const distribution = await createSenderKeyDistributionMessage(
        this.ctx,
        this.store.senderKeys,
        selfAddress,
        groupId,
      );
      const byAccount = new Map<string, MemberDevice[]>();
      for (const device of plan.needKey) {
        const list = byAccount.get(device.account) ?? [];
        list.push(device);
        byAccount.set(device.account, list);
      }
      const env = {
        ctx: this.ctx,
        store: this.store,
        api: this.serverApi,
        queue: this.queue,
        postQuantum: this.self.postQuantum,
        senderDeviceIdentity: this.self.deviceId === 1 ? undefined : this.self.signedDeviceIdentity,
      };
      const distributions = await mapLimit([...byAccount], CONCURRENCY, ([account, list]) =>
        distributeToAccount(env, groupId, account, list, distribution, timestamp),
      );
      // A device whose pairwise key could not be trusted (or whose session
      // would be downgraded) gets neither key nor message.
      const unreachable = new Set<string>();
      for (const d of distributions) {
        for (const device of d.refused) {
          unreachable.add(deviceKey(device.account, device.deviceId));
          refused.push({
            account: device.account,
            deviceId: device.deviceId,
            reason: device.reason,
          });
          this.emit({
            type: 'device-refused',
            account: device.account,
            deviceId: device.deviceId,
            reason: device.reason,
          });
        }
      }
      const targets = devices.filter((d) => !unreachable.has(deviceKey(d.account, d.deviceId)));
      const ciphertext = await this.queue.run(`group:${groupId}:encrypt`, () =>
        groupEncrypt(this.ctx, this.store.senderKeys, selfAddress, groupId, padded),
      );
      try {
        const queuedOnly = await this.#post(
          groupId,
          ciphertext,
          targets,
          refused,
          distributions,
          timestamp,
        );
        const message: StoredMessage = {
          id,
          chat: groupId,
          sender: this.self.account,
          senderDevice: this.self.deviceId,
          text,
          sentAt: timestamp,
          receivedAt: 0,
          outgoing: true,
          receipts: {},
          ...(attachment !== undefined ? { attachment } : {}),
        };
        const origin = {
          chat: groupId,
          sender: this.self.account,
          senderDevice: this.self.deviceId,
          outgoing: true,
        };
        const updates = await this.store.transaction(async (tx) => {
          // Applied as every member applies it: a new message, or the event
          // (reaction, edit, …) it carries (chat/chat-apply.ts).
          const applied = await applyChatData(tx, origin, data, {
            now: this.ctx.clock.now(),
            rules: this.chatRules,
          });
          // Own devices send no receipts for own messages: not counted.
          await tx.groups.putSentTo(
            groupId,
            toHex(id),
            targets
              .filter((d) => d.account !== this.self.account)
              .map((d) => deviceKey(d.account, d.deviceId)),
          );
          return applied;
        });
        return {
          message: (await this.store.messages.get(groupId, id)) ?? message,
          updates,
          recipients: targets.length,
          distributed: distributions.reduce((n, d) => n + d.delivered.length, 0),
          rotated: plan.rotate,
          refused,
          queuedOnly,
        };
      } catch (error) {
        if (!(await this.repair(groupId, group.members, error))) throw error;
        lastError = error;
      }
    }
    throw new ClientError('device-set-unsettled', 'the group device set kept changing; giving up', {
      cause: lastError,
    });
  }

  /**
   * Verified member devices (minus this one), and the devices that get
   * nothing; also the device set of a group typing indicator (group-typing.ts).
   */
  async recipients(
    groupId: GroupId,
    members: readonly string[],
    unverified: readonly string[],
  ): Promise<Recipients> {
    const views = await mapLimit(members, CONCURRENCY, (account) =>
      this.directory.devices(account),
    );
    const devices: MemberDevice[] = [];
    const refused: GroupRefusal[] = [];
    for (const view of views) {
      const own = view.account === this.self.account;
      for (const device of view.accepted.values()) {
        if (own && device.deviceId === this.self.deviceId) continue;
        devices.push({
          account: view.account,
          deviceId: device.deviceId,
          registrationId: device.registrationId,
        });
      }
      for (const device of view.refused) {
        if (own && device.deviceId === this.self.deviceId) continue;
        refused.push({ account: view.account, deviceId: device.deviceId, reason: device.reason });
      }
    }
    // Members only the server vouches for: every device refused, none sent to.
    const serverOnly = this.#serverOnly.get(groupId) ?? new Map<string, Set<number>>();
    for (const account of unverified) {
      if (serverOnly.has(account)) continue;
      const list = await this.serverApi.getDeviceList(account);
      serverOnly.set(account, new Set(list.devices.map((d) => d.deviceId)));
    }
    this.#serverOnly.set(groupId, serverOnly);
    for (const [account, ids] of serverOnly) {
      if (members.includes(account)) continue;
      for (const deviceId of ids)
        refused.push({ account, deviceId, reason: 'not-a-verified-member' });
    }
    return { devices, refused };
  }

  /** Posts the send, in chunks when the distributions would not fit one frame. */
  async #post(
    groupId: GroupId,
    ciphertext: Uint8Array,
    targets: readonly MemberDevice[],
    refused: readonly GroupRefusal[],
    distributions: readonly AccountDistribution[],
    timestamp: number,
  ): Promise<boolean> {
    const recipients = groupRecipients(targets, true);
    const refusedList = groupRecipients(
      refused.map((r) => ({ ...r, registrationId: 0 })),
      false,
    );
    const chunks: AccountDistribution[][] = [[]];
    let size = 0;
    for (const d of distributions) {
      if (d.delivered.length === 0) continue;
      const current = chunks[chunks.length - 1];
      if (
        current !== undefined &&
        (size + d.bytes <= GROUP_SEND_CHUNK_BYTES || current.length === 0)
      ) {
        current.push(d);
        size += d.bytes;
      } else {
        chunks.push([d]);
        size = d.bytes;
      }
    }
    const groupIdBytes = groupIdToBytes(groupId);
    let queuedOnly = true;
    for (const [i, chunk] of chunks.entries()) {
      const last = i === chunks.length - 1;
      const result = await this.api.sendGroupMessage({
        groupId: groupIdBytes,
        // Earlier chunks carry keys only; the message goes with the last one.
        ciphertext: last ? ciphertext : new Uint8Array(0),
        recipients,
        distributions: chunk.map((d) => d.request),
        refused: refusedList,
        timestamp,
      });
      queuedOnly &&= result.queuedOnly;
      // Accepted by the server: these devices now hold the current key.
      const holders = chunk.flatMap((d) => d.delivered);
      if (holders.length > 0) await this.store.groups.addKeyHolders(groupId, holders);
    }
    return queuedOnly;
  }

  /**
   * Handles a device-set refusal (refreshing what the server disputes for
   * the next attempt); false when `error` is something else.
   */
  async repair(
    groupId: GroupId,
    members: ReadonlyMap<string, boolean>,
    error: unknown,
  ): Promise<boolean> {
    if (!(error instanceof GroupRequestError)) return false;
    if (error.serverCode !== 'mismatched-devices' && error.serverCode !== 'stale-devices')
      return false;
    // The chain may have moved (a member added or removed): fetch it again.
    this.membership.invalidate(groupId);
    const serverOnly = this.#serverOnly.get(groupId) ?? new Map<string, Set<number>>();
    this.#serverOnly.set(groupId, serverOnly);
    for (const mismatch of error.mismatches) {
      if (!members.has(mismatch.account)) {
        // The server counts an account the verified chain does not: refuse
        // its devices (it may not receive anything); forget it if extra.
        if (mismatch.missing.length > 0) {
          const ids = serverOnly.get(mismatch.account) ?? new Set<number>();
          for (const id of mismatch.missing) ids.add(id);
          serverOnly.set(mismatch.account, ids);
        }
        if (mismatch.extra.length > 0) serverOnly.delete(mismatch.account);
        continue;
      }
      for (const deviceId of [...mismatch.extra, ...mismatch.stale]) {
        if (deviceId >= 1) await this.#resetSession(protocolAddress(mismatch.account, deviceId));
      }
      this.directory.invalidate(mismatch.account);
    }
    return true;
  }

  async #resetSession(address: ProtocolAddress): Promise<void> {
    await this.queue.run(addressKey(address), () =>
      this.store.protocol.sessions.deleteSession(address),
    );
  }
}

/** Groups devices per account in wire form. */
export function groupRecipients(
  devices: readonly MemberDevice[],
  withRegistration: boolean,
): GroupRecipientInit[] {
  const byAccount = new Map<string, { deviceIds: number[]; registrationIds: number[] }>();
  for (const device of devices) {
    const entry = byAccount.get(device.account) ?? { deviceIds: [], registrationIds: [] };
    if (entry.deviceIds.includes(device.deviceId)) continue;
    entry.deviceIds.push(device.deviceId);
    if (withRegistration) entry.registrationIds.push(device.registrationId);
    byAccount.set(device.account, entry);
  }
  return [...byAccount].map(([account, e]) => ({ account, ...e }));
}
