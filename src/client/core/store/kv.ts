/**
 * The storage backend contract: named tables of string keys to opaque bytes,
 * with atomic multi-write commits. Everything typed (protocol records,
 * messages, processed marks) is layered on top in the core, so a backend is
 * small and SQL-agnostic — memory, SQLite and (later) IndexedDB implement the
 * same four methods.
 *
 * Why staging instead of "BEGIN; await …; COMMIT": decryption awaits the
 * crypto provider between reads and writes. An IndexedDB transaction
 * auto-commits when it waits on a non-IDB promise, and a single better-sqlite3
 * connection cannot hold one open transaction per concurrent peer worker.
 * So a transaction reads through a private overlay, collects its writes, and
 * hands them to `commit` in one synchronous, all-or-nothing step.
 */

/** One staged write: `value === undefined` deletes the key. */
export interface KeyValueWrite {
  readonly table: string;
  readonly key: string;
  readonly value: Uint8Array | undefined;
}

/** An entry returned by `list`. */
export interface KeyValueEntry {
  readonly key: string;
  readonly value: Uint8Array;
}

/** A storage backend. Implementations must make `commit` atomic and durable. */
export interface KeyValueBackend {
  get(table: string, key: string): Promise<Uint8Array | undefined>;
  /** Every entry of `table` whose key starts with `prefix`, in ascending key order. */
  list(table: string, prefix: string): Promise<KeyValueEntry[]>;
  /**
   * One page of `list`: the entries with `prefix` whose key sorts strictly
   * after `after` (from the first when undefined), ascending, at most
   * `limit`. History reads chats of tens of thousands of messages through
   * this, so a backend must not load the whole prefix to answer it.
   */
  listPage(
    table: string,
    prefix: string,
    after: string | undefined,
    limit: number,
  ): Promise<KeyValueEntry[]>;
  /** Applies all writes or none. */
  commit(writes: readonly KeyValueWrite[]): Promise<void>;
  close(): Promise<void>;
}

/** Read/write access to the tables, either direct or inside a transaction. */
export interface KeyValueView {
  get(table: string, key: string): Promise<Uint8Array | undefined>;
  list(table: string, prefix: string): Promise<KeyValueEntry[]>;
  /** See `KeyValueBackend.listPage`. */
  listPage(
    table: string,
    prefix: string,
    after: string | undefined,
    limit: number,
  ): Promise<KeyValueEntry[]>;
  put(table: string, key: string, value: Uint8Array): Promise<void>;
  delete(table: string, key: string): Promise<void>;
}

/** A view that writes straight through, one commit per write. */
export function directView(backend: KeyValueBackend): KeyValueView {
  return {
    get: (table, key) => backend.get(table, key),
    list: (table, prefix) => backend.list(table, prefix),
    listPage: (table, prefix, after, limit) => backend.listPage(table, prefix, after, limit),
    put: (table, key, value) => backend.commit([{ table, key, value: value.slice() }]),
    delete: (table, key) => backend.commit([{ table, key, value: undefined }]),
  };
}

const SEPARATOR = '\u0000';

/**
 * A transaction overlay: reads see the transaction's own writes first, then
 * the backend; writes are only collected. `writes()` returns them in order
 * for one atomic `commit`.
 */
export class StagedView implements KeyValueView {
  readonly #staged = new Map<string, KeyValueWrite>();

  constructor(private readonly backend: KeyValueBackend) {}

  async get(table: string, key: string): Promise<Uint8Array | undefined> {
    const staged = this.#staged.get(table + SEPARATOR + key);
    if (staged !== undefined) return staged.value?.slice();
    return this.backend.get(table, key);
  }

  async list(table: string, prefix: string): Promise<KeyValueEntry[]> {
    const merged = new Map<string, Uint8Array>();
    for (const entry of await this.backend.list(table, prefix)) merged.set(entry.key, entry.value);
    for (const write of this.#staged.values()) {
      if (write.table !== table || !write.key.startsWith(prefix)) continue;
      if (write.value === undefined) merged.delete(write.key);
      else merged.set(write.key, write.value.slice());
    }
    return [...merged.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, value]) => ({ key, value }));
  }

  async listPage(
    table: string,
    prefix: string,
    after: string | undefined,
    limit: number,
  ): Promise<KeyValueEntry[]> {
    // Staged deletes can hide backend rows: over-fetch by their number so
    // the merged page is still full when more rows exist.
    let hidden = 0;
    const staged: KeyValueWrite[] = [];
    for (const write of this.#staged.values()) {
      if (write.table !== table || !write.key.startsWith(prefix)) continue;
      if (after !== undefined && write.key <= after) continue;
      staged.push(write);
      if (write.value === undefined) hidden++;
    }
    const merged = new Map<string, Uint8Array>();
    const rows = await this.backend.listPage(table, prefix, after, limit + hidden);
    for (const entry of rows) merged.set(entry.key, entry.value);
    // A staged key beyond the last backend row may sort after rows the
    // backend did not return; only keep it when the backend page was short.
    const last = rows.length === limit + hidden ? rows[rows.length - 1]?.key : undefined;
    for (const write of staged) {
      if (last !== undefined && write.key > last) continue;
      if (write.value === undefined) merged.delete(write.key);
      else merged.set(write.key, write.value.slice());
    }
    return [...merged.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .slice(0, limit)
      .map(([key, value]) => ({ key, value }));
  }

  async put(table: string, key: string, value: Uint8Array): Promise<void> {
    // Copy: a caller that reuses its buffer must not change a staged write.
    this.#staged.set(table + SEPARATOR + key, { table, key, value: value.slice() });
  }

  async delete(table: string, key: string): Promise<void> {
    this.#staged.set(table + SEPARATOR + key, { table, key, value: undefined });
  }

  /** The collected writes, last write per key. */
  writes(): KeyValueWrite[] {
    return [...this.#staged.values()];
  }
}
