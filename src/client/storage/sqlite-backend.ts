/**
 * The SQLite storage backend (better-sqlite3), one database file per profile.
 *
 * One table of (table, key) → blob: the typed schema lives in the client
 * core, so this backend stays a dozen lines of SQL and the IndexedDB backend
 * can mirror it exactly. WAL mode lets a reader (e.g. a second `quintet`
 * process showing messages) run while a writer commits; `synchronous=FULL`
 * makes every commit durable before the client acks the envelope to the
 * server — after an ack the server forgets the envelope, so a commit lost to
 * a power cut would lose the message for good.
 */
import Database from 'better-sqlite3';
import type { KeyValueBackend, KeyValueEntry, KeyValueWrite } from '../core/store/kv.js';

/** Schema version stored in `PRAGMA user_version`. */
export const SQLITE_SCHEMA_VERSION = 1;

interface Row {
  key: string;
  value: Uint8Array;
}

/** A `KeyValueBackend` in one SQLite file. */
export class SqliteBackend implements KeyValueBackend {
  readonly #db: Database.Database;
  readonly #get: Database.Statement<[string, string], { value: Uint8Array }>;
  readonly #list: Database.Statement<[string, string, string], Row>;
  readonly #page: Database.Statement<[string, string, string, number], Row>;
  readonly #put: Database.Statement<[string, string, Uint8Array]>;
  readonly #delete: Database.Statement<[string, string]>;
  readonly #commit: (writes: readonly KeyValueWrite[]) => void;

  /** Opens (creating if needed) the database at `path`; `:memory:` works for tests. */
  constructor(path: string) {
    this.#db = new Database(path);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = FULL');
    this.#db.pragma('foreign_keys = ON');
    const version = Number(this.#db.pragma('user_version', { simple: true }));
    if (version > SQLITE_SCHEMA_VERSION) {
      this.#db.close();
      throw new Error('the profile database was written by a newer Quintet version');
    }
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS kv (
        tbl TEXT NOT NULL,
        key TEXT NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (tbl, key)
      ) WITHOUT ROWID;
    `);
    // Written only when it changes: setting it is a write transaction, one
    // more durable commit (fsync) on every open of the profile otherwise.
    if (version !== SQLITE_SCHEMA_VERSION)
      this.#db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION}`);
    this.#get = this.#db.prepare('SELECT value FROM kv WHERE tbl = ? AND key = ?');
    // Prefix match by range rather than LIKE: keys may contain '%' or '_'.
    this.#list = this.#db.prepare(
      'SELECT key, value FROM kv WHERE tbl = ? AND key >= ? AND key < ? ORDER BY key',
    );
    this.#page = this.#db.prepare(
      'SELECT key, value FROM kv WHERE tbl = ? AND key > ? AND key < ? ORDER BY key LIMIT ?',
    );
    this.#put = this.#db.prepare(
      'INSERT INTO kv (tbl, key, value) VALUES (?, ?, ?) ON CONFLICT (tbl, key) DO UPDATE SET value = excluded.value',
    );
    this.#delete = this.#db.prepare('DELETE FROM kv WHERE tbl = ? AND key = ?');
    this.#commit = this.#db.transaction((writes: readonly KeyValueWrite[]) => {
      for (const write of writes) {
        if (write.value === undefined) this.#delete.run(write.table, write.key);
        else this.#put.run(write.table, write.key, write.value);
      }
    });
  }

  async get(table: string, key: string): Promise<Uint8Array | undefined> {
    const row = this.#get.get(table, key);
    return row === undefined ? undefined : new Uint8Array(row.value);
  }

  async list(table: string, prefix: string): Promise<KeyValueEntry[]> {
    // Every key with the prefix sorts below prefix + U+FFFF.
    const rows = this.#list.all(table, prefix, `${prefix}\uffff`);
    return rows.map((row) => ({ key: row.key, value: new Uint8Array(row.value) }));
  }

  async listPage(
    table: string,
    prefix: string,
    after: string | undefined,
    limit: number,
  ): Promise<KeyValueEntry[]> {
    if (limit <= 0) return [];
    if (after === undefined || after < prefix) {
      // "key > after" must still include the prefix itself as a key.
      const exact = await this.get(table, prefix);
      const rest = this.#page.all(table, prefix, `${prefix}\uffff`, limit);
      const rows = exact === undefined ? rest : [{ key: prefix, value: exact }, ...rest];
      return rows
        .slice(0, limit)
        .map((row) => ({ key: row.key, value: new Uint8Array(row.value) }));
    }
    const rows = this.#page.all(table, after, `${prefix}\uffff`, limit);
    return rows.map((row) => ({ key: row.key, value: new Uint8Array(row.value) }));
  }

  async commit(writes: readonly KeyValueWrite[]): Promise<void> {
    if (writes.length === 0) return;
    this.#commit(writes);
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}
