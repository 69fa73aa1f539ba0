/**
 * PostgreSQL implementation of `MessageQueueStore` (tables: queue-schema.ts).
 *
 * Writes are group-committed like the SQLite backend's: every `enqueue` and
 * `ack` submitted during one event-loop turn goes to PostgreSQL as one
 * statement, its own transaction (queue-batch.ts), and each caller's
 * promise settles only after it committed — except that acks with no
 * enqueue in their turn wait up to `ackDelayMs` for one to travel with
 * (`holdingAcks`). If the transaction fails, every caller of the batch rejects — with
 * `StoreError('unavailable')` when the connection was lost — and nothing of
 * it is stored.
 *
 * Up to `MAX_BATCHES_IN_FLIGHT` batches run at once, but never two touching
 * one device (enqueued to or acked): an op naming a device of a batch in
 * flight waits in `next`, and so does every later op naming any device of
 * a waiting op, so this node's writes for a device still reach the table in
 * submission order. At one message in flight per connection a batch's time
 * is mostly its commit (the WAL flush) and the scheduling around it; the
 * other devices' ops no longer wait for it. Callers hear of batches in the
 * order they started, so ops writing a common device are answered in
 * submission order; an op that waited may be answered after a later op of
 * other devices (answers carry their request id).
 *
 * Queue sizes for the bounds are exact across the cluster rather than
 * per-node approximations: enqueues add to the device's `queue_heads` row,
 * which every sender to that device (any node) locks for the sequence
 * number anyway, and acks add to its `queue_acks` row, so an enqueue and an
 * ack of one device never wait for each other (queue-acks-schema.ts). The
 * bound check reads the locked head and the last committed acks: at worst
 * it sees the queue fuller than it is, never emptier.
 */
import type pg from 'pg';
import type { RandomSource } from '../../../crypto/provider.js';
import { guidSequence } from '../envelope-guid.js';
import {
  StoreError,
  type MessageQueueStore,
  type NewEnvelope,
  type QueueBounds,
  type QueuePage,
  type QueuedEnvelope,
} from '../types.js';
import { mapPgError as toStoreError } from './errors.js';
import { expireBatch, inTransaction, purgeDevice } from './queue-purge.js';
import {
  deviceKey,
  newBatch,
  opDevices,
  writeBatch,
  type AckOp,
  type Batch,
  type BatchOp,
  type EnqueueOp,
} from './queue-batch.js';
import { defaultRandom, storable, toEnvelope } from './queue-rows.js';
import { int, type Row } from './rows.js';

/** Options of `PostgresQueueStore`. */
export interface PostgresQueueOptions {
  /** Source of the guids' random half (default: node:crypto). */
  readonly random?: RandomSource;
  /** Decides when a batch flushes (default `setImmediate`: the end of the turn). */
  readonly scheduleCommit?: (flush: () => void) => void;
  /** Hears failures no caller is waiting on (a ROLLBACK that failed, say). */
  readonly onError?: (error: unknown) => void;
  /** Rows one TTL statement deletes at most (default 1000): bounded locks per statement. */
  readonly expireBatchSize?: number;
  /**
   * Deletes by this store after which it vacuums the queue tables (default
   * 5000; 0 = never, leaving it to the operator's autovacuum). See `vacuum`.
   */
  readonly vacuumAfterDeletes?: number;
  /**
   * How long acks with no enqueue to travel with may wait for one, ms
   * (default 25; 0 = commit them at the end of their turn like enqueues).
   * See `flush`.
   */
  readonly ackDelayMs?: number;
}

/**
 * Batches of one node in flight at once (each holds a pooled connection).
 * Two let a batch of other devices start while one commits, but under load
 * they halve the batch size and cost CPU per message, and on the shared
 * two-core test machine their gain could not be told from noise; one keeps
 * every reply in request order. Per-device order holds with either.
 */
const MAX_BATCHES_IN_FLIGHT = 1;

/** Durable per-device queues in PostgreSQL, group-committed per event-loop turn. */
export class PostgresQueueStore implements MessageQueueStore {
  private readonly random: RandomSource;
  private readonly scheduleCommit: (flush: () => void) => void;
  private readonly onError: (error: unknown) => void;
  private readonly expireBatchSize: number;
  private readonly vacuumAfterDeletes: number;
  private readonly ackDelayMs: number;
  /** Runs `flush` once held acks have waited `ackDelayMs`. */
  private ackTimer: NodeJS.Timeout | undefined;
  /** Held acks must go with the next batch (their wait is over, or a read waits for them). */
  private acksDue = false;
  private deletedSinceVacuum = 0;
  private vacuuming: Promise<void> | undefined;
  /** Vacuums this store ran (tests and metrics). */
  vacuums = 0;
  /** Collecting submissions of the current turn. */
  private next: Batch = newBatch();
  /** Started and not yet settled, oldest first. */
  private readonly inFlight: Batch[] = [];
  private scheduled = false;
  private closed = false;
  /** Transactions committed so far (tests and metrics). */
  commits = 0;
  /** Sequences come from each device's `queue_heads` row, taken under its lock. */
  readonly contiguousSequences = true;

  constructor(
    private readonly pool: pg.Pool,
    options: PostgresQueueOptions = {},
  ) {
    this.random = options.random ?? defaultRandom;
    this.scheduleCommit = options.scheduleCommit ?? setImmediate;
    this.onError =
      options.onError ??
      ((error: unknown) => {
        // No logger was given: stderr rather than a silently lost failure.
        console.error('postgres queue:', error);
      });
    this.expireBatchSize = options.expireBatchSize ?? 1000;
    this.vacuumAfterDeletes = options.vacuumAfterDeletes ?? 5000;
    this.ackDelayMs = options.ackDelayMs ?? 25;
  }

  enqueue(
    envelopes: readonly NewEnvelope[],
    bounds?: QueueBounds,
  ): Promise<readonly QueuedEnvelope[]> {
    if (!envelopes.every(storable)) {
      return Promise.reject(new StoreError('corrupt', 'an envelope has a field of the wrong type'));
    }
    if (envelopes.length === 0) return this.closed ? this.closedError() : Promise.resolve([]);
    const op: EnqueueOp = { kind: 'enqueue', envelopes, bounds, result: undefined };
    return this.submit<readonly QueuedEnvelope[]>(op);
  }

  ack(account: string, deviceId: number, guids: readonly Uint8Array[]): Promise<number> {
    const seqs: number[] = [];
    const valid: Uint8Array[] = [];
    for (const guid of guids) {
      // A guid naming no sequence cannot be one this store made.
      const seq = guidSequence(guid);
      if (seq === undefined) continue;
      seqs.push(seq);
      valid.push(guid);
    }
    const op: AckOp = { kind: 'ack', account, deviceId, seqs, guids: valid, deleted: 0 };
    if (seqs.length === 0) return this.closed ? this.closedError() : Promise.resolve(0);
    this.next.ackedDevices.add(deviceKey(account, deviceId));
    return this.submit<number>(op);
  }

  private closedError(): Promise<never> {
    return Promise.reject(new StoreError('closed', 'store is closed'));
  }

  private submit<T>(op: BatchOp): Promise<T> {
    if (this.closed) return this.closedError();
    return new Promise<T>((resolve, reject) => {
      this.next.entries.push({ op, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        this.scheduleCommit(() => this.flush());
      }
    });
  }

  /**
   * Starts what was collected, minus the ops that must wait for a batch in
   * flight (see the top of the file); they go when it settles.
   */
  private flush(): void {
    this.scheduled = false;
    if (this.next.entries.length === 0 || this.inFlight.length >= MAX_BATCHES_IN_FLIGHT) return;
    if (this.holdingAcks()) return;
    const batch = this.take();
    if (batch === undefined) return;
    if (this.next.ackedDevices.size === 0) {
      clearTimeout(this.ackTimer);
      this.ackTimer = undefined;
      this.acksDue = false;
    }
    const previous = this.inFlight[this.inFlight.length - 1];
    this.inFlight.push(batch);
    void this.commit(batch, previous).finally(() => {
      this.inFlight.splice(this.inFlight.indexOf(batch), 1);
      batch.settle();
      this.flush();
    });
  }

  /**
   * Whether `next` holds only acks that may still wait for an enqueue to
   * travel with (then the timer that ends their wait is armed). A batch
   * costs PostgreSQL and the node about the same whatever it carries (the
   * statement's start-up, the commit and its WAL flush, the round trip), and
   * in a cluster the acks of a device come from another node than its
   * senders, so committing them on their own doubled the batches per
   * message. Nothing waits for them: the client's ack was answered at once
   * (handlers/messages.ts), a lost one only means a redelivery clients
   * drop, and reads of the device make them go first (`acksSettled`).
   */
  private holdingAcks(): boolean {
    if (this.ackDelayMs === 0 || this.acksDue || this.closed) return false;
    for (const entry of this.next.entries) if (entry.op.kind !== 'ack') return false;
    this.ackTimer ??= setTimeout(() => {
      this.ackTimer = undefined;
      this.acksDue = true;
      this.flush();
    }, this.ackDelayMs);
    return true;
  }

  /** Ends the wait of held acks: they go with the next batch, started at the end of this turn. */
  private hurryAcks(): void {
    this.acksDue = true;
    if (!this.scheduled) {
      this.scheduled = true;
      this.scheduleCommit(() => this.flush());
    }
  }

  /** Splits off of `next` the ops free to start now; undefined: none is. */
  private take(): Batch | undefined {
    const collected = this.next;
    // Nothing in flight: every op is free, and the collected batch goes as
    // it is — its acked devices are already listed, and the devices it
    // writes matter only to a batch started while it runs, which a single
    // batch in flight rules out. Skips two key strings and set operations
    // per op, about 5 % of a node's CPU per message at one in flight.
    if (this.inFlight.length === 0 && MAX_BATCHES_IN_FLIGHT === 1) {
      this.next = newBatch();
      return collected;
    }
    const busy = new Set<string>();
    for (const b of this.inFlight) for (const key of b.devices) busy.add(key);
    const taken = newBatch();
    const rest = newBatch();
    for (const entry of collected.entries) {
      const keys = opDevices(entry.op);
      const target = keys.some((key) => busy.has(key)) ? rest : taken;
      target.entries.push(entry);
      if (target === rest) for (const key of keys) busy.add(key);
      else for (const key of keys) taken.devices.add(key);
      if (entry.op.kind === 'ack') {
        target.ackedDevices.add(deviceKey(entry.op.account, entry.op.deviceId));
      }
    }
    if (taken.entries.length === 0) return undefined;
    this.next = rest;
    // Reads waiting on the collected batch look again, at the two halves.
    collected.settle();
    return taken;
  }

  private async commit(batch: Batch, previous: Batch | undefined): Promise<void> {
    const ops = batch.entries.map((entry) => entry.op);
    let failed = false;
    let failure: unknown;
    try {
      await writeBatch(this.pool, ops, this.random);
      this.commits += 1;
      for (const op of ops) if (op.kind === 'ack') this.deleted(op.deleted);
    } catch (error) {
      failed = true;
      failure = toStoreError(error);
    }
    // Answers in the order the batches started (request order).
    await previous?.settled;
    if (failed) {
      for (const entry of batch.entries) entry.reject(failure);
      return;
    }
    for (const entry of batch.entries) {
      const { op } = entry;
      if (op.kind === 'ack') {
        entry.resolve(op.deleted as never);
      } else if (op.result instanceof StoreError) {
        entry.reject(op.result);
      } else {
        entry.resolve((op.result ?? []) as never);
      }
    }
  }

  /**
   * Runs `body` in a transaction on a pooled connection. A connection that
   * failed is destroyed rather than returned, so the pool never hands out a
   * dead socket; a ROLLBACK that fails is reported, the body's error thrown.
   */
  private transaction<T>(body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, this.onError, body);
  }

  /**
   * Waits until no batch carrying an ack of this device is pending or in
   * flight, so a read never returns what the device already acknowledged.
   */
  private async acksSettled(account: string, deviceId: number): Promise<void> {
    const key = deviceKey(account, deviceId);
    for (;;) {
      const inFlight = this.inFlight.find((b) => b.ackedDevices.has(key));
      if (inFlight !== undefined) {
        await inFlight.settled;
      } else if (this.next.ackedDevices.has(key)) {
        this.hurryAcks();
        await this.next.settled;
      } else {
        return;
      }
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new StoreError('closed', 'store is closed');
  }

  /** One statement on the pool; `name` prepares it once per connection (hot reads). */
  private async read(text: string, values: readonly unknown[], name?: string): Promise<Row[]> {
    this.checkOpen();
    try {
      return (
        await this.pool.query<Row>(
          name === undefined ? { text, values: [...values] } : { name, text, values: [...values] },
        )
      ).rows;
    } catch (error) {
      throw toStoreError(error);
    }
  }

  async page(account: string, deviceId: number, after: number, limit: number): Promise<QueuePage> {
    this.checkOpen();
    await this.acksSettled(account, deviceId);
    // A shared payload's content replaces the row's own (empty) content.
    const rows = await this.read(
      `SELECT e.seq, e.guid, e.account, e.device_id, e.source, e.source_device, e.type,
         CASE WHEN e.payload_id IS NULL THEN e.content ELSE p.content END AS content,
         e.timestamp, e.server_timestamp, e.source_device_identity, e.group_id
       FROM queue_envelopes e LEFT JOIN queue_payloads p ON p.id = e.payload_id
       WHERE e.account = $1 AND e.device_id = $2 AND e.seq > $3
       ORDER BY e.seq LIMIT $4`,
      [account, deviceId, after, limit],
      'quintet_queue_page',
    );
    const last = rows[rows.length - 1];
    return {
      envelopes: rows.map(toEnvelope),
      cursor: last === undefined ? after : int(last, 'seq'),
    };
  }

  async count(account: string, deviceId: number): Promise<number> {
    return (await this.size(account, deviceId)).count;
  }

  async queuedBytes(account: string, deviceId: number): Promise<number> {
    return (await this.size(account, deviceId)).bytes;
  }

  private async size(account: string, deviceId: number): Promise<{ count: number; bytes: number }> {
    this.checkOpen();
    await this.acksSettled(account, deviceId);
    // One statement, one snapshot: a consistent head and ack row.
    const rows = await this.read(
      `SELECT h.count - coalesce(k.count, 0) AS count, h.bytes - coalesce(k.bytes, 0) AS bytes
       FROM queue_heads h LEFT JOIN queue_acks k
         ON k.account = h.account AND k.device_id = h.device_id
       WHERE h.account = $1 AND h.device_id = $2`,
      [account, deviceId],
    );
    const row = rows[0];
    return row === undefined
      ? { count: 0, bytes: 0 }
      : { count: int(row, 'count'), bytes: int(row, 'bytes') };
  }

  async totalCount(): Promise<number> {
    // The heads' counters, not COUNT(*) over the queue: the gauge is scraped often.
    const rows = await this.read(
      `SELECT (SELECT coalesce(sum(count), 0) FROM queue_heads)
            - (SELECT coalesce(sum(count), 0) FROM queue_acks) AS n`,
      [],
    );
    return rows[0] === undefined ? 0 : int(rows[0], 'n');
  }

  /**
   * Deletes in transactions of at most `expireBatchSize` rows, each holding
   * its locks only for that many: run on one node (the caller's advisory
   * lock) while every node keeps enqueueing and acking.
   */
  async expire(before: number): Promise<number> {
    this.checkOpen();
    let total = 0;
    for (;;) {
      let result: { deleted: number; more: boolean };
      try {
        result = await this.transaction((client) =>
          expireBatch(client, before, this.expireBatchSize),
        );
      } catch (error) {
        throw toStoreError(error);
      }
      total += result.deleted;
      this.deleted(result.deleted);
      if (!result.more || this.closed) return total;
    }
  }

  async deleteDevice(account: string, deviceId: number): Promise<number> {
    this.checkOpen();
    let deleted: number;
    try {
      deleted = await this.transaction((client) => purgeDevice(client, account, deviceId));
    } catch (error) {
      throw toStoreError(error);
    }
    this.deleted(deleted);
    return deleted;
  }

  /**
   * Makes the space of acknowledged envelopes reusable: a plain VACUUM of
   * the queue tables (no lock that blocks sends or acks). Every message is
   * deleted soon after it is inserted, so without this the tables grow with
   * the traffic instead of the queued backlog — and autovacuum cannot be
   * relied on for that: it wakes once per `autovacuum_naptime` (a minute by
   * default) and may be switched off altogether. So each store runs it
   * itself after `vacuumAfterDeletes` of its own deletes, in the
   * background; SKIP_LOCKED makes a node whose peer is vacuuming skip its
   * turn instead of queueing behind it. bench/queue-bloat.ts measures it.
   */
  async vacuum(): Promise<void> {
    this.checkOpen();
    try {
      await this.pool.query(
        'VACUUM (SKIP_LOCKED) queue_envelopes, queue_payloads, queue_heads, queue_acks',
      );
      this.vacuums += 1;
    } catch (error) {
      throw toStoreError(error);
    }
  }

  /** Counts deletes and starts a background vacuum once enough have piled up. */
  private deleted(count: number): void {
    this.deletedSinceVacuum += count;
    if (
      this.vacuumAfterDeletes === 0 ||
      this.deletedSinceVacuum < this.vacuumAfterDeletes ||
      this.vacuuming !== undefined ||
      this.closed
    ) {
      return;
    }
    this.deletedSinceVacuum = 0;
    this.vacuuming = this.vacuum()
      .catch((error: unknown) => this.onError(error))
      .finally(() => {
        this.vacuuming = undefined;
      });
  }

  /** Commits what is pending and refuses further calls with `StoreError('closed')`. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.flush();
    while (this.inFlight.length > 0 || this.next.entries.length > 0) {
      await (this.inFlight[0] ?? this.next).settled;
      this.flush();
    }
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    await this.vacuuming;
  }
}
