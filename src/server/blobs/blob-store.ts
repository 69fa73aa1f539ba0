/**
 * The server's blob store: opaque ciphertext (attachments, history
 * archives) uploaded once by a device and downloaded by id. One async
 * interface, two backends that pass one conformance suite
 * (test/server/blob-store-conformance.ts): files under the data directory
 * (embedded mode, blobs/file-blob-store.ts) and chunked rows in PostgreSQL
 * (cluster mode, store/postgres/blobs.ts).
 *
 * The store never sees plaintext or keys: clients encrypt before upload.
 * It does hold who uploaded what and when (needed for quota and DELETE).
 */

/** What a blob is for; decides its lifetime. */
export type BlobKind = 'attachment' | 'archive';

/** The kinds, for parsing `?kind=`. */
export const BLOB_KINDS: readonly BlobKind[] = ['attachment', 'archive'];

/** A stored, complete blob. */
export interface BlobRecord {
  /** 32 random bytes, base64url without padding (43 characters). */
  readonly id: string;
  /** The uploading account: only it may delete, and the size counts against its quota. */
  readonly account: string;
  readonly kind: BlobKind;
  readonly size: number;
  readonly createdAt: number;
  /** After this (ms since the epoch) the blob reads as absent and the sweep deletes it. */
  readonly expiresAt: number;
}

/**
 * An upload's claim on its account's quota, taken before the body is read,
 * so uploads running at once (on any node of a cluster) cannot together
 * store more than the quota allows.
 */
export interface BlobReservation {
  /** The id the upload will store its blob under. */
  readonly id: string;
  readonly account: string;
  readonly size: number;
  /**
   * Ms since the epoch after which the claim stops counting by itself: a
   * node that died mid-upload never releases it (set past the longest an
   * upload may take).
   */
  readonly until: number;
}

/** Failure codes of a blob store. */
export type BlobStoreErrorCode =
  /** The body ended before `size` bytes, or ran past them; nothing was stored. */
  | 'size-mismatch'
  /** The backend cannot be reached (database down); retryable. */
  | 'unavailable'
  /** The disk or database is full. */
  | 'storage-full'
  /** The blob vanished while it was being read (deleted or expired meanwhile). */
  | 'gone'
  /** A blob with this id already exists (ids are random: a caller bug). */
  | 'exists'
  /** Stored metadata or the credential key does not have the expected shape. */
  | 'corrupt'
  | 'closed';

/** A blob-store failure with a stable code. */
export class BlobStoreError extends Error {
  override readonly name = 'BlobStoreError';
  constructor(
    readonly code: BlobStoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
  /** Type guard: `BlobStoreError.is(err, 'size-mismatch')`. */
  static is(value: unknown, code?: BlobStoreErrorCode): value is BlobStoreError {
    return value instanceof BlobStoreError && (code === undefined || value.code === code);
  }
}

/** The backend interface. Every method is safe to call concurrently. */
export interface BlobStore {
  /**
   * Streams `body` into a new blob with `record.id` and makes it visible
   * only once exactly `record.size` bytes arrived: a body that ends short,
   * runs long or fails leaves nothing behind (also across a crash). Reads
   * `body` one piece at a time, awaiting each write (backpressure).
   */
  put(record: BlobRecord, body: AsyncIterable<Uint8Array>): Promise<void>;
  /** The blob if it exists and has not expired at `now`. */
  get(id: string, now: number): Promise<BlobRecord | undefined>;
  /**
   * Bytes `start` to `end` inclusive of a blob `get` returned, in pieces
   * of bounded size; throws `gone` if it disappears meanwhile.
   */
  read(id: string, start: number, end: number): AsyncIterable<Uint8Array>;
  /** Deletes the blob if `account` uploaded it; false when absent or someone else's. */
  delete(id: string, account: string): Promise<boolean>;
  /** Bytes of the account's unexpired blobs at `now` (its quota use; claims not included). */
  usage(account: string, now: number): Promise<number>;
  /**
   * Claims `claim.size` bytes of the account's quota for the upload of
   * blob `claim.id`, atomically against the account's unexpired blobs and
   * live claims — across every node sharing the store: false, and nothing
   * claimed, when together they would pass `quotaBytes` at `now`. The claim
   * ends when `put` stores that blob (in the same commit, so its bytes
   * never count twice or not at all), on `release`, or at `claim.until`.
   */
  reserve(claim: BlobReservation, quotaBytes: number, now: number): Promise<boolean>;
  /** Ends the claim of an upload that stored nothing (no-op when there is none). */
  release(id: string): Promise<void>;
  /** Deletes up to `limit` blobs (and claims) expired at `now`; returns how many blobs. */
  expire(now: number, limit: number): Promise<number>;
  /** Bytes of every stored blob (for /metrics). */
  totalBytes(): Promise<number>;
  /**
   * The secret that signs blob credentials: created once and kept in the
   * store, so every node of a cluster (one database) verifies every
   * other's tokens and a restart does not log devices out of the API.
   */
  credentialKey(): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** Length of a blob id in characters (32 bytes in base64url, unpadded). */
export const BLOB_ID_LENGTH = 43;
const BLOB_ID = /^[A-Za-z0-9_-]{43}$/;

/**
 * Whether `id` has the shape of a blob id. Checked before any lookup: ids
 * become file names, so anything else (`..`, `/`, NUL) never reaches a path.
 */
export function isBlobId(id: string): boolean {
  return BLOB_ID.test(id);
}

/** A new unguessable id from 32 random bytes (base64url, unpadded). */
export function newBlobId(random: (n: number) => Uint8Array): string {
  return Buffer.from(random(32)).toString('base64url');
}
