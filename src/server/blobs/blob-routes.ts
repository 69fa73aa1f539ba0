/**
 * The blob HTTP API (docs/protocol.md, "Blobs"): `POST /v1/blobs`,
 * `GET /v1/blobs/<id>` (with `Range`), `DELETE /v1/blobs/<id>`, `GET
 * /v1/blobs` (limits and usage), each with a
 * bearer credential from `get_blob_credential`.
 *
 * Bodies stream both ways with backpressure: an upload is read one piece at
 * a time as the store writes it, a download written as the client takes
 * it. Every refusal that does not need the body (credential, size, quota,
 * uploads at once) is decided from the headers before a byte of the body
 * is read, and the connection is then closed rather than drained, so a
 * refused 10 GiB upload costs the server nothing.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import type { Clock, RandomSource } from '../../crypto/provider.js';
import type { ServerLimits } from '../config.js';
import type { AccountStore } from '../store/types.js';
import { StoreError } from '../store/types.js';
import { verifyBlobCredential, type BlobPrincipal } from './blob-credential.js';
import type { BlobMetrics, BlobRefusal } from './blob-metrics.js';
import {
  BLOB_KINDS,
  BlobStoreError,
  isBlobId,
  newBlobId,
  type BlobKind,
  type BlobStore,
} from './blob-store.js';

/** The path prefix of the API. */
export const BLOBS_PATH = '/v1/blobs';

/** What the routes need. */
export interface BlobRoutesOptions {
  readonly store: BlobStore;
  readonly accounts: Pick<AccountStore, 'getDevice'>;
  readonly limits: ServerLimits;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly metrics: BlobMetrics;
  readonly logger: Logger;
}

/** How long a client should wait after `unavailable` or too many uploads, ms. */
const RETRY_AFTER_MS = 1_000;
/** How long a quota claim outlives the longest upload allowed (clock skew between nodes). */
const CLAIM_SLACK_MS = 60_000;

interface Refusal {
  readonly status: number;
  readonly error: string;
  readonly message: string;
  readonly limit?: number;
  readonly retryAfterMs?: number;
}

const HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** The blob API as a request handler: resolves false for paths it does not serve. */
export class BlobRoutes {
  /** Uploads in progress per account on this node (their bytes are claims in the store). */
  readonly #inFlight = new Map<string, number>();

  constructor(private readonly options: BlobRoutesOptions) {}

  /** Uploads in progress on this node (for /metrics). */
  get uploadsInProgress(): number {
    let count = 0;
    for (const n of this.#inFlight.values()) count += n;
    return count;
  }

  /** Serves `req` if its path is under `/v1/blobs`; false otherwise. */
  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> {
    if (path !== BLOBS_PATH && !path.startsWith(`${BLOBS_PATH}/`)) return false;
    const id = path === BLOBS_PATH ? undefined : path.slice(BLOBS_PATH.length + 1);
    try {
      if (id === undefined && req.method === 'POST') {
        await this.#upload(req, res);
      } else if (id === undefined && req.method === 'GET') {
        await this.#usage(req, res);
      } else if (id !== undefined && (req.method === 'GET' || req.method === 'HEAD')) {
        await this.#download(req, res, id);
      } else if (id !== undefined && req.method === 'DELETE') {
        await this.#delete(req, res, id);
      } else {
        this.#refuse(req, res, 'bad-request', {
          status: 405,
          error: 'bad-request',
          message: 'method not allowed here',
        });
      }
    } catch (error) {
      if (
        error instanceof StoreError &&
        (error.code === 'unavailable' || error.code === 'storage-full')
      ) {
        this.#unavailable(req, res, error);
      } else if (
        BlobStoreError.is(error, 'unavailable') ||
        BlobStoreError.is(error, 'storage-full')
      ) {
        this.#unavailable(req, res, error);
      } else {
        throw error;
      }
    }
    return true;
  }

  #unavailable(req: IncomingMessage, res: ServerResponse, error: Error): void {
    this.options.logger.warn({ err: error }, 'blob store unavailable');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    this.#refuse(req, res, 'unavailable', {
      status: 503,
      error: 'unavailable',
      message: 'the blob store cannot be reached or is full; retry later',
      retryAfterMs: RETRY_AFTER_MS,
    });
  }

  /** The device the bearer token speaks for, if it is valid and the device still exists. */
  async #principal(req: IncomingMessage): Promise<BlobPrincipal | undefined> {
    const header = req.headers.authorization;
    if (header === undefined || !header.startsWith('Bearer ')) return undefined;
    const key = await this.options.store.credentialKey();
    const principal = verifyBlobCredential(key, header.slice(7).trim(), this.options.clock.now());
    if (principal === undefined) return undefined;
    // Removed or logged-out devices lose the API before their token expires.
    const device = await this.options.accounts.getDevice(principal.account, principal.deviceId);
    return device === undefined ? undefined : principal;
  }

  async #authorize(req: IncomingMessage, res: ServerResponse): Promise<BlobPrincipal | undefined> {
    const principal = await this.#principal(req);
    if (principal === undefined) {
      this.#refuse(req, res, 'unauthorized', {
        status: 401,
        error: 'unauthorized',
        message: 'missing, invalid or expired blob credential',
      });
    }
    return principal;
  }

  /**
   * `GET /v1/blobs`: the limits and the account's usage. A refused upload
   * is answered before its body is read and the connection closed, which
   * many HTTP clients report as a broken connection rather than the 413;
   * the client asks here to say which limit it hit.
   */
  async #usage(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const principal = await this.#authorize(req, res);
    if (principal === undefined) return;
    const { limits, clock } = this.options;
    const used = await this.options.store.usage(principal.account, clock.now());
    this.#send(
      res,
      200,
      { maxBlobBytes: limits.maxBlobBytes, quotaBytes: limits.blobQuotaBytes, usedBytes: used },
      false,
    );
  }

  async #upload(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const principal = await this.#authorize(req, res);
    if (principal === undefined) return;
    const { limits, clock } = this.options;
    const kind = new URL(req.url ?? '/', 'http://localhost').searchParams.get('kind');
    if (kind === null || !BLOB_KINDS.includes(kind as BlobKind)) {
      this.#refuse(req, res, 'bad-request', {
        status: 400,
        error: 'bad-request',
        message: 'kind must be attachment or archive',
      });
      return;
    }
    const size = contentLength(req);
    if (size === undefined) {
      this.#refuse(req, res, 'bad-request', {
        status: 400,
        error: 'bad-request',
        message: 'a Content-Length is required (no chunked uploads)',
      });
      return;
    }
    if (size > limits.maxBlobBytes) {
      this.#refuse(req, res, 'blob-too-large', {
        status: 413,
        error: 'blob-too-large',
        message: `blobs are limited to ${limits.maxBlobBytes} bytes`,
        limit: limits.maxBlobBytes,
      });
      return;
    }
    const account = principal.account;
    const current = this.#inFlight.get(account) ?? 0;
    if (current >= limits.maxBlobUploadsPerAccount) {
      this.#refuse(req, res, 'too-many-uploads', {
        status: 429,
        error: 'rate-limited',
        message: 'too many uploads in progress for this account',
        limit: limits.maxBlobUploadsPerAccount,
        retryAfterMs: RETRY_AFTER_MS,
      });
      return;
    }
    // Counted before the await, so concurrent uploads on this node see each other.
    this.#inFlight.set(account, current + 1);
    const id = newBlobId(this.options.random);
    let claimed = false;
    try {
      const now = clock.now();
      // The bytes are claimed in the store before the body is read, so
      // uploads running at once — on this node or any other of a cluster —
      // cannot together pass the quota. The claim outlives the longest
      // upload the server allows, so a node dying mid-upload frees it too.
      claimed = await this.options.store.reserve(
        { id, account, size, until: now + limits.blobUploadTimeoutMs + CLAIM_SLACK_MS },
        limits.blobQuotaBytes,
        now,
      );
      if (!claimed) {
        this.#refuse(req, res, 'quota-exceeded', {
          status: 413,
          error: 'quota-exceeded',
          message: `this account's blobs are limited to ${limits.blobQuotaBytes} bytes`,
          limit: limits.blobQuotaBytes,
        });
        return;
      }
      const ttl = kind === 'archive' ? limits.archiveTtlMs : limits.attachmentTtlMs;
      const record = {
        id,
        account,
        kind: kind as BlobKind,
        size,
        createdAt: now,
        expiresAt: now + ttl,
      };
      try {
        await this.options.store.put(record, req);
      } catch (error) {
        if (BlobStoreError.is(error, 'size-mismatch') || req.destroyed || req.readableAborted) {
          // The body did not match its Content-Length, or the client went
          // away: nothing was stored. Answer if anyone is still listening.
          this.options.metrics.refused('incomplete-body');
          if (!res.headersSent && !res.destroyed) {
            this.#send(
              res,
              400,
              {
                error: 'bad-request',
                message: 'the body did not match its Content-Length',
              },
              true,
            );
          }
          if (!BlobStoreError.is(error)) {
            this.options.logger.debug({ err: error }, 'blob upload cut');
          }
          return;
        }
        throw error;
      }
      // The store ended the claim in the commit that stored the blob.
      claimed = false;
      this.options.metrics.uploads += 1;
      this.options.metrics.uploadedBytes += size;
      this.#send(res, 201, { id: record.id, size, expiresAt: record.expiresAt });
    } finally {
      const after = this.#inFlight.get(account) ?? 1;
      if (after <= 1) this.#inFlight.delete(account);
      else this.#inFlight.set(account, after - 1);
      if (claimed) await this.#release(id);
    }
  }

  /** Ends an upload's claim; a failure is logged, and the claim's `until` retires it. */
  async #release(id: string): Promise<void> {
    try {
      await this.options.store.release(id);
    } catch (error) {
      this.options.logger.warn({ err: error }, 'blob quota claim not released');
    }
  }

  async #download(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    const principal = await this.#authorize(req, res);
    if (principal === undefined) return;
    // Any device may download by id: the id is the capability (unguessable,
    // and the content is ciphertext under a key only the recipients hold).
    const record = isBlobId(id)
      ? await this.options.store.get(id, this.options.clock.now())
      : undefined;
    if (record === undefined) {
      this.#notFound(req, res);
      return;
    }
    const range = parseRange(req.headers.range, record.size);
    if (range === 'unsatisfiable') {
      this.options.metrics.refused('bad-request');
      res.writeHead(416, { ...HEADERS, 'content-range': `bytes */${record.size}` });
      res.end();
      return;
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? record.size - 1;
    const headers = {
      ...HEADERS,
      'content-type': 'application/octet-stream',
      'content-length': String(end - start + 1),
      'accept-ranges': 'bytes',
      ...(range === undefined ? {} : { 'content-range': `bytes ${start}-${end}/${record.size}` }),
    };
    res.writeHead(range === undefined ? 200 : 206, headers);
    if (req.method === 'HEAD' || record.size === 0 || end < start) {
      res.end();
      return;
    }
    this.options.metrics.downloads += 1;
    const metrics = this.options.metrics;
    const counted = async function* (source: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
      for await (const piece of source) {
        metrics.downloadedBytes += piece.length;
        yield piece;
      }
    };
    try {
      // pipeline waits for 'drain' between pieces and tears both ends down on failure.
      await pipeline(
        // One piece read ahead at most (the default would buffer 16).
        Readable.from(counted(this.options.store.read(id, start, end)), { highWaterMark: 1 }),
        res,
      );
    } catch (error) {
      // A client that hangs up mid-download is normal (it resumes with Range).
      if (!res.destroyed) res.destroy();
      if (!(
        error instanceof Error &&
        'code' in error &&
        error.code === 'ERR_STREAM_PREMATURE_CLOSE'
      )) {
        this.options.logger.warn({ err: error }, 'blob download failed');
      }
    }
  }

  async #delete(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    const principal = await this.#authorize(req, res);
    if (principal === undefined) return;
    const kind = new URL(req.url ?? '/', 'http://localhost').searchParams.get('kind');
    if (kind !== null && !BLOB_KINDS.includes(kind as BlobKind)) {
      this.#refuse(req, res, 'bad-request', {
        status: 400,
        error: 'bad-request',
        message: 'kind must be attachment or archive',
      });
      return;
    }
    if (kind !== null) {
      // `?kind=archive`: delete only a blob of that kind. A companion that
      // refuses a history pointer deletes the blob it names, on the word of
      // a device it does not trust; with the kind pinned, a pointer that
      // names one of the account's attachments cannot make it delete that
      // attachment (a kind never changes, so checking first is not racy).
      const record = isBlobId(id)
        ? await this.options.store.get(id, this.options.clock.now())
        : undefined;
      if (record === undefined || record.kind !== kind) {
        this.#notFound(req, res);
        return;
      }
    }
    // Someone else's blob answers like a missing one: no oracle for ids.
    // Only the uploading account may delete: a device of another account
    // never removes this account's blobs, even by naming their ids.
    if (!(await this.options.store.delete(id, principal.account))) {
      this.#notFound(req, res);
      return;
    }
    this.options.metrics.deletes += 1;
    res.writeHead(204, HEADERS);
    res.end();
  }

  #notFound(req: IncomingMessage, res: ServerResponse): void {
    this.#refuse(req, res, 'not-found', {
      status: 404,
      error: 'not-found',
      message: 'no such blob',
    });
  }

  /**
   * Answers with an error. A request whose body has not been read gets
   * `Connection: close` and the socket ends after the answer: reading
   * (even discarding) a body we refused is what a refusal must not cost.
   */
  #refuse(req: IncomingMessage, res: ServerResponse, reason: BlobRefusal, refusal: Refusal): void {
    this.options.metrics.refused(reason);
    const { status, ...body } = refusal;
    this.#send(res, status, body, !req.complete);
  }

  #send(res: ServerResponse, status: number, body: object, close = false): void {
    const text = `${JSON.stringify(body)}\n`;
    res.writeHead(status, {
      ...HEADERS,
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(text)),
      ...(close ? { connection: 'close' } : {}),
    });
    res.end(text);
    if (close) {
      // Node would otherwise read and discard the rest of the body to keep
      // the connection alive.
      res.once('finish', () => res.socket?.destroySoon());
    }
  }
}

/** The Content-Length as a safe integer, or undefined when absent, invalid or chunked. */
function contentLength(req: IncomingMessage): number | undefined {
  if (req.headers['transfer-encoding'] !== undefined) return undefined;
  const raw = req.headers['content-length'];
  if (raw === undefined || !/^\d{1,16}$/.test(raw)) return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * `bytes=N-` or `bytes=N-M` (one range; anything else is ignored and the
 * whole blob sent, as RFC 9110 allows). A start past the end is 416.
 */
function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d{1,16})-(\d{0,16})$/.exec(header.trim());
  if (match === null) return undefined;
  const start = Number(match[1]);
  const end = match[2] === undefined || match[2] === '' ? size - 1 : Number(match[2]);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end: Math.min(end, size - 1) };
}
