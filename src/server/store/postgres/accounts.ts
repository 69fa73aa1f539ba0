/**
 * PostgreSQL implementation of `AccountStore`.
 *
 * Multi-step writes run in one transaction and take the account row lock
 * (`UPDATE … RETURNING` or `SELECT … FOR UPDATE`) before deciding anything,
 * so concurrent nodes serialize per account: two registrations of one name,
 * two reservations, a reservation racing a reset, or two racing device
 * lists cannot both win.
 */
import type pg from 'pg';
import { isUniqueViolation } from './errors.js';
import { bind, blob, int, text, type Row } from './rows.js';
import { query, transaction, type Queryable } from './sql.js';
import { replaceDevicePreKeys } from './prekeys.js';
import { replaceDeviceKemPreKeys } from './kem-prekeys.js';
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

const DEVICE_COLUMNS =
  'account, device_id, identity_key, registration_id, name, created_at, last_seen_at, key_index, signed_device_identity';

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

function record(account: string, deviceId: number, device: NewDevice): DeviceRecord {
  return {
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
}

/**
 * Writes a device row and its keys (`device.keys`), in the caller's
 * transaction. `replace` overwrites an existing row (device 1 on a reset);
 * otherwise a taken id is a unique violation.
 */
async function insertDevice(
  db: Queryable,
  account: string,
  deviceId: number,
  device: NewDevice,
  replace: boolean,
): Promise<DeviceRecord> {
  const keys = checkDeviceKeys(device.keys);
  const r = record(account, deviceId, device);
  const conflict = replace
    ? `ON CONFLICT (account, device_id) DO UPDATE SET identity_key = excluded.identity_key,
         registration_id = excluded.registration_id, name = excluded.name,
         created_at = excluded.created_at, last_seen_at = excluded.last_seen_at,
         key_index = excluded.key_index, signed_device_identity = excluded.signed_device_identity`
    : '';
  await db.query(
    `INSERT INTO devices (${DEVICE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ${conflict}`,
    [
      account,
      deviceId,
      bind(r.identityKey),
      r.registrationId,
      r.name,
      r.createdAt,
      r.lastSeenAt,
      r.keyIndex,
      bind(r.signedDeviceIdentity),
    ],
  );
  await replaceDeviceKeys(db, account, deviceId, keys);
  return r;
}

/** A device's EC and KEM prekeys replaced by `keys` (none: a removal), in the caller's transaction. */
async function replaceDeviceKeys(
  db: Queryable,
  account: string,
  deviceId: number,
  keys: CheckedDeviceKeys,
): Promise<void> {
  await replaceDevicePreKeys(db, account, deviceId, keys);
  await replaceDeviceKemPreKeys(db, account, deviceId, keys);
}

/** Takes the account's next device id, holding its row lock until the transaction ends. */
async function takeNextId(db: Queryable, account: string): Promise<number> {
  const result = await db.query(
    `UPDATE accounts SET next_device_id = next_device_id + 1 WHERE name = $1
     RETURNING next_device_id - 1 AS id`,
    [account],
  );
  const row = result.rows[0];
  if (row === undefined) throw new StoreError('unknown-account', 'no such account');
  return int(row, 'id');
}

/** Accounts and devices in PostgreSQL. */
export class PostgresAccountStore implements AccountStore {
  constructor(private readonly pool: pg.Pool) {}

  createAccount(name: string, primary: NewDevice, list?: StoredDeviceList): Promise<DeviceRecord> {
    return transaction(this.pool, async (db) => {
      // ON CONFLICT DO NOTHING waits for a concurrent registration of the
      // same name to commit, then inserts nothing: exactly one wins.
      const inserted = await db.query(
        `INSERT INTO accounts (name, next_device_id, created_at, device_list, device_list_timestamp)
         VALUES ($1, 2, $2, $3, $4) ON CONFLICT (name) DO NOTHING RETURNING name`,
        [
          name,
          primary.createdAt,
          list === undefined ? null : bind(list.signedList),
          list?.timestamp ?? 0,
        ],
      );
      if (inserted.rowCount === 0) throw new StoreError('account-exists', 'account exists');
      return insertDevice(db, name, 1, primary, false);
    });
  }

  addDevice(account: string, device: NewDevice): Promise<DeviceRecord> {
    return transaction(this.pool, async (db) =>
      insertDevice(db, account, await takeNextId(db, account), device, false),
    );
  }

  async getDevice(account: string, deviceId: number): Promise<DeviceRecord | undefined> {
    const rows = await query(
      this.pool,
      `SELECT ${DEVICE_COLUMNS} FROM devices WHERE account = $1 AND device_id = $2`,
      [account, deviceId],
    );
    const row = rows[0];
    return row === undefined ? undefined : toDevice(row);
  }

  async listDevices(account: string): Promise<readonly DeviceRecord[] | undefined> {
    // One statement (one snapshot): the account row tells "no account" from
    // "no devices left", the devices come along in the same read.
    const rows = await query(
      this.pool,
      `SELECT a.name AS owner, ${DEVICE_COLUMNS.split(', ')
        .map((c) => `d.${c}`)
        .join(', ')}
       FROM accounts a LEFT JOIN devices d ON d.account = a.name
       WHERE a.name = $1 ORDER BY d.device_id`,
      [account],
    );
    if (rows.length === 0) return undefined;
    return rows.filter((row) => row['device_id'] !== null).map(toDevice);
  }

  async touchDevice(account: string, deviceId: number, at: number): Promise<void> {
    await query(
      this.pool,
      'UPDATE devices SET last_seen_at = $1 WHERE account = $2 AND device_id = $3',
      [at, account, deviceId],
    );
  }

  reserveDeviceId(account: string): Promise<number> {
    return transaction(this.pool, (db) => takeNextId(db, account));
  }

  addReservedDevice(account: string, deviceId: number, device: NewDevice): Promise<DeviceRecord> {
    return transaction(this.pool, async (db) => {
      // The account row lock orders this against other completions of the
      // same id and against a reset of the account.
      const result = await db.query(
        'SELECT next_device_id FROM accounts WHERE name = $1 FOR UPDATE',
        [account],
      );
      const row = result.rows[0];
      if (row === undefined) throw new StoreError('unknown-account', 'no such account');
      const unavailable = (): StoreError =>
        new StoreError('device-id-unavailable', 'device id was not reserved or is used');
      if (deviceId < 2 || deviceId >= int(row, 'next_device_id')) throw unavailable();
      const used = await db.query(
        `SELECT 1 FROM devices WHERE account = $1 AND device_id = $2
         UNION ALL SELECT 1 FROM device_removals WHERE account = $1 AND device_id = $2`,
        [account, deviceId],
      );
      if ((used.rowCount ?? 0) > 0) throw unavailable();
      try {
        return await insertDevice(db, account, deviceId, device, false);
      } catch (error) {
        if (isUniqueViolation(error)) throw unavailable();
        throw error;
      }
    });
  }

  async getDeviceList(account: string): Promise<StoredDeviceList | undefined> {
    const rows = await query(
      this.pool,
      'SELECT device_list, device_list_timestamp FROM accounts WHERE name = $1',
      [account],
    );
    const row = rows[0];
    if (row === undefined || row['device_list'] === null) return undefined;
    return { signedList: blob(row, 'device_list'), timestamp: int(row, 'device_list_timestamp') };
  }

  async setDeviceList(account: string, list: StoredDeviceList): Promise<void> {
    // One conditional UPDATE: a concurrent writer's committed list is
    // re-checked against the condition (READ COMMITTED re-evaluates the
    // WHERE on the newest row version), so of two racing lists with one
    // timestamp only the first passes.
    const updated = await query(
      this.pool,
      `UPDATE accounts SET device_list = $2, device_list_timestamp = $3
       WHERE name = $1 AND (device_list IS NULL OR device_list_timestamp < $3)
       RETURNING name`,
      [account, bind(list.signedList), list.timestamp],
    );
    if (updated.length > 0) return;
    const exists = await query(this.pool, 'SELECT 1 FROM accounts WHERE name = $1', [account]);
    if (exists.length === 0) throw new StoreError('unknown-account', 'no such account');
    throw new StoreError('device-list-rollback', 'device list is not newer than the stored one');
  }

  removeDevice(account: string, deviceId: number, removal: DeviceRemoval): Promise<boolean> {
    return transaction(this.pool, async (db) => {
      const deleted = await db.query(
        'DELETE FROM devices WHERE account = $1 AND device_id = $2 RETURNING device_id',
        [account, deviceId],
      );
      if (deleted.rowCount === 0) return false;
      await db.query(
        `INSERT INTO device_removals (account, device_id, reason, removed_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (account, device_id) DO UPDATE SET
           reason = excluded.reason, removed_at = excluded.removed_at`,
        [account, deviceId, removal.reason, removal.removedAt],
      );
      // Its keys go with it: none is left behind for a device that is gone.
      await replaceDeviceKeys(db, account, deviceId, NO_DEVICE_KEYS);
      return true;
    });
  }

  async getRemoval(account: string, deviceId: number): Promise<DeviceRemoval | undefined> {
    const rows = await query(
      this.pool,
      'SELECT reason, removed_at FROM device_removals WHERE account = $1 AND device_id = $2',
      [account, deviceId],
    );
    const row = rows[0];
    return row === undefined
      ? undefined
      : { reason: text(row, 'reason'), removedAt: int(row, 'removed_at') };
  }

  resetAccount(
    account: string,
    primary: NewDevice,
    list: StoredDeviceList,
    removal: DeviceRemoval,
  ): Promise<AccountReset> {
    return transaction(this.pool, async (db) => {
      // The list is stored unconditionally (a new account key starts a new
      // list epoch); taking the row lock first orders this against
      // reservations and completions of the same account.
      const updated = await db.query(
        `UPDATE accounts SET device_list = $2, device_list_timestamp = $3 WHERE name = $1
         RETURNING name`,
        [account, bind(list.signedList), list.timestamp],
      );
      if (updated.rowCount === 0) throw new StoreError('unknown-account', 'no such account');
      const deleted = await db.query(
        'DELETE FROM devices WHERE account = $1 AND device_id <> 1 RETURNING device_id',
        [account],
      );
      const removedDevices = deleted.rows.map((row) => int(row, 'device_id')).sort((a, b) => a - b);
      if (removedDevices.length > 0) {
        await db.query(
          `INSERT INTO device_removals (account, device_id, reason, removed_at)
           SELECT $1, id, $3, $4 FROM unnest($2::integer[]) AS id
           ON CONFLICT (account, device_id) DO UPDATE SET
             reason = excluded.reason, removed_at = excluded.removed_at`,
          [account, removedDevices, removal.reason, removal.removedAt],
        );
      }
      for (const id of removedDevices) await replaceDeviceKeys(db, account, id, NO_DEVICE_KEYS);
      return { primary: await insertDevice(db, account, 1, primary, true), removedDevices };
    });
  }

  async findInactiveCompanions(
    primarySeenBefore: number,
    companionSeenBefore: number,
    limit: number,
  ): Promise<readonly InactiveCompanion[]> {
    // A companion without a primary row counts as "primary idle" (LEFT
    // JOIN, NULL last_seen); the primary rule wins when both apply. Names
    // sort bytewise (COLLATE "C") like the other backends, whatever the
    // database's locale.
    const rows = await query(
      this.pool,
      `SELECT d.account AS account, d.device_id AS device_id,
         CASE WHEN p.last_seen_at IS NULL OR p.last_seen_at < $1 THEN 'primary-inactive'
              ELSE 'inactive' END AS reason
       FROM devices d LEFT JOIN devices p ON p.account = d.account AND p.device_id = 1
       WHERE d.device_id <> 1 AND (p.last_seen_at IS NULL OR p.last_seen_at < $1
         OR d.last_seen_at < $2)
       ORDER BY reason DESC, d.account COLLATE "C", d.device_id LIMIT $3`,
      [primarySeenBefore, companionSeenBefore, limit],
    );
    return rows.map((row) => {
      const reason = text(row, 'reason');
      if (reason !== 'primary-inactive' && reason !== 'inactive') {
        throw new StoreError('corrupt', 'unexpected inactivity reason');
      }
      return { account: text(row, 'account'), deviceId: int(row, 'device_id'), reason };
    });
  }
}
