/** SQLite implementation of `MessageQueueStore`. */
import type Database from 'better-sqlite3';
import type { Statement } from 'better-sqlite3';
import type { RandomSource } from '../../../crypto/provider.js';
import { envelopeGuid, guidSequence } from '../envelope-guid.js';
import type { GroupCommitter } from './group-commit.js';
import { asRow, bind, blob, int, text, type Row } from './rows.js';
import type { MessageQueueStore, NewEnvelope, QueuePage, QueuedEnvelope } from '../types.js';

/**
 * `envelope` with its guid, built as a literal of the same shape as the
 * envelopes read back from the table (guid first): the push encoder reads
 * every delivered envelope, and a spread copy would give it objects of
 * other shapes to look up fields in.
 */
function withGuid(e: NewEnvelope, guid: Uint8Array): QueuedEnvelope {
  const base = {
    guid,
    destination: e.destination,
    destinationDevice: e.destinationDevice,
    source: e.source,
    sourceDevice: e.sourceDevice,
    type: e.type,
    content: e.content,
    timestamp: e.timestamp,
    serverTimestamp: e.serverTimestamp,
  };
  if (e.sourceDeviceIdentity === undefined && e.groupId === undefined) return base;
  return {
    ...base,
    ...(e.sourceDeviceIdentity === undefined
      ? {}
      : { sourceDeviceIdentity: e.sourceDeviceIdentity }),
    ...(e.groupId === undefined ? {} : { groupId: e.groupId }),
  };
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

/**
 * Durable per-device queues. Enqueues and acks are group-committed.
 *
 * The store numbers envelopes itself (`seq`, the row id) and puts the number
 * in the guid (envelope-guid.ts), so an ack deletes by primary key. That
 * assumes one server process writes the database, as the rest of the
 * server does.
 */
export class SqliteQueueStore implements MessageQueueStore {
  private readonly insert: Statement;
  private readonly selectPage: Statement;
  private readonly deleteOne: Statement;
  private readonly deleteLegacy: Statement;
  private readonly anyLegacy: Statement;
  private readonly deleteExpired: Statement;
  private readonly countDevice: Statement;
  private readonly countAll: Statement;
  private readonly deleteOfDevice: Statement;
  /**
   * The total is kept in memory after one initial COUNT, because the
   * queue-depth gauge is scraped often and COUNT(*) scans the table.
   */
  private total: number | undefined;
  /** The last sequence number handed out (numbers of deleted rows may come again; see envelope-guid.ts). */
  private lastSeq: number;
  /** Whether envelopes queued before schema version 4 (random guids) may remain. */
  private legacy: boolean;

  constructor(
    db: Database.Database,
    private readonly committer: GroupCommitter,
    private readonly checkOpen: () => void,
    private readonly random: RandomSource,
  ) {
    this.insert = db.prepare(
      `INSERT INTO envelopes (seq, guid, account, device_id, source, source_device, type, content,
         timestamp, server_timestamp, source_device_identity, group_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.selectPage = db.prepare(
      `SELECT seq, guid, account, device_id, source, source_device, type, content, timestamp,
         server_timestamp, source_device_identity, group_id FROM envelopes WHERE account = ? AND device_id = ? AND seq > ?
       ORDER BY seq LIMIT ?`,
    );
    // The whole guid and the owner must match, not just the row id: another
    // device's guid, or a guessed one, deletes nothing.
    this.deleteOne = db.prepare(
      'DELETE FROM envelopes WHERE seq = ? AND guid = ? AND account = ? AND device_id = ?',
    );
    this.deleteLegacy = db.prepare(
      `DELETE FROM envelopes WHERE guid = ? AND legacy_guid IS NOT NULL
         AND account = ? AND device_id = ?`,
    );
    this.anyLegacy = db.prepare('SELECT 1 FROM envelopes WHERE legacy_guid IS NOT NULL LIMIT 1');
    this.legacy = this.anyLegacy.get() !== undefined;
    this.lastSeq = int(
      asRow(db.prepare('SELECT COALESCE(MAX(seq), 0) AS n FROM envelopes').get()),
      'n',
    );
    this.deleteExpired = db.prepare('DELETE FROM envelopes WHERE server_timestamp < ?');
    this.countDevice = db.prepare(
      'SELECT COUNT(*) AS n FROM envelopes WHERE account = ? AND device_id = ?',
    );
    this.countAll = db.prepare('SELECT COUNT(*) AS n FROM envelopes');
    this.deleteOfDevice = db.prepare('DELETE FROM envelopes WHERE account = ? AND device_id = ?');
  }

  enqueue(envelopes: readonly NewEnvelope[]): Promise<readonly QueuedEnvelope[]> {
    return this.committer.submit(
      () => {
        const queued: QueuedEnvelope[] = [];
        for (const e of envelopes) {
          // Numbered inside the batch's transaction, so numbers follow commit
          // order: a device reading its queue by `seq` never skips one.
          this.lastSeq += 1;
          const guid = envelopeGuid(this.lastSeq, this.random);
          this.insert.run(
            this.lastSeq,
            bind(guid),
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
          );
          queued.push(withGuid(e, guid));
        }
        if (this.total !== undefined) this.total += envelopes.length;
        return queued;
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
          const seq = guidSequence(guid);
          let changes =
            seq === undefined ? 0 : this.deleteOne.run(seq, bind(guid), account, deviceId).changes;
          // An envelope queued before guids carried row ids: found through
          // the partial index on those rows alone.
          if (changes === 0 && this.legacy) {
            changes = this.deleteLegacy.run(bind(guid), account, deviceId).changes;
          }
          deleted += changes;
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
      if (this.legacy) this.legacy = this.anyLegacy.get() !== undefined;
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
