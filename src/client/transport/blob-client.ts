/**
 * The client side of the blob HTTP API (docs/protocol.md, "Blobs"):
 * upload, resumable download and delete of opaque (already encrypted)
 * blobs, with `fetch`, so it runs on Node 20 and in a browser alike. No
 * Node imports.
 *
 * Uploads stream: in Node the body is a `ReadableStream` pulled as the
 * socket takes it (`duplex: 'half'`), with the Content-Length the server
 * requires. Browsers only stream request bodies over HTTP/2 and never let
 * a page set Content-Length, so there an iterable body is gathered into a
 * `Blob` (which the browser may keep on disk) and sent with its length.
 * Downloads resume: when the connection is cut, the next request asks for
 * `Range: bytes=<received>-` and the caller sees one unbroken stream.
 */

import { platformScheduler, sleepOn, type Scheduler } from '../core/scheduler.js';

/** Stable failure codes (the server's, plus `network` and `bad-response`). */
export type BlobErrorCode =
  | 'unauthorized'
  | 'blob-too-large'
  | 'quota-exceeded'
  | 'not-found'
  | 'bad-request'
  | 'unavailable'
  /** Too many uploads in progress for the account (HTTP 429); retry after `retryAfterMs`. */
  | 'rate-limited'
  /** The server could not be reached, or the connection kept breaking. */
  | 'network'
  /** The server answered something this client cannot use. */
  | 'bad-response';

const SERVER_CODES: readonly BlobErrorCode[] = [
  'unauthorized',
  'blob-too-large',
  'quota-exceeded',
  'not-found',
  'bad-request',
  'unavailable',
  'rate-limited',
];

/** A failed blob request. Messages carry no content, keys or tokens. */
export class BlobError extends Error {
  override readonly name = 'BlobError';
  constructor(
    readonly code: BlobErrorCode,
    message: string,
    readonly details: { status?: number; limit?: number; retryAfterMs?: number } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
  /** Type guard: `BlobError.is(err, 'quota-exceeded')`. */
  static is(value: unknown, code?: BlobErrorCode): value is BlobError {
    return value instanceof BlobError && (code === undefined || value.code === code);
  }
}

/** The server's blob limits and what the account uses (`BlobClient.usage`). */
export interface BlobUsage {
  readonly maxBlobBytes: number;
  readonly quotaBytes: number;
  readonly usedBytes: number;
}

/** What `upload` resolves to. */
export interface UploadedBlob {
  readonly id: string;
  readonly expiresAt: number;
}

/** Options of `download`. */
export interface DownloadOptions {
  /** Start at this byte (a download resumed by the caller). */
  readonly offset?: number;
  /** Called with the bytes received so far (offset included). */
  readonly onProgress?: (received: number) => void;
}

/** Consecutive failed attempts (no byte received between them) before a download gives up. */
const MAX_ATTEMPTS = 5;
const BASE_BACKOFF_MS = 200;
/** Upload pieces when a `Uint8Array` is streamed (progress granularity). */
const UPLOAD_PIECE = 256 * 1024;

/** fetch's init with the field Node needs for a streamed body (not in every lib typing). */
type StreamingInit = RequestInit & { duplex?: 'half' };

function isNode(): boolean {
  const process = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof process?.versions?.node === 'string';
}

/** Blob API client for one server. */
export class BlobClient {
  readonly #base: string;
  readonly #fetch: typeof fetch;
  readonly #sleep: (ms: number) => Promise<void>;

  /**
   * @param baseUrl the server's HTTP origin (`http://host:port`; a ws:// URL is mapped)
   * @param credential a current bearer token (`getBlobCredential`, cached by the caller)
   * @param schedule the timer of the backoff between download attempts (default: the platform's)
   */
  constructor(
    baseUrl: string,
    private readonly credential: () => Promise<string>,
    fetchImpl?: typeof fetch,
    schedule?: Scheduler,
  ) {
    const url = new URL(baseUrl);
    if (url.protocol === 'ws:') url.protocol = 'http:';
    if (url.protocol === 'wss:') url.protocol = 'https:';
    this.#base = url.origin;
    this.#fetch = fetchImpl ?? ((input, init) => globalThis.fetch(input, init));
    this.#sleep = sleepOn(schedule ?? platformScheduler);
  }

  /**
   * Uploads `size` bytes of `body` as a new blob. The server refuses a
   * blob over its limit or past the account's quota before reading the
   * body (`blob-too-large`, `quota-exceeded`).
   */
  async upload(
    body: AsyncIterable<Uint8Array> | Uint8Array,
    size: number,
    kind: 'attachment' | 'archive',
    onProgress?: (sent: number) => void,
  ): Promise<UploadedBlob> {
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new BlobError('bad-request', 'size must be a non-negative integer');
    }
    if (body instanceof Uint8Array && body.length !== size) {
      throw new BlobError('bad-request', 'size does not match the body');
    }
    const token = await this.credential();
    const init: StreamingInit = {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
      // Following a redirect would need the body again: with 'follow' the
      // fetch implementation keeps a copy of a streamed body (the whole
      // file, unread) in case it has to resend it.
      redirect: 'error',
    };
    if (isNode()) {
      init.body = streamOf(body, size, onProgress);
      init.duplex = 'half';
      (init.headers as Record<string, string>)['content-length'] = String(size);
    } else {
      init.body = body instanceof Uint8Array ? new Blob([body.slice()]) : await gather(body, size);
    }
    let response: Response;
    try {
      response = await this.#request(`${this.#base}/v1/blobs?kind=${kind}`, init);
    } catch (error) {
      // The server refuses an upload over a limit before reading its body
      // and closes the connection, which fetch reports as a network error:
      // ask which limit it was, so the caller hears that instead.
      throw (await this.#limitRefusal(size).catch(() => undefined)) ?? error;
    }
    if (response.status !== 201) throw await errorOf(response);
    const json = (await response.json().catch(() => undefined)) as
      { id?: unknown; expiresAt?: unknown } | undefined;
    if (typeof json?.id !== 'string' || typeof json.expiresAt !== 'number') {
      throw new BlobError('bad-response', 'upload answer lacks id or expiresAt');
    }
    if (!isNode()) onProgress?.(size);
    return { id: json.id, expiresAt: json.expiresAt };
  }

  /**
   * The blob's bytes from `offset`, as they arrive. A cut connection is
   * resumed with a Range request from the last byte received (up to
   * `MAX_ATTEMPTS` times in a row without progress); the caller sees one
   * stream. Breaking out of the loop cancels the request.
   */
  async *download(id: string, options: DownloadOptions = {}): AsyncIterable<Uint8Array> {
    let received = options.offset ?? 0;
    let total: number | undefined;
    let failures = 0;
    let lastError: unknown;
    while (total === undefined || received < total) {
      if (failures >= MAX_ATTEMPTS) {
        throw new BlobError('network', 'download kept failing', {}, { cause: lastError });
      }
      if (failures > 0) await this.#sleep(BASE_BACKOFF_MS * 2 ** (failures - 1));
      const token = await this.credential();
      const headers: Record<string, string> = { authorization: `Bearer ${token}` };
      if (received > 0) headers['range'] = `bytes=${received}-`;
      let response: Response;
      try {
        response = await this.#request(`${this.#base}/v1/blobs/${encodeURIComponent(id)}`, {
          headers,
        });
      } catch (error) {
        failures += 1;
        lastError = error;
        continue;
      }
      if (response.status !== 200 && response.status !== 206) {
        const error = await errorOf(response);
        if (error.code === 'unavailable') {
          failures += 1;
          lastError = error;
          continue;
        }
        throw error;
      }
      total = totalOf(response, received);
      if (response.body === null) throw new BlobError('bad-response', 'download has no body');
      const reader = response.body.getReader();
      let finished = false;
      try {
        for (;;) {
          let chunk: ReadableStreamReadResult<Uint8Array>;
          try {
            chunk = await reader.read();
          } catch (error) {
            // The connection broke mid-body: resume from `received`.
            failures += 1;
            lastError = error;
            break;
          }
          if (chunk.done) {
            finished = true;
            break;
          }
          if (received + chunk.value.length > total) {
            throw new BlobError('bad-response', 'more bytes than the blob has');
          }
          received += chunk.value.length;
          failures = 0;
          options.onProgress?.(received);
          yield chunk.value;
        }
      } finally {
        // The consumer stopped early or the body failed: free the connection.
        if (!finished) await reader.cancel().catch(() => undefined);
        reader.releaseLock();
      }
      if (finished && received < total) {
        failures += 1;
        lastError = new BlobError('network', 'body ended early');
      }
    }
  }

  /**
   * Deletes a blob this account uploaded (`not-found` otherwise); with
   * `kind`, only a blob of that kind (`not-found` for another kind).
   */
  async delete(id: string, kind?: 'attachment' | 'archive'): Promise<void> {
    const token = await this.credential();
    const query = kind === undefined ? '' : `?kind=${kind}`;
    const url = `${this.#base}/v1/blobs/${encodeURIComponent(id)}${query}`;
    const response = await this.#request(url, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}` },
    });
    if (response.status !== 204) throw await errorOf(response);
  }

  /** The account's limits and usage (`GET /v1/blobs`). */
  async usage(): Promise<BlobUsage> {
    const token = await this.credential();
    const response = await this.#request(`${this.#base}/v1/blobs`, {
      headers: { authorization: `Bearer ${token}` },
    });
    if (response.status !== 200) throw await errorOf(response);
    const json = (await response.json().catch(() => undefined)) as Partial<BlobUsage> | undefined;
    const { maxBlobBytes, quotaBytes, usedBytes } = json ?? {};
    if (
      typeof maxBlobBytes !== 'number' ||
      typeof quotaBytes !== 'number' ||
      typeof usedBytes !== 'number'
    ) {
      throw new BlobError('bad-response', 'usage answer lacks its fields');
    }
    return { maxBlobBytes, quotaBytes, usedBytes };
  }

  /** The refusal an upload of `size` bytes met, if a limit explains it. */
  async #limitRefusal(size: number): Promise<BlobError | undefined> {
    const usage = await this.usage();
    if (size > usage.maxBlobBytes) {
      return new BlobError('blob-too-large', `blobs are limited to ${usage.maxBlobBytes} bytes`, {
        status: 413,
        limit: usage.maxBlobBytes,
      });
    }
    if (usage.usedBytes + size > usage.quotaBytes) {
      return new BlobError(
        'quota-exceeded',
        `this account's blobs are limited to ${usage.quotaBytes} bytes`,
        { status: 413, limit: usage.quotaBytes },
      );
    }
    return undefined;
  }

  async #request(url: string, init: StreamingInit): Promise<Response> {
    try {
      return await this.#fetch(url, init);
    } catch (error) {
      if (error instanceof BlobError) throw error;
      throw new BlobError('network', 'the blob server could not be reached', {}, { cause: error });
    }
  }
}

/**
 * Wraps a credential source so a token is fetched once and reused until
 * a minute before it expires (one WebSocket request per hour, not per blob).
 */
export function cachedBlobCredential(
  fetchToken: () => Promise<{ token: string; expiresAt: number }>,
  now: () => number = Date.now,
): () => Promise<string> {
  let current: { token: string; expiresAt: number } | undefined;
  let pending: Promise<{ token: string; expiresAt: number }> | undefined;
  return async () => {
    if (current !== undefined && current.expiresAt - 60_000 > now()) return current.token;
    pending ??= fetchToken().finally(() => {
      pending = undefined;
    });
    current = await pending;
    return current.token;
  };
}

/** The blob's total size from Content-Range (206) or Content-Length (200). */
function totalOf(response: Response, received: number): number {
  if (response.status === 206) {
    const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(response.headers.get('content-range') ?? '');
    if (match === null || Number(match[1]) !== received) {
      throw new BlobError('bad-response', 'range answer does not start where asked');
    }
    return Number(match[3]);
  }
  if (received > 0) throw new BlobError('bad-response', 'the server ignored the range');
  const length = Number(response.headers.get('content-length') ?? NaN);
  if (!Number.isSafeInteger(length)) throw new BlobError('bad-response', 'no content length');
  return length;
}

/** The server's JSON error as a `BlobError` (the status decides when the body is not JSON). */
async function errorOf(response: Response): Promise<BlobError> {
  const json = (await response.json().catch(() => undefined)) as
    { error?: unknown; message?: unknown; limit?: unknown; retryAfterMs?: unknown } | undefined;
  const named = SERVER_CODES.find((code) => code === json?.error);
  const code: BlobErrorCode =
    named ??
    (response.status === 401
      ? 'unauthorized'
      : response.status === 404
        ? 'not-found'
        : response.status === 503
          ? 'unavailable'
          : response.status === 429
            ? 'rate-limited'
            : response.status >= 500
              ? 'unavailable'
              : 'bad-request');
  const message = typeof json?.message === 'string' ? json.message : `HTTP ${response.status}`;
  return new BlobError(code, message, {
    status: response.status,
    ...(typeof json?.limit === 'number' ? { limit: json.limit } : {}),
    ...(typeof json?.retryAfterMs === 'number' ? { retryAfterMs: json.retryAfterMs } : {}),
  });
}

/** A pull-based stream of the body: the next piece is read only when fetch asks. */
function streamOf(
  body: AsyncIterable<Uint8Array> | Uint8Array,
  size: number,
  onProgress?: (sent: number) => void,
): ReadableStream<Uint8Array> {
  const source: AsyncIterable<Uint8Array> = body instanceof Uint8Array ? pieces(body) : body;
  const iterator = source[Symbol.asyncIterator]();
  let sent = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const next = await iterator.next();
        if (next.done === true) {
          if (sent !== size)
            controller.error(new BlobError('bad-request', 'body shorter than size'));
          else controller.close();
          return;
        }
        sent += next.value.length;
        if (sent > size) {
          controller.error(new BlobError('bad-request', 'body longer than size'));
          return;
        }
        controller.enqueue(next.value);
        onProgress?.(sent);
      },
      async cancel() {
        await iterator.return?.();
      },
    },
    { highWaterMark: 0 },
  );
}

async function* pieces(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += UPLOAD_PIECE) {
    yield bytes.subarray(offset, offset + UPLOAD_PIECE);
  }
}

/** Browser path: a `Blob` of the body (the browser may page it to disk). */
async function gather(body: AsyncIterable<Uint8Array>, size: number): Promise<Blob> {
  const parts: BlobPart[] = [];
  let length = 0;
  for await (const piece of body) {
    length += piece.length;
    // Copied: the producer may reuse its buffer for the next piece.
    parts.push(piece.slice());
  }
  if (length !== size) throw new BlobError('bad-request', 'body length does not match size');
  return new Blob(parts);
}
