/**
 * The Quintet server as the attachment benchmark's child process (file blob
 * store under the data directory in argv[2]), so the client's memory and
 * CPU are measured apart from the server's. Prints its URL, then runs until
 * killed.
 */
import { startServer } from '../src/server/main.js';

const dataDir = process.argv[2];
if (dataDir === undefined) throw new Error('usage: attachments-server.ts DATA_DIR');
const MIB = 1024 * 1024;
const server = await startServer({
  port: 0,
  dataDir,
  logLevel: 'warn',
  limits: { maxBlobBytes: 2048 * MIB, blobQuotaBytes: 16384 * MIB, registrationBurst: 1000 },
});
process.stdout.write(`${server.url}\n`);
process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
