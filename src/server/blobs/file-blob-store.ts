/**
 * Blobs as files under the data directory (embedded mode).
 *
 * Layout under `dir`: `tmp/` holds uploads in progress, `data/<2 chars>/<id>`
 * the complete blobs, `credential.key` the credential secret. Each blob file
 * starts with a small header (magic, length, JSON metadata) followed by
 * the bytes, so a blob and its metadata appear and disappear together with
 * one rename or one unlink — no second file that a crash could leave out of
 * step. An upload is written to `tmp/`, fsynced, then renamed into place
 * (atomic on POSIX) and the directory fsynced; whatever `tmp/` holds at
 * start is a crashed upload and is deleted. The metadata of every blob is
 * read into memory at start: embedded mode is one process, so the index is
 * the truth while it runs.
 */
import { createReadStream } from 'node:fs';
import {
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  unlink,
  type FileHandle,
} from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  BLOB_KINDS,
  BlobStoreError,
  isBlobId,
  type BlobKind,
  type BlobRecord,
  type BlobReservation,
  type BlobStore,
} from './blob-store.js';

const MAGIC = Buffer.from('QBLOB1\n', 'latin1');
/** Headers are a few hundred bytes; anything larger is not one of ours. */
const MAX_HEADER = 4096;
const READ_PIECE = 64 * 1024;

/** Options of `openFileBlobStore`. */
export interface FileBlobStoreOptions {
  /** Directory holding the blobs (created 0700 if missing). */
  readonly dir: string;
  /** Delete `dir` on close (the `--memory` server's temporary store). */
  readonly removeOnClose?: boolean;
  /** Hears files that could not be read at start (they are left alone). */
  readonly onError?: (error: unknown) => void;
}

interface Entry extends BlobRecord {
  readonly headerBytes: number;
}

/** Opens (creating if needed) a file blob store and indexes its blobs. */
export async function openFileBlobStore(options: FileBlobStoreOptions): Promise<BlobStore> {
  const store = new FileBlobStore(options);
  await store.init();
  return store;
}

function mapFsError(error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new BlobStoreError('storage-full', 'no space left for blobs', { cause: error });
  }
  return error;
}

class FileBlobStore implements BlobStore {
  readonly #dir: string;
  readonly #options: FileBlobStoreOptions;
  readonly #index = new Map<string, Entry>();
  /**
   * Live quota claims by blob id. In memory: one process owns the
   * directory, and a restart ends every upload (and so every claim).
   */
  readonly #claims = new Map<string, BlobReservation>();
  #key: Uint8Array | undefined;
  #closed = false;

  constructor(options: FileBlobStoreOptions) {
    this.#dir = options.dir;
    this.#options = options;
  }

  async init(): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    // Uploads cut by a crash or restart: never complete, never visible.
    await rm(join(this.#dir, 'tmp'), { recursive: true, force: true });
    await mkdir(join(this.#dir, 'tmp'), { mode: 0o700 });
    await mkdir(join(this.#dir, 'data'), { recursive: true, mode: 0o700 });
    for (const bucket of await readdir(join(this.#dir, 'data'))) {
      for (const name of await readdir(join(this.#dir, 'data', bucket))) {
        if (!isBlobId(name)) continue;
        try {
          const entry = await readHeader(this.#path(name));
          if (entry.id === name) this.#index.set(name, entry);
        } catch (error) {
          this.#options.onError?.(error);
        }
      }
    }
  }

  #path(id: string): string {
    return join(this.#dir, 'data', id.slice(0, 2), id);
  }

  #open(): void {
    if (this.#closed) throw new BlobStoreError('closed', 'blob store is closed');
  }

  async put(record: BlobRecord, body: AsyncIterable<Uint8Array>): Promise<void> {
    this.#open();
    if (!isBlobId(record.id) || this.#index.has(record.id)) {
      throw new BlobStoreError('exists', 'blob id is not new');
    }
    const header = encodeHeader(record);
    const tmp = join(this.#dir, 'tmp', `${record.id}.${randomBytes(6).toString('hex')}`);
    let handle: FileHandle | undefined;
    try {
      handle = await open(tmp, 'wx', 0o600);
      await writeAll(handle, header);
      let received = 0;
      for await (const piece of body) {
        received += piece.length;
        // Refused at the first byte past the announced size, not after
        // the sender has pushed an unbounded body to disk.
        if (received > record.size) throw new BlobStoreError('size-mismatch', 'body too long');
        await writeAll(handle, piece);
      }
      if (received !== record.size) throw new BlobStoreError('size-mismatch', 'body too short');
      await handle.sync();
      await handle.close();
      handle = undefined;
      const dir = join(this.#dir, 'data', record.id.slice(0, 2));
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await rename(tmp, this.#path(record.id));
      await syncDir(dir);
      // In one step with the claim's end: the bytes count exactly once.
      this.#index.set(record.id, { ...record, headerBytes: header.length });
      this.#claims.delete(record.id);
    } catch (error) {
      await handle?.close().catch(() => undefined);
      await rm(tmp, { force: true });
      throw mapFsError(error);
    }
  }

  get(id: string, now: number): Promise<BlobRecord | undefined> {
    this.#open();
    const entry = isBlobId(id) ? this.#index.get(id) : undefined;
    if (entry === undefined || entry.expiresAt <= now) return Promise.resolve(undefined);
    const { headerBytes: _, ...record } = entry;
    return Promise.resolve(record);
  }

  async *read(id: string, start: number, end: number): AsyncIterable<Uint8Array> {
    this.#open();
    const entry = this.#index.get(id);
    if (entry === undefined) throw new BlobStoreError('gone', 'blob is gone');
    const stream = createReadStream(this.#path(id), {
      start: entry.headerBytes + start,
      end: entry.headerBytes + end,
      highWaterMark: READ_PIECE,
    });
    try {
      for await (const piece of stream) yield piece as Buffer;
    } catch (error) {
      if ((error as { code?: unknown }).code === 'ENOENT') {
        throw new BlobStoreError('gone', 'blob is gone', { cause: error });
      }
      throw error;
    } finally {
      stream.destroy();
    }
  }

  async delete(id: string, account: string): Promise<boolean> {
    this.#open();
    const entry = isBlobId(id) ? this.#index.get(id) : undefined;
    if (entry === undefined || entry.account !== account) return false;
    await this.#remove(id);
    return true;
  }

  async #remove(id: string): Promise<void> {
    this.#index.delete(id);
    await unlink(this.#path(id)).catch((error: unknown) => {
      // Already gone is what we wanted.
      if ((error as { code?: unknown }).code !== 'ENOENT') throw error;
    });
  }

  usage(account: string, now: number): Promise<number> {
    this.#open();
    let bytes = 0;
    for (const entry of this.#index.values()) {
      if (entry.account === account && entry.expiresAt > now) bytes += entry.size;
    }
    return Promise.resolve(bytes);
  }

  reserve(claim: BlobReservation, quotaBytes: number, now: number): Promise<boolean> {
    this.#open();
    // Synchronous from the sum to the insert: no other claim can come
    // between (one event loop owns this store).
    let used = 0;
    for (const entry of this.#index.values()) {
      if (entry.account === claim.account && entry.expiresAt > now) used += entry.size;
    }
    for (const other of this.#claims.values()) {
      if (other.account === claim.account && other.until > now) used += other.size;
    }
    if (used + claim.size > quotaBytes || this.#claims.has(claim.id)) {
      return Promise.resolve(false);
    }
    this.#claims.set(claim.id, claim);
    return Promise.resolve(true);
  }

  release(id: string): Promise<void> {
    this.#claims.delete(id);
    return Promise.resolve();
  }

  async expire(now: number, limit: number): Promise<number> {
    this.#open();
    for (const [id, claim] of this.#claims) if (claim.until <= now) this.#claims.delete(id);
    const expired = [...this.#index.values()]
      .filter((entry) => entry.expiresAt <= now)
      .slice(0, limit);
    for (const entry of expired) await this.#remove(entry.id);
    return expired.length;
  }

  totalBytes(): Promise<number> {
    let bytes = 0;
    for (const entry of this.#index.values()) bytes += entry.size;
    return Promise.resolve(bytes);
  }

  async credentialKey(): Promise<Uint8Array> {
    this.#open();
    if (this.#key !== undefined) return this.#key;
    const path = join(this.#dir, 'credential.key');
    try {
      this.#key = new Uint8Array(await readFile(path));
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'ENOENT') throw error;
      const key = randomBytes(32);
      const tmp = join(this.#dir, 'tmp', `credential.${randomBytes(6).toString('hex')}`);
      const handle = await open(tmp, 'wx', 0o600);
      try {
        await writeAll(handle, key);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, path);
      await syncDir(this.#dir);
      this.#key = new Uint8Array(key);
    }
    if (this.#key.length !== 32) {
      throw new BlobStoreError('corrupt', 'blobs/credential.key is not a 32-byte key');
    }
    return this.#key;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#options.removeOnClose === true) {
      await rm(this.#dir, { recursive: true, force: true });
    }
  }
}

async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset);
    offset += bytesWritten;
  }
}

/** Makes a rename in `dir` durable (the new name survives a power loss). */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function encodeHeader(record: BlobRecord): Buffer {
  const json = Buffer.from(
    JSON.stringify({
      id: record.id,
      account: record.account,
      kind: record.kind,
      size: record.size,
      createdAt: record.createdAt,
      expiresAt: record.expiresAt,
    }),
    'utf8',
  );
  const length = Buffer.alloc(4);
  length.writeUInt32BE(json.length);
  return Buffer.concat([MAGIC, length, json]);
}

async function readHeader(path: string): Promise<Entry> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(MAX_HEADER);
    const { bytesRead } = await handle.read(buffer, 0, MAX_HEADER, 0);
    const head = buffer.subarray(0, bytesRead);
    if (bytesRead < MAGIC.length + 4 || !head.subarray(0, MAGIC.length).equals(MAGIC)) {
      throw new Error(`${path}: not a blob file`);
    }
    const length = head.readUInt32BE(MAGIC.length);
    const start = MAGIC.length + 4;
    if (start + length > bytesRead) throw new Error(`${path}: truncated blob header`);
    const parsed = JSON.parse(head.subarray(start, start + length).toString('utf8')) as Record<
      string,
      unknown
    >;
    const { id, account, kind, size, createdAt, expiresAt } = parsed;
    if (
      typeof id !== 'string' ||
      typeof account !== 'string' ||
      !BLOB_KINDS.includes(kind as BlobKind) ||
      typeof size !== 'number' ||
      typeof createdAt !== 'number' ||
      typeof expiresAt !== 'number'
    ) {
      throw new Error(`${path}: malformed blob header`);
    }
    return {
      id,
      account,
      kind: kind as BlobKind,
      size,
      createdAt,
      expiresAt,
      headerBytes: start + length,
    };
  } finally {
    await handle.close();
  }
}
