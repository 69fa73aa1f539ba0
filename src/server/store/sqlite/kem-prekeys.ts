/** SQLite implementation of `KemPreKeyStore`. */
import type { Database, Statement } from 'better-sqlite3';
import type { GroupCommitter } from './group-commit.js';
import { asRow, bind, blob, int } from './rows.js';
import type { CheckedDeviceKeys } from '../initial-keys.js';
import { StoreError, type KemPreKeyRecord, type KemPreKeyStore } from '../types.js';

function record(row: unknown): KemPreKeyRecord {
  const r = asRow(row);
  return {
    id: int(r, 'key_id'),
    publicKey: blob(r, 'public_key'),
    signature: blob(r, 'signature'),
  };
}

/** KEM prekeys in SQLite. Takes run inside the write transaction, so they are atomic. */
export class SqliteKemPreKeyStore implements KemPreKeyStore {
  private readonly upsertLastResort: Statement;
  private readonly selectLastResort: Statement;
  private readonly upsertOneTime: Statement;
  private readonly countOneTime: Statement;
  private readonly hasOneTime: Statement;
  private readonly firstOneTime: Statement;
  private readonly deleteOneTime: Statement;
  private readonly deleteLastResortOfDevice: Statement;
  private readonly deleteOneTimeOfDevice: Statement;

  constructor(
    db: Database,
    private readonly committer: GroupCommitter,
    private readonly checkOpen: () => void,
  ) {
    this.upsertLastResort = db.prepare(
      `INSERT INTO kem_last_resort_pre_keys (account, device_id, key_id, public_key, signature)
       VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (account, device_id) DO UPDATE SET
         key_id = excluded.key_id, public_key = excluded.public_key, signature = excluded.signature`,
    );
    this.selectLastResort = db.prepare(
      `SELECT key_id, public_key, signature FROM kem_last_resort_pre_keys
       WHERE account = ? AND device_id = ?`,
    );
    this.upsertOneTime = db.prepare(
      `INSERT INTO kem_one_time_pre_keys (account, device_id, key_id, public_key, signature)
       VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (account, device_id, key_id) DO UPDATE SET
         public_key = excluded.public_key, signature = excluded.signature`,
    );
    this.countOneTime = db.prepare(
      'SELECT COUNT(*) AS n FROM kem_one_time_pre_keys WHERE account = ? AND device_id = ?',
    );
    this.hasOneTime = db.prepare(
      'SELECT 1 FROM kem_one_time_pre_keys WHERE account = ? AND device_id = ? AND key_id = ?',
    );
    this.firstOneTime = db.prepare(
      `SELECT key_id, public_key, signature FROM kem_one_time_pre_keys
       WHERE account = ? AND device_id = ? ORDER BY key_id LIMIT 1`,
    );
    this.deleteOneTime = db.prepare(
      'DELETE FROM kem_one_time_pre_keys WHERE account = ? AND device_id = ? AND key_id = ?',
    );
    this.deleteLastResortOfDevice = db.prepare(
      'DELETE FROM kem_last_resort_pre_keys WHERE account = ? AND device_id = ?',
    );
    this.deleteOneTimeOfDevice = db.prepare(
      'DELETE FROM kem_one_time_pre_keys WHERE account = ? AND device_id = ?',
    );
  }

  /**
   * A new device's KEM keys, replacing any of its id. Runs only inside a
   * write transaction the caller holds (the account store's).
   */
  replaceDeviceInTransaction(account: string, deviceId: number, keys: CheckedDeviceKeys): void {
    this.deleteLastResortOfDevice.run(account, deviceId);
    this.deleteOneTimeOfDevice.run(account, deviceId);
    const last = keys.lastResortKemPreKey;
    if (last !== undefined) {
      this.upsertLastResort.run(
        account,
        deviceId,
        last.id,
        bind(last.publicKey),
        bind(last.signature),
      );
    }
    for (const key of keys.oneTimeKemPreKeys) {
      this.upsertOneTime.run(account, deviceId, key.id, bind(key.publicKey), bind(key.signature));
    }
  }

  setLastResortKemPreKey(account: string, deviceId: number, key: KemPreKeyRecord): Promise<void> {
    return this.committer.submit(() => {
      this.upsertLastResort.run(
        account,
        deviceId,
        key.id,
        bind(key.publicKey),
        bind(key.signature),
      );
    });
  }

  async getLastResortKemPreKey(
    account: string,
    deviceId: number,
  ): Promise<KemPreKeyRecord | undefined> {
    this.checkOpen();
    const row: unknown = this.selectLastResort.get(account, deviceId);
    return row === undefined ? undefined : record(row);
  }

  addOneTimeKemPreKeys(
    account: string,
    deviceId: number,
    keys: readonly KemPreKeyRecord[],
    maxStored: number,
  ): Promise<number> {
    return this.committer.submit(() => {
      const existing = int(asRow(this.countOneTime.get(account, deviceId)), 'n');
      const newIds = new Set<number>();
      for (const key of keys) {
        if (this.hasOneTime.get(account, deviceId, key.id) === undefined) newIds.add(key.id);
      }
      if (existing + newIds.size > maxStored) {
        // Thrown inside the savepoint: nothing of this upload is kept.
        throw new StoreError(
          'limit-exceeded',
          'too many one-time KEM prekeys stored for this device',
        );
      }
      for (const key of keys) {
        this.upsertOneTime.run(account, deviceId, key.id, bind(key.publicKey), bind(key.signature));
      }
      return existing + newIds.size;
    });
  }

  takeOneTimeKemPreKey(account: string, deviceId: number): Promise<KemPreKeyRecord | undefined> {
    return this.committer.submit(() => {
      const row: unknown = this.firstOneTime.get(account, deviceId);
      if (row === undefined) return undefined;
      const key = record(row);
      this.deleteOneTime.run(account, deviceId, key.id);
      return key;
    });
  }

  async countOneTimeKemPreKeys(account: string, deviceId: number): Promise<number> {
    this.checkOpen();
    return int(asRow(this.countOneTime.get(account, deviceId)), 'n');
  }

  deleteDevice(account: string, deviceId: number): Promise<void> {
    return this.committer.submit(
      () => {
        this.deleteLastResortOfDevice.run(account, deviceId);
        this.deleteOneTimeOfDevice.run(account, deviceId);
      },
      // Only deletes: allowed while the disk is full.
      { freesSpace: true },
    );
  }
}
