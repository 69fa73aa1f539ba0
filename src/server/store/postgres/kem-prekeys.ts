/**
 * PostgreSQL implementation of `KemPreKeyStore`.
 *
 * The same guarantees as the EC prekeys (prekeys.ts): a one-time KEM prekey
 * goes to at most one sender, also when nodes take for one device at once
 * (one `DELETE … RETURNING` of a row picked `FOR UPDATE SKIP LOCKED`), and
 * two uploads on two nodes cannot both pass the per-device limit (they
 * serialize on a per-device advisory lock).
 */
import type pg from 'pg';
import { bind, blob, int, type Row } from './rows.js';
import { deleteDeviceRows, lockForTransaction, query, transaction, type Queryable } from './sql.js';
import type { CheckedDeviceKeys } from '../initial-keys.js';
import { StoreError, type KemPreKeyRecord, type KemPreKeyStore } from '../types.js';

function record(row: Row): KemPreKeyRecord {
  return {
    id: int(row, 'key_id'),
    publicKey: blob(row, 'public_key'),
    signature: blob(row, 'signature'),
  };
}

/** A device's KEM prekey tables (a new device replaces, a removal empties, both). */
const KEM_PRE_KEY_TABLES = ['kem_last_resort_pre_keys', 'kem_one_time_pre_keys'] as const;

/** The advisory lock uploads of one device's one-time KEM prekeys serialize on. */
function oneTimeLock(account: string, deviceId: number): string {
  return `quintet:kemotpk:${deviceId}:${account}`;
}

/**
 * A new device's KEM prekeys, replacing any of its id, in the caller's
 * transaction (the account store's), under the uploads' lock.
 */
export async function replaceDeviceKemPreKeys(
  db: Queryable,
  account: string,
  deviceId: number,
  keys: CheckedDeviceKeys,
): Promise<void> {
  await lockForTransaction(db, oneTimeLock(account, deviceId));
  await deleteDeviceRows(db, KEM_PRE_KEY_TABLES, account, deviceId);
  const last = keys.lastResortKemPreKey;
  if (last !== undefined) {
    await db.query(
      `INSERT INTO kem_last_resort_pre_keys (account, device_id, key_id, public_key, signature)
       VALUES ($1, $2, $3, $4, $5)`,
      [account, deviceId, last.id, bind(last.publicKey), bind(last.signature)],
    );
  }
  if (keys.oneTimeKemPreKeys.length > 0) {
    await db.query(
      `INSERT INTO kem_one_time_pre_keys (account, device_id, key_id, public_key, signature)
       SELECT $1, $2, k.id, k.public_key, k.signature
       FROM unnest($3::bigint[], $4::bytea[], $5::bytea[]) AS k (id, public_key, signature)`,
      [
        account,
        deviceId,
        keys.oneTimeKemPreKeys.map((key) => key.id),
        keys.oneTimeKemPreKeys.map((key) => bind(key.publicKey)),
        keys.oneTimeKemPreKeys.map((key) => bind(key.signature)),
      ],
    );
  }
}

/** KEM prekeys in PostgreSQL. */
export class PostgresKemPreKeyStore implements KemPreKeyStore {
  /** The last pending take per device on this node (see `takeOneTimeKemPreKey`). */
  private readonly takes = new Map<string, Promise<void>>();

  constructor(private readonly pool: pg.Pool) {}

  async setLastResortKemPreKey(
    account: string,
    deviceId: number,
    key: KemPreKeyRecord,
  ): Promise<void> {
    await query(
      this.pool,
      `INSERT INTO kem_last_resort_pre_keys (account, device_id, key_id, public_key, signature)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (account, device_id) DO UPDATE SET
         key_id = excluded.key_id, public_key = excluded.public_key, signature = excluded.signature`,
      [account, deviceId, key.id, bind(key.publicKey), bind(key.signature)],
    );
  }

  async getLastResortKemPreKey(
    account: string,
    deviceId: number,
  ): Promise<KemPreKeyRecord | undefined> {
    const rows = await query(
      this.pool,
      `SELECT key_id, public_key, signature FROM kem_last_resort_pre_keys
       WHERE account = $1 AND device_id = $2`,
      [account, deviceId],
    );
    const row = rows[0];
    return row === undefined ? undefined : record(row);
  }

  addOneTimeKemPreKeys(
    account: string,
    deviceId: number,
    keys: readonly KemPreKeyRecord[],
    maxStored: number,
  ): Promise<number> {
    // One row per id, the last upload of an id winning (as in the other
    // backends); a repeated id in one INSERT … ON CONFLICT would fail.
    const byId = new Map<number, KemPreKeyRecord>();
    for (const key of keys) byId.set(key.id, key);
    const unique = [...byId.values()];
    const ids = unique.map((key) => key.id);
    return transaction(this.pool, async (db) => {
      await lockForTransaction(db, oneTimeLock(account, deviceId));
      const counted = await db.query(
        `SELECT COUNT(*) AS n, COUNT(*) FILTER (WHERE key_id = ANY($3::bigint[])) AS present
         FROM kem_one_time_pre_keys WHERE account = $1 AND device_id = $2`,
        [account, deviceId, ids],
      );
      const row = counted.rows[0];
      const existing = row === undefined ? 0 : int(row, 'n');
      const present = row === undefined ? 0 : int(row, 'present');
      const total = existing + ids.length - present;
      if (total > maxStored) {
        throw new StoreError(
          'limit-exceeded',
          'too many one-time KEM prekeys stored for this device',
        );
      }
      if (ids.length > 0) {
        await db.query(
          `INSERT INTO kem_one_time_pre_keys (account, device_id, key_id, public_key, signature)
           SELECT $1, $2, k.id, k.public_key, k.signature
           FROM unnest($3::bigint[], $4::bytea[], $5::bytea[]) AS k (id, public_key, signature)
           ON CONFLICT (account, device_id, key_id) DO UPDATE SET
             public_key = excluded.public_key, signature = excluded.signature`,
          [
            account,
            deviceId,
            ids,
            unique.map((key) => bind(key.publicKey)),
            unique.map((key) => bind(key.signature)),
          ],
        );
      }
      return total;
    });
  }

  /**
   * Takes on one node for one device run in call order (lowest id to the
   * first caller, as in the other backends); across nodes `take` alone
   * keeps them apart.
   */
  takeOneTimeKemPreKey(account: string, deviceId: number): Promise<KemPreKeyRecord | undefined> {
    const key = `${deviceId}:${account}`;
    const previous = this.takes.get(key) ?? Promise.resolve();
    const run = previous.then(() => this.take(account, deviceId));
    // The chain only orders takes; each failure reaches its caller via `run`.
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.takes.set(key, tail);
    void tail.then(() => {
      if (this.takes.get(key) === tail) this.takes.delete(key);
    });
    return run;
  }

  private async take(account: string, deviceId: number): Promise<KemPreKeyRecord | undefined> {
    // SKIP LOCKED: a concurrent take holding the lowest key makes this one
    // take the next, instead of waiting and then finding the row gone.
    const rows = await query(
      this.pool,
      `DELETE FROM kem_one_time_pre_keys WHERE (account, device_id, key_id) = (
         SELECT account, device_id, key_id FROM kem_one_time_pre_keys
         WHERE account = $1 AND device_id = $2
         ORDER BY key_id LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING key_id, public_key, signature`,
      [account, deviceId],
    );
    const row = rows[0];
    return row === undefined ? undefined : record(row);
  }

  async countOneTimeKemPreKeys(account: string, deviceId: number): Promise<number> {
    const rows = await query(
      this.pool,
      'SELECT COUNT(*) AS n FROM kem_one_time_pre_keys WHERE account = $1 AND device_id = $2',
      [account, deviceId],
    );
    const row = rows[0];
    return row === undefined ? 0 : int(row, 'n');
  }

  deleteDevice(account: string, deviceId: number): Promise<void> {
    return transaction(this.pool, (db) =>
      deleteDeviceRows(db, KEM_PRE_KEY_TABLES, account, deviceId),
    );
  }
}
