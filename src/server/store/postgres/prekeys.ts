/**
 * PostgreSQL implementation of `PreKeyStore`.
 *
 * A one-time prekey must never go to two senders (both would build a
 * session on it and one of them would be undecryptable), including when two
 * nodes serve bundle fetches for the same device at once: the take is one
 * `DELETE … RETURNING` of a row picked with `FOR UPDATE SKIP LOCKED`.
 */
import type pg from 'pg';
import { bind, blob, int, type Row } from './rows.js';
import { deleteDeviceRows, lockForTransaction, query, transaction, type Queryable } from './sql.js';
import type { CheckedDeviceKeys } from '../initial-keys.js';
import {
  StoreError,
  type OneTimePreKeyRecord,
  type PreKeyStore,
  type SignedPreKeyRecord,
} from '../types.js';

/** A device's prekey tables (a new device replaces, a removal empties, both). */
const PRE_KEY_TABLES = ['signed_pre_keys', 'one_time_pre_keys'] as const;

/** The advisory lock uploads of one device's one-time prekeys serialize on. */
function oneTimeLock(account: string, deviceId: number): string {
  return `quintet:otpk:${deviceId}:${account}`;
}

/**
 * A new device's EC prekeys, replacing any of its id, in the caller's
 * transaction (the account store's, which writes the device row in it).
 * Takes the uploads' lock, so a reset primary's old connection uploading
 * at that moment cannot mix its keys in.
 */
export async function replaceDevicePreKeys(
  db: Queryable,
  account: string,
  deviceId: number,
  keys: CheckedDeviceKeys,
): Promise<void> {
  await lockForTransaction(db, oneTimeLock(account, deviceId));
  await deleteDeviceRows(db, PRE_KEY_TABLES, account, deviceId);
  const signed = keys.signedPreKey;
  if (signed !== undefined) {
    await db.query(
      `INSERT INTO signed_pre_keys (account, device_id, key_id, public_key, signature)
       VALUES ($1, $2, $3, $4, $5)`,
      [account, deviceId, signed.id, bind(signed.publicKey), bind(signed.signature)],
    );
  }
  if (keys.oneTimePreKeys.length > 0) {
    await db.query(
      `INSERT INTO one_time_pre_keys (account, device_id, key_id, public_key)
       SELECT $1, $2, k.id, k.public_key FROM unnest($3::bigint[], $4::bytea[]) AS k (id, public_key)`,
      [
        account,
        deviceId,
        keys.oneTimePreKeys.map((key) => key.id),
        keys.oneTimePreKeys.map((key) => bind(key.publicKey)),
      ],
    );
  }
}

function count(rows: readonly Row[]): number {
  const row = rows[0];
  return row === undefined ? 0 : int(row, 'n');
}

/** Prekeys in PostgreSQL. */
export class PostgresPreKeyStore implements PreKeyStore {
  /** The last pending take per device on this node (see `takeOneTimePreKey`). */
  private readonly takes = new Map<string, Promise<void>>();

  constructor(private readonly pool: pg.Pool) {}

  async setSignedPreKey(account: string, deviceId: number, key: SignedPreKeyRecord): Promise<void> {
    await query(
      this.pool,
      `INSERT INTO signed_pre_keys (account, device_id, key_id, public_key, signature)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (account, device_id) DO UPDATE SET
         key_id = excluded.key_id, public_key = excluded.public_key, signature = excluded.signature`,
      [account, deviceId, key.id, bind(key.publicKey), bind(key.signature)],
    );
  }

  async getSignedPreKey(
    account: string,
    deviceId: number,
  ): Promise<SignedPreKeyRecord | undefined> {
    const rows = await query(
      this.pool,
      'SELECT key_id, public_key, signature FROM signed_pre_keys WHERE account = $1 AND device_id = $2',
      [account, deviceId],
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    return {
      id: int(row, 'key_id'),
      publicKey: blob(row, 'public_key'),
      signature: blob(row, 'signature'),
    };
  }

  addOneTimePreKeys(
    account: string,
    deviceId: number,
    keys: readonly OneTimePreKeyRecord[],
    maxStored: number,
  ): Promise<number> {
    // One row per id, the last upload of an id winning (as in the other
    // backends); a repeated id in one INSERT … ON CONFLICT would fail.
    const byId = new Map<number, Uint8Array>();
    for (const key of keys) byId.set(key.id, key.publicKey);
    const ids = [...byId.keys()];
    return transaction(this.pool, async (db) => {
      // Two uploads for one device (two nodes) must not both pass the
      // limit: they serialize on a per-device transaction lock.
      await lockForTransaction(db, oneTimeLock(account, deviceId));
      const counted = await db.query(
        `SELECT COUNT(*) AS n, COUNT(*) FILTER (WHERE key_id = ANY($3::bigint[])) AS present
         FROM one_time_pre_keys WHERE account = $1 AND device_id = $2`,
        [account, deviceId, ids],
      );
      const row = counted.rows[0];
      const existing = row === undefined ? 0 : int(row, 'n');
      const present = row === undefined ? 0 : int(row, 'present');
      const total = existing + ids.length - present;
      if (total > maxStored) {
        throw new StoreError('limit-exceeded', 'too many one-time prekeys stored for this device');
      }
      if (ids.length > 0) {
        await db.query(
          `INSERT INTO one_time_pre_keys (account, device_id, key_id, public_key)
           SELECT $1, $2, k.id, k.public_key
           FROM unnest($3::bigint[], $4::bytea[]) AS k (id, public_key)
           ON CONFLICT (account, device_id, key_id) DO UPDATE SET public_key = excluded.public_key`,
          [account, deviceId, ids, [...byId.values()].map(bind)],
        );
      }
      return total;
    });
  }

  /**
   * Takes on one node for one device run in call order (lowest id to the
   * first caller, as the other backends do: pooled connections would
   * otherwise race each other); across nodes `take` alone keeps them apart.
   */
  takeOneTimePreKey(account: string, deviceId: number): Promise<OneTimePreKeyRecord | undefined> {
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

  private async take(account: string, deviceId: number): Promise<OneTimePreKeyRecord | undefined> {
    // SKIP LOCKED: a concurrent take holding the lowest key makes this one
    // take the next, instead of waiting and then finding the row gone.
    const rows = await query(
      this.pool,
      `DELETE FROM one_time_pre_keys WHERE (account, device_id, key_id) = (
         SELECT account, device_id, key_id FROM one_time_pre_keys
         WHERE account = $1 AND device_id = $2
         ORDER BY key_id LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING key_id, public_key`,
      [account, deviceId],
    );
    const row = rows[0];
    return row === undefined
      ? undefined
      : { id: int(row, 'key_id'), publicKey: blob(row, 'public_key') };
  }

  async countOneTimePreKeys(account: string, deviceId: number): Promise<number> {
    return count(
      await query(
        this.pool,
        'SELECT COUNT(*) AS n FROM one_time_pre_keys WHERE account = $1 AND device_id = $2',
        [account, deviceId],
      ),
    );
  }

  deleteDevice(account: string, deviceId: number): Promise<void> {
    return transaction(this.pool, (db) => deleteDeviceRows(db, PRE_KEY_TABLES, account, deviceId));
  }
}
