/**
 * The IndexedDB storage backend: the browser's counterpart of
 * sqlite-backend.ts, with the same shape — one object store of
 * [table, key] → bytes — so the typed schema stays in the client core.
 *
 * Keys are IndexedDB array keys `[table, key]`. Arrays compare element by
 * element and strings by UTF-16 code unit, which is exactly the order
 * `MemoryBackend` sorts in, so `list` needs no sort of its own.
 *
 * Each `commit` is one readwrite transaction with `durability: 'strict'`:
 * the client acks an envelope to the server right after the commit that
 * stored it, and after the ack the server forgets it, so the commit must be
 * on disk, not just in the OS cache ('relaxed' is Chromium's default).
 *
 * The same database also keeps the non-extractable AES-GCM key that
 * encrypts values at rest (see encrypted-backend.ts), in its own store.
 */
import { ClientError } from '../core/errors.js';
import type { KeyValueBackend, KeyValueEntry, KeyValueWrite } from '../core/store/kv.js';

/** Schema version of the IndexedDB database. */
export const INDEXEDDB_SCHEMA_VERSION = 1;

const DATA_STORE = 'kv';
const KEY_STORE = 'keys';
const WRAPPING_KEY_ID = 'at-rest';

/** Wraps an IDBRequest in a promise. */
function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(storageError('an IndexedDB request failed', req.error));
  });
}

function storageError(message: string, cause: unknown): ClientError {
  // 'invalid-record' is the core's code for local storage failures.
  return new ClientError('invalid-record', message, { cause });
}

/** Resolves when `tx` has committed; rejects when it aborts or fails. */
function completion(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(storageError('an IndexedDB transaction failed', tx.error));
    tx.onabort = () => reject(storageError('an IndexedDB transaction aborted', tx.error));
  });
}

/**
 * The smallest string greater than every string starting with `prefix`,
 * or undefined when there is none (empty prefix, or only U+FFFF units).
 * Used instead of `prefix + '\uffff'`, which would miss keys continuing
 * with U+FFFF.
 */
export function prefixUpperBound(prefix: string): string | undefined {
  for (let end = prefix.length; end > 0; end--) {
    const unit = prefix.charCodeAt(end - 1);
    if (unit < 0xffff) return prefix.slice(0, end - 1) + String.fromCharCode(unit + 1);
  }
  return undefined;
}

/** Opens (creating or upgrading) the database named `name`. */
function openDatabase(name: string): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(name, INDEXEDDB_SCHEMA_VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains(DATA_STORE)) db.createObjectStore(DATA_STORE);
      if (!db.objectStoreNames.contains(KEY_STORE)) db.createObjectStore(KEY_STORE);
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => {
      // A VersionError means a newer app version already upgraded this profile.
      reject(storageError('cannot open the IndexedDB database', req.error));
    };
    req.onblocked = () => {
      reject(storageError('the IndexedDB database is held open by another tab', undefined));
    };
  });
}

function toBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new ClientError('invalid-record', 'a stored IndexedDB value is not bytes');
}

/** A `KeyValueBackend` in one IndexedDB database. */
export class IndexedDbBackend implements KeyValueBackend {
  readonly #db: IDBDatabase;
  #closed = false;

  private constructor(db: IDBDatabase) {
    this.#db = db;
    // A newer version of the app in another tab wants to upgrade: step aside
    // instead of blocking it forever; later calls fail with a typed error.
    db.onversionchange = () => {
      this.#closed = true;
      db.close();
    };
  }

  /** Opens the database `name` (one per profile), creating it if needed. */
  static async open(name: string): Promise<IndexedDbBackend> {
    return new IndexedDbBackend(await openDatabase(name));
  }

  /** Deletes the database `name` (tests; "log out and wipe" later). */
  static delete(name: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = indexedDB.deleteDatabase(name);
      req.onsuccess = () => resolve();
      req.onerror = () => reject(storageError('cannot delete the IndexedDB database', req.error));
    });
  }

  async get(table: string, key: string): Promise<Uint8Array | undefined> {
    const store = this.#store('readonly');
    const value: unknown = await request(store.get([table, key]));
    return value === undefined ? undefined : toBytes(value).slice();
  }

  async list(table: string, prefix: string): Promise<KeyValueEntry[]> {
    const upper = prefixUpperBound(prefix);
    // With no string upper bound, an empty array is the next key: arrays
    // sort above every string, so [table, []] caps the table's keys.
    const range = IDBKeyRange.bound([table, prefix], [table, upper ?? []], false, true);
    const store = this.#store('readonly');
    const [keys, values] = await Promise.all([
      request(store.getAllKeys(range)),
      request(store.getAll(range)),
    ]);
    return this.#entries(keys, values);
  }

  #entries(keys: readonly IDBValidKey[], values: readonly unknown[]): KeyValueEntry[] {
    const entries: KeyValueEntry[] = [];
    keys.forEach((compound, index) => {
      const key = Array.isArray(compound) ? compound[1] : undefined;
      if (typeof key !== 'string') {
        throw new ClientError('invalid-record', 'a stored IndexedDB key has the wrong shape');
      }
      entries.push({ key, value: toBytes(values[index]).slice() });
    });
    return entries;
  }

  async listPage(
    table: string,
    prefix: string,
    after: string | undefined,
    limit: number,
  ): Promise<KeyValueEntry[]> {
    if (limit <= 0) return [];
    const upper = prefixUpperBound(prefix);
    const fromAfter = after !== undefined && after >= prefix;
    const range = IDBKeyRange.bound(
      [table, fromAfter ? after : prefix],
      [table, upper ?? []],
      fromAfter,
      true,
    );
    const store = this.#store('readonly');
    const [keys, values] = await Promise.all([
      request(store.getAllKeys(range, limit)),
      request(store.getAll(range, limit)),
    ]);
    return this.#entries(keys, values);
  }

  async commit(writes: readonly KeyValueWrite[]): Promise<void> {
    if (writes.length === 0) return;
    this.#check();
    const tx = this.#db.transaction(DATA_STORE, 'readwrite', { durability: 'strict' });
    const done = completion(tx);
    const store = tx.objectStore(DATA_STORE);
    try {
      for (const write of writes) {
        const key = [write.table, write.key];
        if (write.value === undefined) store.delete(key);
        // Copy: the caller may reuse its buffer after commit resolves.
        else store.put(write.value.slice(), key);
      }
    } catch (error) {
      // A synchronous throw (e.g. DataError) must not leave half the batch queued.
      tx.abort();
      await done.catch(() => undefined);
      throw storageError('an IndexedDB write was refused', error);
    }
    await done;
  }

  /**
   * The non-extractable key that encrypts this profile's values at rest,
   * created on first use. Structured clone keeps a `CryptoKey` usable but
   * never exposes its bytes, so the key cannot be read out of the profile —
   * only used, by this origin, in this browser.
   */
  async wrappingKey(): Promise<CryptoKey> {
    const existing: unknown = await request(
      this.#db.transaction(KEY_STORE, 'readonly').objectStore(KEY_STORE).get(WRAPPING_KEY_ID),
    );
    if (existing instanceof CryptoKey) return existing;
    if (existing !== undefined) {
      throw new ClientError('invalid-record', 'the stored at-rest key is not a CryptoKey');
    }
    const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, [
      'encrypt',
      'decrypt',
    ]);
    // `add`, not `put`: if another opener raced us, keep its key (data may
    // already be encrypted with it) and use that one.
    const tx = this.#db.transaction(KEY_STORE, 'readwrite', { durability: 'strict' });
    const done = completion(tx);
    const req = tx.objectStore(KEY_STORE).add(key, WRAPPING_KEY_ID);
    req.onerror = (event) => {
      if (req.error?.name === 'ConstraintError') event.preventDefault();
    };
    await done;
    return this.wrappingKey();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }

  #store(mode: IDBTransactionMode): IDBObjectStore {
    this.#check();
    return this.#db.transaction(DATA_STORE, mode).objectStore(DATA_STORE);
  }

  #check(): void {
    if (this.#closed) throw new ClientError('closed', 'the IndexedDB backend is closed');
  }
}
