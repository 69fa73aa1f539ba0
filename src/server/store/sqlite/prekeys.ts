/** SQLite implementation of `PreKeyStore`. */
import type { Database, Statement } from 'better-sqlite3';
import type { GroupCommitter } from './group-commit.js';
import { asRow, bind, blob, int } from './rows.js';
import type { CheckedDeviceKeys } from '../initial-keys.js';
import {
  StoreError,
  type OneTimePreKeyRecord,
  type PreKeyStore,
  type SignedPreKeyRecord,
} from '../types.js';

/** Prekeys in SQLite. Takes run inside the write transaction, so they are atomic. */
export class SqlitePreKeyStore implements PreKeyStore {
  private readonly upsertSigned: Statement;
  private readonly selectSigned: Statement;
  private readonly upsertOneTime: Statement;
  private readonly countOneTime: Statement;
  private readonly hasOneTime: Statement;
  private readonly firstOneTime: Statement;
  private readonly deleteOneTime: Statement;
  private readonly deleteSignedOfDevice: Statement;
  private readonly deleteOneTimeOfDevice: Statement;

  constructor(
    db: Database,
    private readonly committer: GroupCommitter,
    private readonly checkOpen: () => void,
  ) {
    this.upsertSigned = db.prepare(
      `INSERT INTO signed_pre_keys (account, device_id, key_id, public_key, signature)
       VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (account, device_id) DO UPDATE SET
         key_id = excluded.key_id, public_key = excluded.public_key, signature = excluded.signature`,
    );
    this.selectSigned = db.prepare(
      'SELECT key_id, public_key, signature FROM signed_pre_keys WHERE account = ? AND device_id = ?',
    );
    this.upsertOneTime = db.prepare(
      `INSERT INTO one_time_pre_keys (account, device_id, key_id, public_key) VALUES (?, ?, ?, ?)
       ON CONFLICT (account, device_id, key_id) DO UPDATE SET public_key = excluded.public_key`,
    );
    this.countOneTime = db.prepare(
      'SELECT COUNT(*) AS n FROM one_time_pre_keys WHERE account = ? AND device_id = ?',
    );
    this.hasOneTime = db.prepare(
      'SELECT 1 FROM one_time_pre_keys WHERE account = ? AND device_id = ? AND key_id = ?',
    );
    this.firstOneTime = db.prepare(
      `SELECT key_id, public_key FROM one_time_pre_keys WHERE account = ? AND device_id = ?
       ORDER BY key_id LIMIT 1`,
    );
    this.deleteOneTime = db.prepare(
      'DELETE FROM one_time_pre_keys WHERE account = ? AND device_id = ? AND key_id = ?',
    );
    this.deleteSignedOfDevice = db.prepare(
      'DELETE FROM signed_pre_keys WHERE account = ? AND device_id = ?',
    );
    this.deleteOneTimeOfDevice = db.prepare(
      'DELETE FROM one_time_pre_keys WHERE account = ? AND device_id = ?',
    );
  }

  /**
   * A new device's keys, replacing any of its id. Runs only inside a write
   * transaction the caller holds (the account store's, which writes the
   * device row in it).
   */
  replaceDeviceInTransaction(account: string, deviceId: number, keys: CheckedDeviceKeys): void {
    this.deleteSignedOfDevice.run(account, deviceId);
    this.deleteOneTimeOfDevice.run(account, deviceId);
    const signed = keys.signedPreKey;
    if (signed !== undefined) {
      this.upsertSigned.run(
        account,
        deviceId,
        signed.id,
        bind(signed.publicKey),
        bind(signed.signature),
      );
    }
    for (const key of keys.oneTimePreKeys) {
      this.upsertOneTime.run(account, deviceId, key.id, bind(key.publicKey));
    }
  }

  setSignedPreKey(account: string, deviceId: number, key: SignedPreKeyRecord): Promise<void> {
    return this.committer.submit(() => {
      this.upsertSigned.run(account, deviceId, key.id, bind(key.publicKey), bind(key.signature));
    });
  }

  async getSignedPreKey(
    account: string,
    deviceId: number,
  ): Promise<SignedPreKeyRecord | undefined> {
    this.checkOpen();
    const row: unknown = this.selectSigned.get(account, deviceId);
    if (row === undefined) return undefined;
    const r = asRow(row);
    return {
      id: int(r, 'key_id'),
      publicKey: blob(r, 'public_key'),
      signature: blob(r, 'signature'),
    };
  }

  addOneTimePreKeys(
    account: string,
    deviceId: number,
    keys: readonly OneTimePreKeyRecord[],
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
        throw new StoreError('limit-exceeded', 'too many one-time prekeys stored for this device');
      }
      for (const key of keys)
        this.upsertOneTime.run(account, deviceId, key.id, bind(key.publicKey));
      return existing + newIds.size;
    });
  }

  takeOneTimePreKey(account: string, deviceId: number): Promise<OneTimePreKeyRecord | undefined> {
    return this.committer.submit(() => {
      const row: unknown = this.firstOneTime.get(account, deviceId);
      if (row === undefined) return undefined;
      const r = asRow(row);
      const key = { id: int(r, 'key_id'), publicKey: blob(r, 'public_key') };
      this.deleteOneTime.run(account, deviceId, key.id);
      return key;
    });
  }

  async countOneTimePreKeys(account: string, deviceId: number): Promise<number> {
    this.checkOpen();
    return int(asRow(this.countOneTime.get(account, deviceId)), 'n');
  }

  deleteDevice(account: string, deviceId: number): Promise<void> {
    return this.committer.submit(
      () => {
        this.deleteSignedOfDevice.run(account, deviceId);
        this.deleteOneTimeOfDevice.run(account, deviceId);
      },
      // Only deletes: allowed while the disk is full.
      { freesSpace: true },
    );
  }
}
