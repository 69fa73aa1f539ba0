/**
 * PLACEHOLDER for the blobs part's HTTP blob client (branch h/blobs): same
 * interface as the issue-12 contract, so the attachment code compiles and
 * can be tested. The owner's version replaces this file at merge.
 */
export type BlobErrorCode =
  | 'unauthorized'
  | 'blob-too-large'
  | 'quota-exceeded'
  | 'not-found'
  | 'bad-request'
  | 'unavailable';

export class BlobError extends Error {
  override readonly name = 'BlobError';
  constructor(
    readonly code: BlobErrorCode,
    message: string,
    readonly limit?: number,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export class BlobClient {
  constructor(
    private readonly baseUrl: string,
    private readonly credential: () => Promise<string>,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  async upload(
    body: AsyncIterable<Uint8Array> | Uint8Array,
    size: number,
    kind: 'attachment' | 'archive',
    onProgress?: (sent: number) => void,
  ): Promise<{ id: string; expiresAt: number }> {
    void body;
    void size;
    void kind;
    void onProgress;
    void this.baseUrl;
    void this.credential;
    void this.fetchImpl;
    throw new BlobError('unavailable', 'blob client placeholder');
  }

  download(
    id: string,
    options?: { offset?: number; onProgress?: (received: number) => void },
  ): AsyncIterable<Uint8Array> {
    void id;
    void options;
    throw new BlobError('unavailable', 'blob client placeholder');
  }

  async delete(id: string): Promise<void> {
    void id;
    throw new BlobError('unavailable', 'blob client placeholder');
  }
}
