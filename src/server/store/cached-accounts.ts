/**
 * A read-through cache of device lists in front of any `AccountStore`.
 *
 * Every send checks the destination's device set, so the list is read far
 * more often than it changes; serving it from memory removes a database
 * round trip from the hot path. All account writes of a single server go
 * through this object, so the cache stays coherent. In a cluster, other
 * nodes write the same database: each write here is reported through
 * `onChange` (the node publishes it on the bus), and the other nodes'
 * caches `invalidate` the account; while the bus is down the cache is
 * bypassed (`setBypass`), since changes made elsewhere cannot be heard.
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
  /**
   * Bumped by every eviction: a read that started before an eviction does
   * not cache what it read (it may predate the change that evicted).
   */
  private epoch = 0;
  private bypass = false;
  /** Called after each write that changed an account's devices (cluster: publish it). */
  onChange: ((account: string) => void) | undefined;

  constructor(
    private readonly inner: AccountStore,
    private readonly maxEntries = DEFAULT_MAX_ENTRIES,
  ) {}

  /** Drops `account`'s cached list (another node changed it). */
  invalidate(account: string): void {
    this.lists.delete(account);
    this.epoch += 1;
  }

  /** Drops every cached list (the bus came back: changes may have been missed). */
  invalidateAll(): void {
    this.lists.clear();
    this.epoch += 1;
  }

  /** Reads through the cache while on (the bus is down), caching nothing. */
  setBypass(on: boolean): void {
    this.bypass = on;
    if (on) this.invalidateAll();
  }

  private changed(account: string): void {
    this.invalidate(account);
    this.onChange?.(account);
  }

  async createAccount(
    name: string,
    primary: NewDevice,
    list?: StoredDeviceList,
  ): Promise<DeviceRecord> {
    this.invalidate(name);
    const device = await this.inner.createAccount(name, primary, list);
    this.changed(name);
    return device;
  }

  async addDevice(account: string, device: NewDevice): Promise<DeviceRecord> {
    this.invalidate(account);
    const record = await this.inner.addDevice(account, device);
    this.changed(account);
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
    const epoch = this.epoch;
    const list = await this.inner.listDevices(account);
    // Unknown accounts are not cached: registration would have to evict them.
    if (list !== undefined && !this.bypass && epoch === this.epoch) {
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
    // Other nodes' copies would keep the old last-seen time, which the
    // inactivity checks read.
    this.onChange?.(account);
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
    this.invalidate(account);
    const record = await this.inner.addReservedDevice(account, deviceId, device);
    this.changed(account);
    return record;
  }

  getDeviceList(account: string): Promise<StoredDeviceList | undefined> {
    return this.inner.getDeviceList(account);
  }

  setDeviceList(account: string, list: StoredDeviceList): Promise<void> {
    return this.inner.setDeviceList(account, list);
  }

  async removeDevice(account: string, deviceId: number, removal: DeviceRemoval): Promise<boolean> {
    this.invalidate(account);
    const removed = await this.inner.removeDevice(account, deviceId, removal);
    this.changed(account);
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
    this.invalidate(account);
    const reset = await this.inner.resetAccount(account, primary, list, removal);
    this.changed(account);
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
