/** SQLite implementation of `AccountStore`. */
import type { Database, Statement } from 'better-sqlite3';
import type { GroupCommitter } from './group-commit.js';
import { asRow, bind, blob, int, text, type Row } from './rows.js';
import { StoreError, type AccountStore, type DeviceRecord, type NewDevice } from '../types.js';

function toDevice(row: Row): DeviceRecord {
  return {
    account: text(row, 'account'),
    deviceId: int(row, 'device_id'),
    identityKey: blob(row, 'identity_key'),
    registrationId: int(row, 'registration_id'),
    name: text(row, 'name'),
    createdAt: int(row, 'created_at'),
    lastSeenAt: int(row, 'last_seen_at'),
  };
}

const DEVICE_COLUMNS =
  'account, device_id, identity_key, registration_id, name, created_at, last_seen_at';

/** Accounts and devices in SQLite. Writes go through the group committer. */
export class SqliteAccountStore implements AccountStore {
  private readonly insertAccount: Statement;
  private readonly selectAccount: Statement;
  private readonly bumpDeviceId: Statement;
  private readonly insertDevice: Statement;
  private readonly selectDevice: Statement;
  private readonly selectDevices: Statement;
  private readonly updateSeen: Statement;

  constructor(
    db: Database,
    private readonly committer: GroupCommitter,
    private readonly checkOpen: () => void,
  ) {
    this.insertAccount = db.prepare(
      'INSERT INTO accounts (name, next_device_id, created_at) VALUES (?, 1, ?)',
    );
    this.selectAccount = db.prepare('SELECT next_device_id FROM accounts WHERE name = ?');
    this.bumpDeviceId = db.prepare(
      'UPDATE accounts SET next_device_id = next_device_id + 1 WHERE name = ?',
    );
    this.insertDevice = db.prepare(
      `INSERT INTO devices (${DEVICE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`,
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
  }

  createAccount(name: string, primary: NewDevice): Promise<DeviceRecord> {
    return this.committer.submit(() => {
      // Checked inside the write transaction: two registrations of one name
      // in the same batch cannot both pass.
      if (this.selectAccount.get(name) !== undefined) {
        throw new StoreError('account-exists', 'account exists');
      }
      this.insertAccount.run(name, primary.createdAt);
      return this.insert(name, primary);
    });
  }

  addDevice(account: string, device: NewDevice): Promise<DeviceRecord> {
    return this.committer.submit(() => {
      if (this.selectAccount.get(account) === undefined) {
        throw new StoreError('unknown-account', 'no such account');
      }
      return this.insert(account, device);
    });
  }

  private insert(account: string, device: NewDevice): DeviceRecord {
    const deviceId = int(asRow(this.selectAccount.get(account)), 'next_device_id');
    this.bumpDeviceId.run(account);
    this.insertDevice.run(
      account,
      deviceId,
      bind(device.identityKey),
      device.registrationId,
      device.name,
      device.createdAt,
      device.createdAt,
    );
    return {
      account,
      deviceId,
      identityKey: device.identityKey.slice(),
      registrationId: device.registrationId,
      name: device.name,
      createdAt: device.createdAt,
      lastSeenAt: device.createdAt,
    };
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
}
