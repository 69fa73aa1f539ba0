/**
 * Picks the blob backend that matches the server's store: PostgreSQL
 * beside a PostgreSQL store (every node of a cluster sees every blob),
 * files under the data directory beside SQLite, and files in a temporary
 * directory (removed on close) for an in-memory or injected store.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPostgresBlobStore } from '../store/postgres/blobs.js';
import type { BlobStore } from './blob-store.js';
import { openFileBlobStore } from './file-blob-store.js';

/** Where the server's blobs live. */
export type BlobBackendChoice =
  | { readonly kind: 'postgres'; readonly url: string; readonly schema?: string }
  | { readonly kind: 'files'; readonly dataDir: string }
  | { readonly kind: 'temporary' };

/** The blobs directory inside a data directory. */
export function blobsDir(dataDir: string): string {
  return join(dataDir, 'blobs');
}

/** Opens the chosen backend. */
export async function openBlobBackend(
  choice: BlobBackendChoice,
  onError: (error: unknown) => void,
): Promise<BlobStore> {
  switch (choice.kind) {
    case 'postgres':
      return openPostgresBlobStore({
        url: choice.url,
        ...(choice.schema === undefined ? {} : { schema: choice.schema }),
        onError,
      });
    case 'files':
      return openFileBlobStore({ dir: blobsDir(choice.dataDir), onError });
    case 'temporary':
      return openFileBlobStore({
        dir: await mkdtemp(join(tmpdir(), 'quintet-blobs-')),
        removeOnClose: true,
        onError,
      });
  }
}
