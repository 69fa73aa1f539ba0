/** SQLite implementation of `MessageQueueStore`. */
import Database, { type Statement } from 'better-sqlite3';
import type { GroupCommitter } from './group-commit.js';
import { asRow, bind, blob, int, text, type Row } from './rows.js';
import {
  StoreError,
  type MessageQueueStore,
  type QueuePage,
  type QueuedEnvelope,
} from '../types.js';

/** Runs an insert, turning a guid collision into a typed error (the savepoint rolls back the batch). */
function insertOrThrow(statement: Statement, params: unknown[]): void {
  try {
    statement.run(...params);
  } catch (error) {
    if (error instanceof Database.SqliteError && error.code.startsWith('SQLITE_CONSTRAINT')) {
      throw new StoreError('duplicate-guid', 'envelope guid already queued', { cause: error });
    }
    throw error;
  }
}

function toEnvelope(row: Row): QueuedEnvelope {
  return {
    guid: blob(row, 'guid'),
    destination: text(row, 'account'),
    destinationDevice: int(row, 'device_id'),
    source: text(row, 'source'),
    sourceDevice: int(row, 'source_device'),
    type: int(row, 'type'),
    content: blob(row, 'content'),
    timestamp: int(row, 'timestamp'),
    serverTimestamp: int(row, 'server_timestamp'),
    ...sourceIdentity(row),
    ...groupOf(row),
  };
}

/** The group id of a SENDER_KEY envelope (NULL for all others). */
function groupOf(row: Row): { groupId?: Uint8Array } {
  return row['group_id'] === null || row['group_id'] === undefined
    ? {}
    : { groupId: blob(row, 'group_id') };
}

/** The optional companion identity of a PREKEY envelope (NULL for all others). */
function sourceIdentity(row: Row): { sourceDeviceIdentity?: Uint8Array } {
  return row['source_device_identity'] === null || row['source_device_identity'] === undefined
    ? {}
    : { sourceDeviceIdentity: blob(row, 'source_device_identity') };
}

/** Durable per-device queues. Enqueues and acks are group-committed. */
export class SqliteQueueStore implements MessageQueueStore {
  private readonly insert: Statement;
  private readonly selectPage: Statement;
  private readonly deleteOne: Statement;
  private readonly deleteExpired: Statement;
  private readonly countDevice: Statement;
  private readonly countAll: Statement;
  private readonly deleteOfDevice: Statement;
  /**
   * The total is kept in memory after one initial COUNT, because the
   * queue-depth gauge is scraped often and COUNT(*) scans the table.
   */
  private total: number | undefined;

  constructor(
    db: Database.Database,
    private readonly committer: GroupCommitter,
    private readonly checkOpen: () => void,
  ) {
    this.insert = db.prepare(
      `INSERT INTO envelopes (guid, account, device_id, source, source_device, type, content,
         timestamp, server_timestamp, source_device_identity, group_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.selectPage = db.prepare(
      `SELECT seq, guid, account, device_id, source, source_device, type, content, timestamp,
         server_timestamp, source_device_identity, group_id FROM envelopes WHERE account = ? AND device_id = ? AND seq > ?
       ORDER BY seq LIMIT ?`,
    );
    // Ownership is part of the key: another device's guid matches no row.
    this.deleteOne = db.prepare(
      'DELETE FROM envelopes WHERE guid = ? AND account = ? AND device_id = ?',
    );
    this.deleteExpired = db.prepare('DELETE FROM envelopes WHERE server_timestamp < ?');
    this.countDevice = db.prepare(
      'SELECT COUNT(*) AS n FROM envelopes WHERE account = ? AND device_id = ?',
    );
    this.countAll = db.prepare('SELECT COUNT(*) AS n FROM envelopes');
    this.deleteOfDevice = db.prepare('DELETE FROM envelopes WHERE account = ? AND device_id = ?');
  }

  enqueue(envelopes: readonly QueuedEnvelope[]): Promise<void> {
    return this.committer.submit(
      () => {
        for (const e of envelopes) {
          insertOrThrow(this.insert, [
            bind(e.guid),
            e.destination,
            e.destinationDevice,
            e.source,
            e.sourceDevice,
            e.type,
            bind(e.content),
            e.timestamp,
            e.serverTimestamp,
            e.sourceDeviceIdentity === undefined ? null : bind(e.sourceDeviceIdentity),
            e.groupId === undefined ? null : bind(e.groupId),
          ]);
        }
        if (this.total !== undefined) this.total += envelopes.length;
      },
      // One insert is atomic by itself; several need a savepoint for all-or-nothing.
      { savepoint: envelopes.length > 1 },
    );
  }

  async page(account: string, deviceId: number, after: number, limit: number): Promise<QueuePage> {
    this.checkOpen();
    this.committer.flushDeferred();
    const rows = this.selectPage.all(account, deviceId, after, limit).map(asRow);
    const last = rows[rows.length - 1];
    return {
      envelopes: rows.map(toEnvelope),
      cursor: last === undefined ? after : int(last, 'seq'),
    };
  }

  /**
   * Deletes are deferred (see `GroupCommitter.submitDeferred`): nobody waits
   * on them, and an ack committed late — or lost in a crash — only means a
   * redelivery, which clients drop by their processed mark. Reads of a queue
   * commit pending deletes first, so a reconnecting device is never sent
   * what it already acked.
   */
  ack(account: string, deviceId: number, guids: readonly Uint8Array[]): Promise<number> {
    return this.committer.submitDeferred(
      () => {
        let deleted = 0;
        for (const guid of guids) {
          deleted += this.deleteOne.run(bind(guid), account, deviceId).changes;
        }
        if (this.total !== undefined) this.total -= deleted;
        return deleted;
      },
      // Each delete stands alone: a partial ack is still a correct ack.
      { savepoint: false },
    );
  }

  expire(before: number): Promise<number> {
    return this.committer.submit(() => {
      const deleted = this.deleteExpired.run(before).changes;
      if (this.total !== undefined) this.total -= deleted;
      return deleted;
    });
  }

  async count(account: string, deviceId: number): Promise<number> {
    this.checkOpen();
    this.committer.flushDeferred();
    return int(asRow(this.countDevice.get(account, deviceId)), 'n');
  }

  async totalCount(): Promise<number> {
    this.checkOpen();
    if (this.total === undefined) this.total = int(asRow(this.countAll.get()), 'n');
    return this.total;
  }

  deleteDevice(account: string, deviceId: number): Promise<number> {
    return this.committer.submit(() => {
      const deleted = this.deleteOfDevice.run(account, deviceId).changes;
      if (this.total !== undefined) this.total -= deleted;
      return deleted;
    });
  }
}
