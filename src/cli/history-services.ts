/**
 * History sync services for CLI clients: the server's blob store over
 * HTTP (credential from the client's authenticated connection, cached for
 * its hour) and node:zlib compression.
 */
import type { QuintetClient } from '../client/core/client.js';
import type { HistoryServices } from '../client/core/history/importer.js';
import { zlibCompressor } from '../client/platform/zlib-compressor.js';
import { BlobClient, cachedBlobCredential } from '../client/transport/blob-client.js';

/** Services for a client connected to `serverUrl`; `client` is read lazily. */
export function cliHistoryServices(
  serverUrl: string,
  client: () => QuintetClient,
): HistoryServices {
  return {
    blobs: new BlobClient(
      serverUrl,
      cachedBlobCredential(() => client().getBlobCredential()),
    ),
    compressor: zlibCompressor,
  };
}
