/**
 * What a device persists about groups, over the same key-value backend (and
 * the same transactions) as its sessions and messages:
 *
 * - `groups`: per group, the newest VERIFIED link of its membership chain,
 *   in its wire format (`SignedGroupChange` bytes). The state — name,
 *   members, admins, version, head hash — is re-derived from it, so there is
 *   one persisted format for links, and it is the signed one.
 * - `group-key-holders`: per group, which member devices hold this device's
 *   CURRENT sender key (`group/account/device` → registration id). A device
 *   not listed gets a distribution message before the next group message; a
 *   listed device that is no longer a current member device means the key
 *   must be rotated (see sender-key-tracker.ts).
 * - `group-sent-to`: per outgoing group message, the devices it went to, so
 *   "delivered to all" / "read by all" can be computed from receipts.
 * - `sender-keys`: Sender Keys records (own chains and other members'),
 *   per sender address and distribution id (= group id).
 */
import { SenderKeyRecord } from '../../../protocol/sender-key-record.js';
import type { ProtocolAddress } from '../../../protocol/address.js';
import type { SenderKeyStore } from '../../../protocol/stores/sender-key-store.js';
import { utf8 } from '../bytes.js';
import { ClientError } from '../errors.js';
import type { KeyValueView } from '../store/kv.js';
import type { GroupId } from './group-id.js';
import { parseSignedChange, type GroupLink } from './group-change.js';

/** Table names; part of the persisted format. */
export const GROUP_TABLES = {
  groups: 'groups',
  keyHolders: 'group-key-holders',
  sentTo: 'group-sent-to',
  senderKeys: 'sender-keys',
} as const;

/** One member device that holds this device's current sender key. */
export interface KeyHolder {
  readonly account: string;
  readonly deviceId: number;
  /** The install the key was handed to; a reinstall does not hold it. */
  readonly registrationId: number;
}

/** Per-group state of this device. */
export interface GroupStore {
  /** The newest verified link; undefined for an unknown group. */
  getHead(groupId: GroupId): Promise<GroupLink | undefined>;
  putHead(groupId: GroupId, head: GroupLink): Promise<void>;
  /** Every group this device knows, as ids. */
  listGroups(): Promise<GroupId[]>;
  /** Devices holding this device's current sender key, by `account.device`. */
  keyHolders(groupId: GroupId): Promise<Map<string, KeyHolder>>;
  addKeyHolders(groupId: GroupId, holders: readonly KeyHolder[]): Promise<void>;
  /** Forgets every holder (part of a rotation). */
  clearKeyHolders(groupId: GroupId): Promise<void>;
  /** Remembers the devices (`account.device`) an outgoing group message went to. */
  putSentTo(groupId: GroupId, messageIdHex: string, devices: readonly string[]): Promise<void>;
  /** The devices an outgoing group message went to; undefined when unknown. */
  getSentTo(groupId: GroupId, messageIdHex: string): Promise<string[] | undefined>;
}

/** A sender key store that can also forget a record (rotation). */
export interface DeletableSenderKeyStore extends SenderKeyStore {
  deleteSenderKey(sender: ProtocolAddress, distributionId: string): Promise<void>;
}

/** `account.device`: the key of a device in holder maps and receipts. */
export function deviceKey(account: string, deviceId: number): string {
  return `${account}.${deviceId}`;
}

function padded(id: number): string {
  return id.toString().padStart(10, '0');
}

/** The group store over a view. */
export function groupStore(view: KeyValueView): GroupStore {
  return {
    async getHead(groupId) {
      const bytes = await view.get(GROUP_TABLES.groups, groupId);
      if (bytes === undefined) return undefined;
      try {
        return parseSignedChange(bytes);
      } catch (cause) {
        throw new ClientError('invalid-record', 'stored group head does not parse', { cause });
      }
    },
    putHead: (groupId, head) => view.put(GROUP_TABLES.groups, groupId, head.bytes),
    async listGroups() {
      const entries = await view.list(GROUP_TABLES.groups, '');
      return entries.map((entry) => entry.key as GroupId);
    },
    async keyHolders(groupId) {
      const prefix = `${groupId}/`;
      const holders = new Map<string, KeyHolder>();
      for (const entry of await view.list(GROUP_TABLES.keyHolders, prefix)) {
        const rest = entry.key.slice(prefix.length);
        const slash = rest.lastIndexOf('/');
        const account = rest.slice(0, slash);
        const deviceId = Number(rest.slice(slash + 1));
        if (slash < 1 || !Number.isInteger(deviceId) || entry.value.length !== 4) {
          throw new ClientError('invalid-record', 'stored key holder does not parse');
        }
        const view4 = new DataView(entry.value.buffer, entry.value.byteOffset, 4);
        const registrationId = view4.getUint32(0, false);
        holders.set(deviceKey(account, deviceId), { account, deviceId, registrationId });
      }
      return holders;
    },
    async addKeyHolders(groupId, holders) {
      for (const holder of holders) {
        const value = new Uint8Array(4);
        new DataView(value.buffer).setUint32(0, holder.registrationId, false);
        const key = `${groupId}/${holder.account}/${padded(holder.deviceId)}`;
        await view.put(GROUP_TABLES.keyHolders, key, value);
      }
    },
    async putSentTo(groupId, messageIdHex, devices) {
      const text = devices.join('\n');
      await view.put(GROUP_TABLES.sentTo, `${groupId}/${messageIdHex}`, utf8(text));
    },
    async getSentTo(groupId, messageIdHex) {
      const bytes = await view.get(GROUP_TABLES.sentTo, `${groupId}/${messageIdHex}`);
      if (bytes === undefined) return undefined;
      const text = new TextDecoder().decode(bytes);
      return text === '' ? [] : text.split('\n');
    },
    async clearKeyHolders(groupId) {
      for (const entry of await view.list(GROUP_TABLES.keyHolders, `${groupId}/`)) {
        await view.delete(GROUP_TABLES.keyHolders, entry.key);
      }
    },
  };
}

// "name/device/distribution": '/' never occurs in account names.
function senderKeyKey(sender: ProtocolAddress, distributionId: string): string {
  return `${sender.name}/${padded(sender.deviceId)}/${distributionId}`;
}

/**
 * Sender Keys records over a view. Every load parses stored bytes, so it is
 * an independent copy — what lets a failed group decryption leave the store
 * untouched (the SenderKeyStore contract).
 */
export function senderKeyStore(view: KeyValueView): DeletableSenderKeyStore {
  return {
    async storeSenderKey(sender, distributionId, record) {
      await view.put(
        GROUP_TABLES.senderKeys,
        senderKeyKey(sender, distributionId),
        record.serialize(),
      );
    },
    async loadSenderKey(sender, distributionId) {
      const bytes = await view.get(GROUP_TABLES.senderKeys, senderKeyKey(sender, distributionId));
      return bytes === undefined ? undefined : SenderKeyRecord.deserialize(bytes);
    },
    async deleteSenderKey(sender, distributionId) {
      await view.delete(GROUP_TABLES.senderKeys, senderKeyKey(sender, distributionId));
    },
  };
}
