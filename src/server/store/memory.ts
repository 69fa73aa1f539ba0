/**
 * The in-memory backend: the reference implementation of the store
 * interfaces for tests and for `--data :memory:`-style throwaway servers.
 * Nothing survives the process. Values are copied in and out so callers
 * cannot mutate stored state through a kept reference.
 */
import {
  StoreError,
  type AccountReset,
  type AccountStore,
  type DeviceRecord,
  type DeviceRemoval,
  type InactiveCompanion,
  type MessageQueueStore,
  type NewDevice,
  type NewEnvelope,
  type QueueBounds,
  type QueuePage,
  type QueuedEnvelope,
  type ServerStore,
  type StoredDeviceList,
  type SubscriberStore,
} from './types.js';
import type { RandomSource } from '../../crypto/provider.js';
import { envelopeGuid } from './envelope-guid.js';
import { MemoryKemPreKeyStore } from './memory-kem-prekeys.js';
import { MemoryPreKeyStore } from './memory-prekeys.js';
import { deviceKey } from './memory-key-maps.js';
import { checkDeviceKeys, NO_DEVICE_KEYS, type CheckedDeviceKeys } from './initial-keys.js';
import { MemoryGroupStore } from './memory-groups.js';
import { QueueSizes } from './queue-sizes.js';

interface AccountEntry {
  nextDeviceId: number;
  readonly devices: Map<number, DeviceRecord>;
  deviceList: StoredDeviceList | undefined;
  readonly removals: Map<number, DeviceRemoval>;
}

function guidKey(guid: Uint8Array): string {
  let out = '';
  for (const byte of guid) out += byte.toString(16).padStart(2, '0');
  return out;
}

function copyDevice(device: DeviceRecord): DeviceRecord {
  return {
    ...device,
    identityKey: device.identityKey.slice(),
    signedDeviceIdentity: new Uint8Array(device.signedDeviceIdentity),
  };
}

function copyList(list: StoredDeviceList): StoredDeviceList {
  // `new Uint8Array` copies even when given a Node Buffer (whose slice is a view).
  return { signedList: new Uint8Array(list.signedList), timestamp: list.timestamp };
}

function copyEnvelope(envelope: QueuedEnvelope): QueuedEnvelope {
  const identity = envelope.sourceDeviceIdentity;
  return {
    ...envelope,
    guid: envelope.guid.slice(),
    content: envelope.content.slice(),
    ...(identity === undefined ? {} : { sourceDeviceIdentity: new Uint8Array(identity) }),
    ...(envelope.groupId === undefined ? {} : { groupId: new Uint8Array(envelope.groupId) }),
  };
}

class Closable {
  closed = false;
  check(): void {
    if (this.closed) throw new StoreError('closed', 'store is closed');
  }
}

/** Writes a new device's keys into the key stores, in the same step as its row. */
type DeviceKeyWriter = (account: string, deviceId: number, keys: CheckedDeviceKeys) => void;

class MemoryAccountStore implements AccountStore {
  private readonly accounts = new Map<string, AccountEntry>();
  constructor(
    private readonly state: Closable,
    private readonly writeKeys: DeviceKeyWriter,
  ) {}

  async createAccount(
    name: string,
    primary: NewDevice,
    list?: StoredDeviceList,
  ): Promise<DeviceRecord> {
    this.state.check();
    if (this.accounts.has(name)) throw new StoreError('account-exists', 'account exists');
    const keys = checkDeviceKeys(primary.keys);
    const entry: AccountEntry = {
      nextDeviceId: 1,
      devices: new Map(),
      deviceList: list === undefined ? undefined : copyList(list),
      removals: new Map(),
    };
    this.accounts.set(name, entry);
    return this.insert(name, entry, entry.nextDeviceId++, primary, keys);
  }

  async addDevice(account: string, device: NewDevice): Promise<DeviceRecord> {
    const entry = this.entry(account);
    const keys = checkDeviceKeys(device.keys);
    return this.insert(account, entry, entry.nextDeviceId++, device, keys);
  }

  private entry(account: string): AccountEntry {
    this.state.check();
    const entry = this.accounts.get(account);
    if (entry === undefined) throw new StoreError('unknown-account', 'no such account');
    return entry;
  }

  private insert(
    account: string,
    entry: AccountEntry,
    deviceId: number,
    device: NewDevice,
    keys: CheckedDeviceKeys,
  ): DeviceRecord {
    const record: DeviceRecord = {
      account,
      deviceId,
      identityKey: device.identityKey.slice(),
      registrationId: device.registrationId,
      name: device.name,
      createdAt: device.createdAt,
      lastSeenAt: device.createdAt,
      keyIndex: device.keyIndex ?? 0,
      signedDeviceIdentity: new Uint8Array(device.signedDeviceIdentity ?? []),
    };
    entry.devices.set(record.deviceId, record);
    this.writeKeys(account, deviceId, keys);
    return copyDevice(record);
  }

  async getDevice(account: string, deviceId: number): Promise<DeviceRecord | undefined> {
    this.state.check();
    const device = this.accounts.get(account)?.devices.get(deviceId);
    return device === undefined ? undefined : copyDevice(device);
  }

  async listDevices(account: string): Promise<readonly DeviceRecord[] | undefined> {
    this.state.check();
    const entry = this.accounts.get(account);
    if (entry === undefined) return undefined;
    return [...entry.devices.values()].sort((a, b) => a.deviceId - b.deviceId).map(copyDevice);
  }

  async touchDevice(account: string, deviceId: number, at: number): Promise<void> {
    this.state.check();
    const entry = this.accounts.get(account);
    const device = entry?.devices.get(deviceId);
    if (entry === undefined || device === undefined) return;
    entry.devices.set(deviceId, { ...device, lastSeenAt: at });
  }

  async reserveDeviceId(account: string): Promise<number> {
    const entry = this.entry(account);
    return entry.nextDeviceId++;
  }

  async addReservedDevice(
    account: string,
    deviceId: number,
    device: NewDevice,
  ): Promise<DeviceRecord> {
    const entry = this.entry(account);
    if (
      deviceId < 2 ||
      deviceId >= entry.nextDeviceId ||
      entry.devices.has(deviceId) ||
      entry.removals.has(deviceId)
    ) {
      throw new StoreError('device-id-unavailable', 'device id was not reserved or is used');
    }
    return this.insert(account, entry, deviceId, device, checkDeviceKeys(device.keys));
  }

  async getDeviceList(account: string): Promise<StoredDeviceList | undefined> {
    this.state.check();
    const list = this.accounts.get(account)?.deviceList;
    return list === undefined ? undefined : copyList(list);
  }

  async setDeviceList(account: string, list: StoredDeviceList): Promise<void> {
    const entry = this.entry(account);
    if (entry.deviceList !== undefined && entry.deviceList.timestamp >= list.timestamp) {
      throw new StoreError('device-list-rollback', 'device list is not newer than the stored one');
    }
    entry.deviceList = copyList(list);
  }

  async removeDevice(account: string, deviceId: number, removal: DeviceRemoval): Promise<boolean> {
    this.state.check();
    const entry = this.accounts.get(account);
    if (entry === undefined || !entry.devices.delete(deviceId)) return false;
    entry.removals.set(deviceId, { ...removal });
    // Its keys go with it: none is left behind for a device that is gone.
    this.writeKeys(account, deviceId, NO_DEVICE_KEYS);
    return true;
  }

  async getRemoval(account: string, deviceId: number): Promise<DeviceRemoval | undefined> {
    this.state.check();
    const removal = this.accounts.get(account)?.removals.get(deviceId);
    return removal === undefined ? undefined : { ...removal };
  }

  async resetAccount(
    account: string,
    primary: NewDevice,
    list: StoredDeviceList,
    removal: DeviceRemoval,
  ): Promise<AccountReset> {
    const entry = this.entry(account);
    const keys = checkDeviceKeys(primary.keys);
    const removedDevices = [...entry.devices.keys()].filter((id) => id !== 1).sort((a, b) => a - b);
    for (const id of removedDevices) {
      entry.devices.delete(id);
      entry.removals.set(id, { ...removal });
      this.writeKeys(account, id, NO_DEVICE_KEYS);
    }
    entry.deviceList = copyList(list);
    return { primary: this.insert(account, entry, 1, primary, keys), removedDevices };
  }

  async findInactiveCompanions(
    primarySeenBefore: number,
    companionSeenBefore: number,
    limit: number,
  ): Promise<readonly InactiveCompanion[]> {
    this.state.check();
    const byPrimary: InactiveCompanion[] = [];
    const byOwn: InactiveCompanion[] = [];
    const names = [...this.accounts.keys()].sort();
    for (const account of names) {
      const entry = this.accounts.get(account);
      if (entry === undefined) continue;
      const primary = entry.devices.get(1);
      const primaryIdle = primary === undefined || primary.lastSeenAt < primarySeenBefore;
      const ids = [...entry.devices.keys()].filter((id) => id !== 1).sort((a, b) => a - b);
      for (const deviceId of ids) {
        const device = entry.devices.get(deviceId);
        if (device === undefined) continue;
        if (primaryIdle) byPrimary.push({ account, deviceId, reason: 'primary-inactive' });
        else if (device.lastSeenAt < companionSeenBefore) {
          byOwn.push({ account, deviceId, reason: 'inactive' });
        }
      }
    }
    return [...byPrimary, ...byOwn].slice(0, limit);
  }
}

class MemorySubscriberStore implements SubscriberStore {
  private readonly watchers = new Map<string, Set<string>>();
  constructor(private readonly state: Closable) {}

  async addSubscriber(account: string, subscriber: string): Promise<void> {
    this.state.check();
    const set = this.watchers.get(account) ?? new Set<string>();
    set.add(subscriber);
    this.watchers.set(account, set);
  }

  async listSubscribers(account: string): Promise<readonly string[]> {
    this.state.check();
    return [...(this.watchers.get(account) ?? [])].sort();
  }
}

interface QueuedEntry {
  readonly seq: number;
  readonly envelope: QueuedEnvelope;
}

class MemoryQueueStore implements MessageQueueStore {
  private readonly queues = new Map<string, QueuedEntry[]>();
  /** guid → the device queue holding it, so acks check ownership in O(1). */
  private readonly owners = new Map<string, string>();
  private readonly sizes = new QueueSizes((account, deviceId) => {
    const queue = this.queues.get(deviceKey(account, deviceId)) ?? [];
    let bytes = 0;
    for (const entry of queue) bytes += entry.envelope.content.length;
    return { count: queue.length, bytes };
  });
  /** Each device's last sequence number: numbered per device, as PostgreSQL does. */
  private readonly lastSeq = new Map<string, number>();
  readonly contiguousSequences = true;
  private total = 0;
  constructor(
    private readonly state: Closable,
    private readonly random: RandomSource,
  ) {}

  async enqueue(
    envelopes: readonly NewEnvelope[],
    bounds?: QueueBounds,
  ): Promise<readonly QueuedEnvelope[]> {
    this.state.check();
    // Copy the whole batch first, so an envelope that cannot be stored
    // leaves nothing of the batch behind. Consecutive envelopes sharing a
    // content object share one stored copy (a group fanout).
    let previous: Uint8Array | undefined;
    let shared: Uint8Array | undefined;
    const next = new Map<string, number>();
    const seqs: number[] = [];
    const stored = envelopes.map((envelope) => {
      const k = deviceKey(envelope.destination, envelope.destinationDevice);
      const seq = (next.get(k) ?? this.lastSeq.get(k) ?? 0) + 1;
      next.set(k, seq);
      seqs.push(seq);
      const copy = copyEnvelope({ ...envelope, guid: envelopeGuid(seq, this.random) });
      if (envelope.content === previous && shared !== undefined) {
        return { ...copy, content: shared };
      }
      previous = envelope.content;
      shared = copy.content;
      return copy;
    });
    this.sizes.add(envelopes, bounds);
    for (const [k, seq] of next) this.lastSeq.set(k, seq);
    for (const [i, envelope] of stored.entries()) {
      const k = deviceKey(envelope.destination, envelope.destinationDevice);
      const queue = this.queues.get(k) ?? [];
      queue.push({ seq: seqs[i] ?? 0, envelope });
      this.queues.set(k, queue);
      this.owners.set(guidKey(envelope.guid), k);
      this.total += 1;
    }
    return stored.map(copyEnvelope);
  }

  async page(account: string, deviceId: number, after: number, limit: number): Promise<QueuePage> {
    this.state.check();
    const queue = this.queues.get(deviceKey(account, deviceId)) ?? [];
    const entries = queue.filter((entry) => entry.seq > after).slice(0, limit);
    const last = entries[entries.length - 1];
    return {
      envelopes: entries.map((entry) => copyEnvelope(entry.envelope)),
      cursor: last === undefined ? after : last.seq,
    };
  }

  async ack(account: string, deviceId: number, guids: readonly Uint8Array[]): Promise<number> {
    this.state.check();
    const k = deviceKey(account, deviceId);
    const wanted = new Set<string>();
    for (const guid of guids) {
      const g = guidKey(guid);
      // Ownership check: a device can only delete from its own queue.
      if (this.owners.get(g) === k) wanted.add(g);
    }
    if (wanted.size === 0) return 0;
    const queue = this.queues.get(k) ?? [];
    const kept: QueuedEntry[] = [];
    let bytes = 0;
    for (const entry of queue) {
      if (wanted.has(guidKey(entry.envelope.guid))) bytes += entry.envelope.content.length;
      else kept.push(entry);
    }
    const deleted = queue.length - kept.length;
    this.queues.set(k, kept);
    for (const g of wanted) this.owners.delete(g);
    this.total -= deleted;
    this.sizes.remove(account, deviceId, deleted, bytes);
    return deleted;
  }

  async expire(before: number): Promise<number> {
    this.state.check();
    let deleted = 0;
    for (const [k, queue] of this.queues) {
      const kept: QueuedEntry[] = [];
      for (const entry of queue) {
        if (entry.envelope.serverTimestamp < before) {
          this.owners.delete(guidKey(entry.envelope.guid));
          const { destination, destinationDevice, content } = entry.envelope;
          this.sizes.remove(destination, destinationDevice, 1, content.length);
          deleted += 1;
        } else {
          kept.push(entry);
        }
      }
      this.queues.set(k, kept);
    }
    this.total -= deleted;
    return deleted;
  }

  async count(account: string, deviceId: number): Promise<number> {
    this.state.check();
    return this.queues.get(deviceKey(account, deviceId))?.length ?? 0;
  }

  async queuedBytes(account: string, deviceId: number): Promise<number> {
    this.state.check();
    let bytes = 0;
    for (const entry of this.queues.get(deviceKey(account, deviceId)) ?? []) {
      bytes += entry.envelope.content.length;
    }
    return bytes;
  }

  async totalCount(): Promise<number> {
    this.state.check();
    return this.total;
  }

  async deleteDevice(account: string, deviceId: number): Promise<number> {
    this.state.check();
    const k = deviceKey(account, deviceId);
    const queue = this.queues.get(k) ?? [];
    for (const entry of queue) this.owners.delete(guidKey(entry.envelope.guid));
    this.queues.delete(k);
    this.total -= queue.length;
    this.sizes.forget(account, deviceId);
    return queue.length;
  }
}

/** Creates an empty in-memory store; `random` fills the random half of envelope guids. */
export function createMemoryStore(
  random: RandomSource = (n) => globalThis.crypto.getRandomValues(new Uint8Array(n)),
): ServerStore {
  const state = new Closable();
  const check = (): void => state.check();
  const preKeys = new MemoryPreKeyStore(check);
  const kemPreKeys = new MemoryKemPreKeyStore(check);
  return {
    accounts: new MemoryAccountStore(state, (account, deviceId, keys) => {
      preKeys.replaceDevice(account, deviceId, keys);
      kemPreKeys.replaceDevice(account, deviceId, keys);
    }),
    preKeys,
    kemPreKeys,
    queue: new MemoryQueueStore(state, random),
    subscribers: new MemorySubscriberStore(state),
    groups: new MemoryGroupStore(() => state.check()),
    close: async () => {
      state.closed = true;
    },
  };
}
