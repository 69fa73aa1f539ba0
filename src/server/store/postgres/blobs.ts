/**
 * The blob store in cluster mode: chunked rows in the shared PostgreSQL
 * (tables in blobs-schema.ts), so a blob uploaded through one node is
 * downloadable through every other.
 *
 * It has a pool of its own: an upload holds one connection for its whole
 * transaction (as long as the client takes to send the body), and doing
 * that on the message store's pool would let a few slow uploads starve
 * sends and acks. The tables are created by the store's migrations, so
 * open this after `openPostgresStore`.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import {
  BLOB_KINDS,
  BlobStoreError,
  isBlobId,
  type BlobKind,
  type BlobRecord,
  type BlobReservation,
  type BlobStore,
} from '../../blobs/blob-store.js';
import { mapPgError } from './errors.js';
import { checkSchemaName } from './migrations.js';
import { bind, blob, int, text, type Row } from './rows.js';
import { lockForTransaction } from './sql.js';

/** Bytes per `blob_chunks` row. */
export const BLOB_CHUNK_BYTES = 256 * 1024;

/** Options of `openPostgresBlobStore`. */
export interface PostgresBlobStoreOptions {
  readonly url: string;
  /** Schema the store's migrations created (default `public`). */
  readonly schema?: string;
  /** Connections for blob traffic: bounds concurrent uploads on this node too (default 8). */
  readonly poolSize?: number;
  /** Hears an idle connection dying (default: a process warning). */
  readonly onError?: (error: unknown) => void;
}

/** Opens the blob store on an already migrated schema. */
export function openPostgresBlobStore(options: PostgresBlobStoreOptions): BlobStore {
  const schema = checkSchemaName(options.schema ?? 'public');
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 8,
    options: `-c search_path=${schema}`,
    connectionTimeoutMillis: 5_000,
    application_name: `quintet-blobs/${schema}`.slice(0, 63),
  });
  const onError =
    options.onError ??
    ((error: unknown) => process.emitWarning(`PostgreSQL blob store: ${String(error)}`));
  pool.on('error', (error) => onError(mapPgError(error)));
  return new PostgresBlobStore(pool);
}

function mapError(error: unknown): unknown {
  if (error instanceof BlobStoreError) return error;
  return mapPgError(error);
}

function recordOf(row: Row): BlobRecord {
  const kind = text(row, 'kind');
  if (!BLOB_KINDS.includes(kind as BlobKind)) throw new Error('blobs row has an unknown kind');
  return {
    id: text(row, 'id'),
    account: text(row, 'account'),
    kind: kind as BlobKind,
    size: int(row, 'size'),
    createdAt: int(row, 'created_at'),
    expiresAt: int(row, 'expires_at'),
  };
}

/** `BlobStore` on PostgreSQL. */
export class PostgresBlobStore implements BlobStore {
  #key: Uint8Array | undefined;
  #closed = false;

  constructor(private readonly pool: pg.Pool) {}

  #open(): void {
    if (this.#closed) throw new BlobStoreError('closed', 'blob store is closed');
  }

  async put(record: BlobRecord, body: AsyncIterable<Uint8Array>): Promise<void> {
    this.#open();
    await this.#transaction(async (client) => {
      await client.query(
        `INSERT INTO blobs (id, account, kind, size, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [record.id, record.account, record.kind, record.size, record.createdAt, record.expiresAt],
      );
      let seq = 0;
      let received = 0;
      const pending: Uint8Array[] = [];
      let pendingBytes = 0;
      const flush = async (bytes: number): Promise<void> => {
        const all = Buffer.concat(pending, pendingBytes);
        const chunk = all.subarray(0, bytes);
        const rest = all.subarray(bytes);
        pending.length = 0;
        pendingBytes = 0;
        if (rest.length > 0) {
          pending.push(rest);
          pendingBytes = rest.length;
        }
        await client.query('INSERT INTO blob_chunks (blob_id, seq, data) VALUES ($1, $2, $3)', [
          record.id,
          seq,
          bind(chunk),
        ]);
        seq += 1;
      };
      for await (const piece of body) {
        received += piece.length;
        if (received > record.size) throw new BlobStoreError('size-mismatch', 'body too long');
        pending.push(piece);
        pendingBytes += piece.length;
        // Each insert is awaited before the next piece is read: the
        // client's upload waits for the database (backpressure).
        while (pendingBytes >= BLOB_CHUNK_BYTES) await flush(BLOB_CHUNK_BYTES);
      }
      if (received !== record.size) throw new BlobStoreError('size-mismatch', 'body too short');
      if (pendingBytes > 0) await flush(pendingBytes);
      // The claim ends in the commit that makes the blob count.
      await client.query('DELETE FROM blob_reservations WHERE id = $1', [record.id]);
    });
  }

  /**
   * Runs `body` in a transaction on a connection of its own, held for the
   * whole body (an upload streams through it). The connection dying
   * surfaces through the next query; the listener only keeps it from being
   * an unhandled 'error' event. On a throw: ROLLBACK on a healthy
   * connection; a broken one is destroyed, which ends the transaction
   * server-side all the same.
   */
  async #transaction<T>(body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw mapError(error);
    }
    const onLost = (): void => undefined;
    client.on('error', onLost);
    let broken = false;
    try {
      await client.query('BEGIN');
      const result = await body(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw mapError(error);
    } finally {
      client.off('error', onLost);
      client.release(broken);
    }
  }

  async get(id: string, now: number): Promise<BlobRecord | undefined> {
    this.#open();
    if (!isBlobId(id)) return undefined;
    try {
      const result = await this.pool.query<Row>(
        'SELECT id, account, kind, size, created_at, expires_at FROM blobs WHERE id = $1 AND expires_at > $2',
        [id, now],
      );
      const row = result.rows[0];
      return row === undefined ? undefined : recordOf(row);
    } catch (error) {
      throw mapError(error);
    }
  }

  async *read(id: string, start: number, end: number): AsyncIterable<Uint8Array> {
    this.#open();
    // One chunk per query: memory stays at one chunk whatever the range.
    for (let seq = Math.floor(start / BLOB_CHUNK_BYTES); seq * BLOB_CHUNK_BYTES <= end; seq++) {
      let result: pg.QueryResult<Row>;
      try {
        result = await this.pool.query<Row>(
          'SELECT data FROM blob_chunks WHERE blob_id = $1 AND seq = $2',
          [id, seq],
        );
      } catch (error) {
        throw mapError(error);
      }
      const row = result.rows[0];
      if (row === undefined) throw new BlobStoreError('gone', 'blob is gone');
      const data = blob(row, 'data');
      const base = seq * BLOB_CHUNK_BYTES;
      const from = Math.max(0, start - base);
      const to = Math.min(data.length, end - base + 1);
      yield data.subarray(from, to);
    }
  }

  async delete(id: string, account: string): Promise<boolean> {
    this.#open();
    if (!isBlobId(id)) return false;
    try {
      const result = await this.pool.query('DELETE FROM blobs WHERE id = $1 AND account = $2', [
        id,
        account,
      ]);
      return (result.rowCount ?? 0) > 0;
    } catch (error) {
      throw mapError(error);
    }
  }

  async usage(account: string, now: number): Promise<number> {
    this.#open();
    try {
      const result = await this.pool.query<Row>(
        'SELECT COALESCE(SUM(size), 0) AS n FROM blobs WHERE account = $1 AND expires_at > $2',
        [account, now],
      );
      const row = result.rows[0];
      return row === undefined ? 0 : int(row, 'n');
    } catch (error) {
      throw mapError(error);
    }
  }

  async reserve(claim: BlobReservation, quotaBytes: number, now: number): Promise<boolean> {
    this.#open();
    return this.#transaction(async (client) => {
      // One claim of an account at a time across every node: the sum read
      // below cannot miss a claim committed between it and the insert.
      await lockForTransaction(client, `quintet:blob-quota:${claim.account}`);
      const result = await client.query(
        `INSERT INTO blob_reservations (id, account, size, until)
         SELECT $1::text, $2::text, $3::bigint, $4::bigint
         WHERE (SELECT COALESCE(SUM(size), 0) FROM blobs
                WHERE account = $2::text AND expires_at > $5::bigint)
             + (SELECT COALESCE(SUM(size), 0) FROM blob_reservations
                WHERE account = $2::text AND until > $5::bigint)
             + $3::bigint <= $6::bigint
         ON CONFLICT (id) DO NOTHING`,
        [claim.id, claim.account, claim.size, claim.until, now, quotaBytes],
      );
      return (result.rowCount ?? 0) > 0;
    });
  }

  async release(id: string): Promise<void> {
    this.#open();
    try {
      await this.pool.query('DELETE FROM blob_reservations WHERE id = $1', [id]);
    } catch (error) {
      throw mapError(error);
    }
  }

  async expire(now: number, limit: number): Promise<number> {
    this.#open();
    try {
      await this.pool.query(
        `DELETE FROM blob_reservations WHERE id IN
           (SELECT id FROM blob_reservations WHERE until <= $1 ORDER BY until LIMIT $2)`,
        [now, limit],
      );
      // Chunks go with their blob (ON DELETE CASCADE).
      const result = await this.pool.query(
        `DELETE FROM blobs WHERE id IN
           (SELECT id FROM blobs WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)`,
        [now, limit],
      );
      return result.rowCount ?? 0;
    } catch (error) {
      throw mapError(error);
    }
  }

  async totalBytes(): Promise<number> {
    this.#open();
    try {
      const result = await this.pool.query<Row>('SELECT COALESCE(SUM(size), 0) AS n FROM blobs');
      const row = result.rows[0];
      return row === undefined ? 0 : int(row, 'n');
    } catch (error) {
      throw mapError(error);
    }
  }

  async credentialKey(): Promise<Uint8Array> {
    this.#open();
    if (this.#key !== undefined) return this.#key;
    try {
      // The first node to ask creates it; every other node reads that one.
      await this.pool.query(
        'INSERT INTO blob_credential_key (id, secret) VALUES (1, $1) ON CONFLICT (id) DO NOTHING',
        [randomBytes(32)],
      );
      const result = await this.pool.query<Row>(
        'SELECT secret FROM blob_credential_key WHERE id = 1',
      );
      const row = result.rows[0];
      if (row === undefined) throw new BlobStoreError('unavailable', 'credential key missing');
      this.#key = blob(row, 'secret');
      return this.#key;
    } catch (error) {
      throw mapError(error);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.pool.end();
  }
}
