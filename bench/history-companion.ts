/**
 * The companion half of `npm run bench:history`, in its own process so its
 * peak RSS is measured alone: download, verify, decompress and import the
 * archive into a fresh SQLite profile, then delete the blob. Prints one
 * JSON object.
 */
import { create } from '@bufbuild/protobuf';
import { HistorySyncNotificationSchema } from '../src/gen/quintet/v1/content_pb.js';
import { HistoryImporter, recordImport } from '../src/client/core/history/importer.js';
import type { ClientEvent } from '../src/client/core/events.js';
import { createDeviceStore } from '../src/client/core/store/device-store.js';
import { zlibCompressor } from '../src/client/platform/zlib-compressor.js';
import { SqliteBackend } from '../src/client/storage/sqlite-backend.js';
import { BlobClient } from '../src/client/transport/blob-client.js';
import { nodeCrypto } from '../src/crypto/node.js';
import { systemClock } from '../src/crypto/provider.js';

const [url, token, blobId, key, sha, size, count, path] = process.argv.slice(2);
if (path === undefined)
  throw new Error('usage: history-companion <url> <token> <id> <key> <sha> <size> <count> <db>');

const store = createDeviceStore(new SqliteBackend(path));
await store.transaction((tx) =>
  recordImport(
    tx,
    create(HistorySyncNotificationSchema, {
      blobId,
      key: Buffer.from(key ?? '', 'base64'),
      ciphertextSha256: Buffer.from(sha ?? '', 'base64'),
      size: BigInt(size ?? '0'),
      messageCount: Number(count),
    }),
  ),
);
let failed: ClientEvent | undefined;
let imported = 0;
const importer = new HistoryImporter(
  { crypto: nodeCrypto, random: (n) => nodeCrypto.randomBytes(n), clock: systemClock },
  store,
  {
    blobs: new BlobClient(url ?? '', async () => token ?? ''),
    compressor: zlibCompressor,
  },
  (event) => {
    if (event.type === 'history-sync' && event.phase === 'failed') failed = event;
    if (event.type === 'history-sync' && event.phase === 'done') imported = event.messages;
  },
);
const start = performance.now();
await importer.run();
const seconds = (performance.now() - start) / 1000;
await store.close();
if (failed !== undefined) throw new Error(`import failed: ${JSON.stringify(failed)}`);
process.stdout.write(
  JSON.stringify({
    seconds,
    imported,
    // maxRSS is in KiB.
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    messagesPerSecond: imported / seconds,
  }),
);
