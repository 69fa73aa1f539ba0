/** SQLite implementation of `MessageQueueStore`. */
import type Database from 'better-sqlite3';
import type { Statement } from 'better-sqlite3';
import type { RandomSource } from '../../../crypto/provider.js';
import { envelopeGuid, guidSequence, withGuid } from '../envelope-guid.js';
import type { GroupCommitter } from './group-commit.js';
import { asRow, bind, blob, int, text, type Row } from './rows.js';
import { QueueSizes, type QueueSize } from '../queue-sizes.js';
import type {
  MessageQueueStore,
  NewEnvelope,
  QueueBounds,
  QueuePage,
  QueuedEnvelope,
} from '../types.js';

/** The content of a row whose content lives in `payloads`. */
const EMPTY = Buffer.alloc(0);

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
  private readonly insertPayload: Statement;
  private readonly selectPage: Statement;
  private readonly selectSize: Statement;
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
  /** Per-device queue sizes for the bound check on every send. */
  private readonly sizes: QueueSizes;

  constructor(
    db: Database.Database,
    private readonly committer: GroupCommitter,
    private readonly checkOpen: () => void,
    private readonly random: RandomSource,
  ) {
    this.insert = db.prepare(
      `INSERT INTO envelopes (seq, guid, account, device_id, source, source_device, type, content,
         timestamp, server_timestamp, source_device_identity, group_id, payload_id, payload_size)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.insertPayload = db.prepare('INSERT INTO payloads (content, refs) VALUES (?, ?)');
    // A shared payload's content replaces the row's own (empty) content.
    this.selectPage = db.prepare(
      `SELECT e.seq, e.guid, e.account, e.device_id, e.source, e.source_device, e.type,
         CASE WHEN e.payload_id IS NULL THEN e.content ELSE p.content END AS content,
         e.timestamp, e.server_timestamp, e.source_device_identity, e.group_id
       FROM envelopes e LEFT JOIN payloads p ON p.id = e.payload_id
       WHERE e.account = ? AND e.device_id = ? AND e.seq > ?
       ORDER BY e.seq LIMIT ?`,
    );
    this.selectSize = db.prepare(
      `SELECT COUNT(*) AS n, COALESCE(SUM(COALESCE(payload_size, length(content))), 0) AS b
       FROM envelopes WHERE account = ? AND device_id = ?`,
    );
    // The whole guid and the owner must match, not just the row id: another
    // device's guid, or a guessed one, deletes nothing. Nothing is read
    // back (RETURNING doubles the cost of the delete on this hot path): the
    // device's byte total becomes an upper bound, read again at the bound.
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
    // What each deleted row freed, so queue sizes stay exact without a reload.
    this.deleteExpired = db.prepare(
      `DELETE FROM envelopes WHERE server_timestamp < ?
       RETURNING account, device_id, COALESCE(payload_size, length(content)) AS n`,
    );
    this.countDevice = db.prepare(
      'SELECT COUNT(*) AS n FROM envelopes WHERE account = ? AND device_id = ?',
    );
    this.countAll = db.prepare('SELECT COUNT(*) AS n FROM envelopes');
    this.deleteOfDevice = db.prepare('DELETE FROM envelopes WHERE account = ? AND device_id = ?');
    this.sizes = new QueueSizes((account, deviceId) => this.loadSize(account, deviceId));
    // A failed commit undoes writes the in-memory counts already took in.
    committer.onRollback(() => {
      this.sizes.clear();
      this.total = undefined;
    });
  }

  private loadSize(account: string, deviceId: number): QueueSize {
    const row = asRow(this.selectSize.get(account, deviceId));
    return { count: int(row, 'n'), bytes: int(row, 'b') };
  }

  enqueue(
    envelopes: readonly NewEnvelope[],
    bounds?: QueueBounds,
  ): Promise<readonly QueuedEnvelope[]> {
    return this.committer.submit(
      () => {
        // Checked and counted in the batch's transaction, so two batches
        // racing for a device's last free slot cannot both pass.
        this.sizes.add(envelopes, bounds);
        try {
          return this.insertAll(envelopes);
        } catch (error) {
          this.sizes.undo(envelopes);
          throw error;
        }
      },
      // One insert is atomic by itself; several need a savepoint for all-or-nothing.
      { savepoint: envelopes.length > 1 },
    );
  }

  private insertAll(envelopes: readonly NewEnvelope[]): QueuedEnvelope[] {
    const queued: QueuedEnvelope[] = [];
    let payloadId: number | bigint | null = null;
    let shared: Uint8Array | undefined;
    for (let i = 0; i < envelopes.length; i += 1) {
      const e = envelopes[i];
      if (e === undefined) continue;
      if (e.content !== shared) {
        shared = undefined;
        payloadId = null;
        // A run of envelopes with one content object (a group fanout)
        // stores the content once, referenced by every row of the run.
        let run = 1;
        while (envelopes[i + run]?.content === e.content) run += 1;
        if (run > 1) {
          shared = e.content;
          payloadId = this.insertPayload.run(bind(e.content), run).lastInsertRowid;
        }
      }
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
        payloadId === null ? bind(e.content) : EMPTY,
        e.timestamp,
        e.serverTimestamp,
        e.sourceDeviceIdentity === undefined ? null : bind(e.sourceDeviceIdentity),
        e.groupId === undefined ? null : bind(e.groupId),
        payloadId,
        payloadId === null ? null : e.content.length,
      );
      queued.push(withGuid(e, guid));
    }
    if (this.total !== undefined) this.total += envelopes.length;
    return queued;
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
        if (deleted > 0) this.sizes.removeCount(account, deviceId, deleted);
        return deleted;
      },
      // Each delete stands alone: a partial ack is still a correct ack.
      // An ack frees space: it still runs when the disk is full.
      { savepoint: false, freesSpace: true },
    );
  }

  expire(before: number): Promise<number> {
    return this.committer.submit(
      () => {
        let deleted = 0;
        for (const value of this.deleteExpired.iterate(before)) {
          const row = asRow(value);
          this.sizes.remove(text(row, 'account'), int(row, 'device_id'), 1, int(row, 'n'));
          deleted += 1;
        }
        if (this.total !== undefined) this.total -= deleted;
        if (this.legacy) this.legacy = this.anyLegacy.get() !== undefined;
        return deleted;
      },
      { freesSpace: true },
    );
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

  async queuedBytes(account: string, deviceId: number): Promise<number> {
    this.checkOpen();
    this.committer.flushDeferred();
    return this.loadSize(account, deviceId).bytes;
  }

  deleteDevice(account: string, deviceId: number): Promise<number> {
    return this.committer.submit(
      () => {
        const deleted = this.deleteOfDevice.run(account, deviceId).changes;
        if (this.total !== undefined) this.total -= deleted;
        this.sizes.forget(account, deviceId);
        return deleted;
      },
      { freesSpace: true },
    );
  }
}
