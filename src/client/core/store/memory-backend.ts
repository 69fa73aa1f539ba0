/**
 * The in-memory storage backend: for tests, and for short-lived clients that
 * need no persistence. Values are copied in and out so callers can never
 * mutate stored bytes through a shared buffer.
 */
import type { KeyValueBackend, KeyValueEntry, KeyValueWrite } from './kv.js';

/** A `KeyValueBackend` held in maps. */
export class MemoryBackend implements KeyValueBackend {
  readonly #tables = new Map<string, Map<string, Uint8Array>>();
  #closed = false;

  async get(table: string, key: string): Promise<Uint8Array | undefined> {
    this.#check();
    return this.#tables.get(table)?.get(key)?.slice();
  }

  async list(table: string, prefix: string): Promise<KeyValueEntry[]> {
    this.#check();
    const rows = this.#tables.get(table);
    if (rows === undefined) return [];
    return [...rows.entries()]
      .filter(([key]) => key.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, value]) => ({ key, value: value.slice() }));
  }

  async listPage(
    table: string,
    prefix: string,
    after: string | undefined,
    limit: number,
  ): Promise<KeyValueEntry[]> {
    const all = await this.list(table, prefix);
    return all.filter((entry) => after === undefined || entry.key > after).slice(0, limit);
  }

  async commit(writes: readonly KeyValueWrite[]): Promise<void> {
    this.#check();
    // Nothing below can throw, so the batch lands whole.
    for (const write of writes) {
      let rows = this.#tables.get(write.table);
      if (rows === undefined) {
        rows = new Map();
        this.#tables.set(write.table, rows);
      }
      if (write.value === undefined) rows.delete(write.key);
      else rows.set(write.key, write.value.slice());
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #check(): void {
    if (this.#closed) throw new Error('memory backend is closed');
  }
}
