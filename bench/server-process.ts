/**
 * The Quintet server as a benchmark child process: SQLite store with group
 * commit under a temporary data directory (argv[2]), warnings-only logging.
 */
import { startServer } from '../src/server/main.js';
import { onControl } from './server-ipc.js';

const dataDir = process.argv[2];
if (dataDir === undefined) throw new Error('usage: server-process.ts DATA_DIR');
const server = await startServer({
  port: 0,
  dataDir,
  logLevel: 'warn',
  // The benchmark fetches no bundles; keep limits at their defaults otherwise.
});
onControl(server.wsUrl, () => server.close());
