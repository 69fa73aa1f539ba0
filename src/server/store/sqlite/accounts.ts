/** SQLite implementation of `AccountStore`. */
import type { Database, Statement } from 'better-sqlite3';
import type { GroupCommitter } from './group-commit.js';
import { asRow, bind, blob, int, text, type Row } from './rows.js';
import { checkDeviceKeys, NO_DEVICE_KEYS, type CheckedDeviceKeys } from '../initial-keys.js';
import {
  StoreError,
  type AccountReset,
  type AccountStore,
  type DeviceRecord,
  type DeviceRemoval,
  type InactiveCompanion,
  type NewDevice,
  type StoredDeviceList,
} from '../types.js';

function toDevice(row: Row): DeviceRecord {
  return {
    account: text(row, 'account'),
    deviceId: int(row, 'device_id'),
    identityKey: blob(row, 'identity_key'),
    registrationId: int(row, 'registration_id'),
    name: text(row, 'name'),
    createdAt: int(row, 'created_at'),
    lastSeenAt: int(row, 'last_seen_at'),
    keyIndex: int(row, 'key_index'),
    signedDeviceIdentity: blob(row, 'signed_device_identity'),
  };
}

const DEVICE_COLUMNS =
  'account, device_id, identity_key, registration_id, name, created_at, last_seen_at, key_index, signed_device_identity';

/**
 * Writes a new device's keys into the key tables. Called inside the account
 * store's write transaction, so the keys commit (or roll back) with the row.
 */
export type SqliteDeviceKeyWriter = (
  account: string,
  deviceId: number,
  keys: CheckedDeviceKeys,
) => void;

/** Accounts and devices in SQLite. Writes go through the group committer. */
export class SqliteAccountStore implements AccountStore {
  private readonly insertAccount: Statement;
  private readonly selectAccount: Statement;
  private readonly bumpDeviceId: Statement;
  private readonly insertDevice: Statement;
  private readonly selectDevice: Statement;
  private readonly selectDevices: Statement;
  private readonly updateSeen: Statement;
  private readonly selectList: Statement;
  private readonly updateList: Statement;
  private readonly deleteDevice: Statement;
  private readonly deleteCompanions: Statement;
  private readonly insertRemoval: Statement;
  private readonly selectRemoval: Statement;
  private readonly selectInactive: Statement;

  constructor(
    db: Database,
    private readonly committer: GroupCommitter,
    private readonly checkOpen: () => void,
    private readonly writeKeys: SqliteDeviceKeyWriter,
  ) {
    this.insertAccount = db.prepare(
      'INSERT INTO accounts (name, next_device_id, created_at) VALUES (?, 1, ?)',
    );
    this.selectAccount = db.prepare('SELECT next_device_id FROM accounts WHERE name = ?');
    this.bumpDeviceId = db.prepare(
      'UPDATE accounts SET next_device_id = next_device_id + 1 WHERE name = ?',
    );
    this.insertDevice = db.prepare(
      `INSERT OR REPLACE INTO devices (${DEVICE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.selectDevice = db.prepare(
      `SELECT ${DEVICE_COLUMNS} FROM devices WHERE account = ? AND device_id = ?`,
    );
    this.selectDevices = db.prepare(
      `SELECT ${DEVICE_COLUMNS} FROM devices WHERE account = ? ORDER BY device_id`,
    );
    this.updateSeen = db.prepare(
      'UPDATE devices SET last_seen_at = ? WHERE account = ? AND device_id = ?',
    );
    this.selectList = db.prepare(
      'SELECT device_list, device_list_timestamp FROM accounts WHERE name = ?',
    );
    this.updateList = db.prepare(
      'UPDATE accounts SET device_list = ?, device_list_timestamp = ? WHERE name = ?',
    );
    this.deleteDevice = db.prepare('DELETE FROM devices WHERE account = ? AND device_id = ?');
    this.deleteCompanions = db.prepare('DELETE FROM devices WHERE account = ? AND device_id <> 1');
    this.insertRemoval = db.prepare(
      `INSERT OR REPLACE INTO device_removals (account, device_id, reason, removed_at)
       VALUES (?, ?, ?, ?)`,
    );
    this.selectRemoval = db.prepare(
      'SELECT reason, removed_at FROM device_removals WHERE account = ? AND device_id = ?',
    );
    // A companion without a primary row counts as "primary idle" (LEFT JOIN,
    // NULL last_seen); the primary rule wins when both apply.
    this.selectInactive = db.prepare(
      `SELECT d.account AS account, d.device_id AS device_id,
         CASE WHEN p.last_seen_at IS NULL OR p.last_seen_at < ? THEN 'primary-inactive'
              ELSE 'inactive' END AS reason
       FROM devices d LEFT JOIN devices p ON p.account = d.account AND p.device_id = 1
       WHERE d.device_id <> 1 AND (p.last_seen_at IS NULL OR p.last_seen_at < ?
         OR d.last_seen_at < ?)
       ORDER BY reason DESC, d.account, d.device_id LIMIT ?`,
    );
  }

  createAccount(name: string, primary: NewDevice, list?: StoredDeviceList): Promise<DeviceRecord> {
    return this.committer.submit(() => {
      // Checked inside the write transaction: two registrations of one name
      // in the same batch cannot both pass.
      if (this.selectAccount.get(name) !== undefined) {
        throw new StoreError('account-exists', 'account exists');
      }
      this.insertAccount.run(name, primary.createdAt);
      if (list !== undefined) this.updateList.run(bind(list.signedList), list.timestamp, name);
      return this.insert(name, this.nextId(name), primary);
    });
  }

  addDevice(account: string, device: NewDevice): Promise<DeviceRecord> {
    return this.committer.submit(() => this.insert(account, this.nextId(account), device));
  }

  /** Takes the account's next device id (inside a write transaction). */
  private nextId(account: string): number {
    const row: unknown = this.selectAccount.get(account);
    if (row === undefined) throw new StoreError('unknown-account', 'no such account');
    const deviceId = int(asRow(row), 'next_device_id');
    this.bumpDeviceId.run(account);
    return deviceId;
  }

  /**
   * Writes the device row and its keys (inside the op's savepoint: a refusal
   * of the keys rolls back the whole op, account row included).
   */
  private insert(account: string, deviceId: number, device: NewDevice): DeviceRecord {
    const keys = checkDeviceKeys(device.keys);
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
    this.insertDevice.run(
      account,
      deviceId,
      bind(record.identityKey),
      record.registrationId,
      record.name,
      record.createdAt,
      record.lastSeenAt,
      record.keyIndex,
      bind(record.signedDeviceIdentity),
    );
    this.writeKeys(account, deviceId, keys);
    return record;
  }

  async getDevice(account: string, deviceId: number): Promise<DeviceRecord | undefined> {
    this.checkOpen();
    const row: unknown = this.selectDevice.get(account, deviceId);
    return row === undefined ? undefined : toDevice(asRow(row));
  }

  async listDevices(account: string): Promise<readonly DeviceRecord[] | undefined> {
    this.checkOpen();
    const rows = this.selectDevices.all(account).map((row) => toDevice(asRow(row)));
    if (rows.length > 0) return rows;
    // No devices: distinguish "no account" from an account with none left.
    return this.selectAccount.get(account) === undefined ? undefined : [];
  }

  touchDevice(account: string, deviceId: number, at: number): Promise<void> {
    return this.committer.submit(() => {
      this.updateSeen.run(at, account, deviceId);
    });
  }

  reserveDeviceId(account: string): Promise<number> {
    return this.committer.submit(() => this.nextId(account));
  }

  addReservedDevice(account: string, deviceId: number, device: NewDevice): Promise<DeviceRecord> {
    return this.committer.submit(() => {
      const row: unknown = this.selectAccount.get(account);
      if (row === undefined) throw new StoreError('unknown-account', 'no such account');
      const next = int(asRow(row), 'next_device_id');
      if (
        deviceId < 2 ||
        deviceId >= next ||
        this.selectDevice.get(account, deviceId) !== undefined ||
        this.selectRemoval.get(account, deviceId) !== undefined
      ) {
        throw new StoreError('device-id-unavailable', 'device id was not reserved or is used');
      }
      return this.insert(account, deviceId, device);
    });
  }

  async getDeviceList(account: string): Promise<StoredDeviceList | undefined> {
    this.checkOpen();
    const row: unknown = this.selectList.get(account);
    if (row === undefined) return undefined;
    const r = asRow(row);
    if (r['device_list'] === null) return undefined;
    return { signedList: blob(r, 'device_list'), timestamp: int(r, 'device_list_timestamp') };
  }

  setDeviceList(account: string, list: StoredDeviceList): Promise<void> {
    return this.committer.submit(() => {
      // Read and written in one transaction: two racing lists cannot both pass.
      const row: unknown = this.selectList.get(account);
      if (row === undefined) throw new StoreError('unknown-account', 'no such account');
      const r = asRow(row);
      if (r['device_list'] !== null && int(r, 'device_list_timestamp') >= list.timestamp) {
        throw new StoreError(
          'device-list-rollback',
          'device list is not newer than the stored one',
        );
      }
      this.updateList.run(bind(list.signedList), list.timestamp, account);
    });
  }

  removeDevice(account: string, deviceId: number, removal: DeviceRemoval): Promise<boolean> {
    return this.committer.submit(
      () => {
        if (this.deleteDevice.run(account, deviceId).changes === 0) return false;
        this.insertRemoval.run(account, deviceId, removal.reason, removal.removedAt);
        // Its keys go with it: none is left behind for a device that is gone.
        this.writeKeys(account, deviceId, NO_DEVICE_KEYS);
        return true;
      },
      // A device row out, a small tombstone in: allowed while the disk is
      // full, so removals (and the queue deletes that follow) still happen.
      { freesSpace: true },
    );
  }

  async getRemoval(account: string, deviceId: number): Promise<DeviceRemoval | undefined> {
    this.checkOpen();
    const row: unknown = this.selectRemoval.get(account, deviceId);
    if (row === undefined) return undefined;
    const r = asRow(row);
    return { reason: text(r, 'reason'), removedAt: int(r, 'removed_at') };
  }

  resetAccount(
    account: string,
    primary: NewDevice,
    list: StoredDeviceList,
    removal: DeviceRemoval,
  ): Promise<AccountReset> {
    return this.committer.submit(() => {
      if (this.selectAccount.get(account) === undefined) {
        throw new StoreError('unknown-account', 'no such account');
      }
      const removedDevices = this.selectDevices
        .all(account)
        .map((row) => int(asRow(row), 'device_id'))
        .filter((id) => id !== 1);
      this.deleteCompanions.run(account);
      for (const id of removedDevices) {
        this.insertRemoval.run(account, id, removal.reason, removal.removedAt);
        this.writeKeys(account, id, NO_DEVICE_KEYS);
      }
      this.updateList.run(bind(list.signedList), list.timestamp, account);
      return { primary: this.insert(account, 1, primary), removedDevices };
    });
  }

  async findInactiveCompanions(
    primarySeenBefore: number,
    companionSeenBefore: number,
    limit: number,
  ): Promise<readonly InactiveCompanion[]> {
    this.checkOpen();
    return this.selectInactive
      .all(primarySeenBefore, primarySeenBefore, companionSeenBefore, limit)
      .map((row) => {
        const r = asRow(row);
        const reason = text(r, 'reason');
        if (reason !== 'primary-inactive' && reason !== 'inactive') {
          throw new StoreError('corrupt', 'unexpected inactivity reason');
        }
        return { account: text(r, 'account'), deviceId: int(r, 'device_id'), reason };
      });
  }
}
