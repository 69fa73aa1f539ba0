/**
 * PLACEHOLDER for the blobs part's HTTP blob client (issue 12 contract):
 * the same exported names and signatures, so the history part compiles and
 * can be tested against an in-memory stand-in. The blobs branch replaces
 * this file whole at merge.
 */

/** Error codes of the blob HTTP API. */
export type BlobErrorCode =
  | 'unauthorized'
  | 'blob-too-large'
  | 'quota-exceeded'
  | 'not-found'
  | 'bad-request'
  | 'unavailable';

/** A failed blob request. */
export class BlobError extends Error {
  override readonly name = 'BlobError';
  constructor(
    readonly code: BlobErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Upload, download and delete of opaque blobs on the server's blob store. */
export class BlobClient {
  constructor(
    readonly baseUrl: string,
    readonly credential: () => Promise<string>,
    readonly fetchImpl: typeof fetch = fetch,
  ) {}

  upload(
    _body: AsyncIterable<Uint8Array> | Uint8Array,
    _size: number,
    _kind: 'attachment' | 'archive',
    _onProgress?: (sent: number) => void,
  ): Promise<{ id: string; expiresAt: number }> {
    return Promise.reject(new BlobError('unavailable', 'blob client placeholder'));
  }

  // eslint-disable-next-line require-yield
  async *download(
    _id: string,
    _options?: { offset?: number; onProgress?: (received: number) => void },
  ): AsyncIterable<Uint8Array> {
    throw new BlobError('unavailable', 'blob client placeholder');
  }

  delete(_id: string): Promise<void> {
    return Promise.reject(new BlobError('unavailable', 'blob client placeholder'));
  }
}
