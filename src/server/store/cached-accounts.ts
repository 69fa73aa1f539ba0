/**
 * A read-through cache of device lists in front of any `AccountStore`.
 *
 * Every send checks the destination's device set, so the list is read far
 * more often than it changes; serving it from memory removes a database
 * round trip from the hot path. All account writes of a single server go
 * through this object, so the cache stays coherent. (A multi-node deployment
 * sharing one database would need invalidation across nodes — keep this
 * per node and add a change feed before scaling out.)
 */
import type {
  AccountReset,
  AccountStore,
  DeviceRecord,
  DeviceRemoval,
  InactiveCompanion,
  NewDevice,
  StoredDeviceList,
} from './types.js';

/** Most accounts whose device lists are kept; the oldest entry is dropped beyond it. */
const DEFAULT_MAX_ENTRIES = 50_000;

/** Wraps `inner` with a device-list cache. */
export class CachedAccountStore implements AccountStore {
  private readonly lists = new Map<string, readonly DeviceRecord[]>();

  constructor(
    private readonly inner: AccountStore,
    private readonly maxEntries = DEFAULT_MAX_ENTRIES,
  ) {}

  async createAccount(
    name: string,
    primary: NewDevice,
    list?: StoredDeviceList,
  ): Promise<DeviceRecord> {
    this.lists.delete(name);
    const device = await this.inner.createAccount(name, primary, list);
    this.lists.delete(name);
    return device;
  }

  async addDevice(account: string, device: NewDevice): Promise<DeviceRecord> {
    this.lists.delete(account);
    const record = await this.inner.addDevice(account, device);
    this.lists.delete(account);
    return record;
  }

  async getDevice(account: string, deviceId: number): Promise<DeviceRecord | undefined> {
    const list = this.lists.get(account);
    if (list !== undefined) return list.find((d) => d.deviceId === deviceId);
    return this.inner.getDevice(account, deviceId);
  }

  cachedDevices(account: string): readonly DeviceRecord[] | undefined {
    return this.lists.get(account);
  }

  async listDevices(account: string): Promise<readonly DeviceRecord[] | undefined> {
    const cached = this.lists.get(account);
    if (cached !== undefined) return cached;
    const list = await this.inner.listDevices(account);
    // Unknown accounts are not cached: registration would have to evict them.
    if (list !== undefined) {
      if (this.lists.size >= this.maxEntries) {
        const oldest = this.lists.keys().next();
        if (oldest.done !== true) this.lists.delete(oldest.value);
      }
      this.lists.set(account, Object.freeze([...list]));
    }
    return list;
  }

  async touchDevice(account: string, deviceId: number, at: number): Promise<void> {
    await this.inner.touchDevice(account, deviceId, at);
    const list = this.lists.get(account);
    if (list !== undefined) {
      this.lists.set(
        account,
        Object.freeze(list.map((d) => (d.deviceId === deviceId ? { ...d, lastSeenAt: at } : d))),
      );
    }
  }

  reserveDeviceId(account: string): Promise<number> {
    return this.inner.reserveDeviceId(account);
  }

  async addReservedDevice(
    account: string,
    deviceId: number,
    device: NewDevice,
  ): Promise<DeviceRecord> {
    // Evicted before and after: a concurrent read cannot re-cache the old list.
    this.lists.delete(account);
    const record = await this.inner.addReservedDevice(account, deviceId, device);
    this.lists.delete(account);
    return record;
  }

  getDeviceList(account: string): Promise<StoredDeviceList | undefined> {
    return this.inner.getDeviceList(account);
  }

  setDeviceList(account: string, list: StoredDeviceList): Promise<void> {
    return this.inner.setDeviceList(account, list);
  }

  async removeDevice(account: string, deviceId: number, removal: DeviceRemoval): Promise<boolean> {
    this.lists.delete(account);
    const removed = await this.inner.removeDevice(account, deviceId, removal);
    this.lists.delete(account);
    return removed;
  }

  getRemoval(account: string, deviceId: number): Promise<DeviceRemoval | undefined> {
    return this.inner.getRemoval(account, deviceId);
  }

  async resetAccount(
    account: string,
    primary: NewDevice,
    list: StoredDeviceList,
    removal: DeviceRemoval,
  ): Promise<AccountReset> {
    this.lists.delete(account);
    const reset = await this.inner.resetAccount(account, primary, list, removal);
    this.lists.delete(account);
    return reset;
  }

  findInactiveCompanions(
    primarySeenBefore: number,
    companionSeenBefore: number,
    limit: number,
  ): Promise<readonly InactiveCompanion[]> {
    return this.inner.findInactiveCompanions(primarySeenBefore, companionSeenBefore, limit);
  }
}
