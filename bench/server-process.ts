/**
 * The Quintet server as a benchmark child process: SQLite store with group
 * commit under a temporary data directory (argv[2]), warnings-only logging.
 *
 * It runs the compiled server in dist/ — what `npm start` runs — not the
 * TypeScript sources through the test-time loader, whose transform adds
 * work of its own to every function the server creates per message.
 * `npm run bench:server` compiles first.
 */
import type * as ServerModule from '../src/server/main.js';
import { onControl } from './server-ipc.js';

const dataDir = process.argv[2];
if (dataDir === undefined) throw new Error('usage: server-process.ts DATA_DIR');
const compiled = new URL('../dist/server/main.js', import.meta.url).href;
const { startServer } = (await import(compiled)) as typeof ServerModule;
const server = await startServer({
  port: 0,
  dataDir,
  logLevel: 'warn',
  // The benchmarks open thousands of connections and register thousands of
  // accounts (bench/server.ts: 10,000 idle devices; bench/group.ts: a
  // 1,024-member group), all from 127.0.0.1, so the per-address and total
  // connection caps and the per-address registration limit are raised; so
  // are the per-account send rates: each benchmark account sends hundreds of
  // messages a second (and the group benchmark's sender fans out to 5,120
  // devices per send), far beyond what one person does. The benchmark
  // fetches no bundles; other limits keep their defaults.
  limits: {
    maxConnections: 100_000,
    maxConnectionsPerAddress: 100_000,
    registrationBurst: 1_000_000,
    sendRateBurst: 1_000_000,
    sendRatePerSecond: 1_000_000,
    sendBytesBurst: 1024 * 1024 * 1024,
    sendBytesPerSecond: 1024 * 1024 * 1024,
  },
});

/** The store's commit count, from the server's own Prometheus endpoint. */
async function commits(): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = /^quintet_store_commits_total (\d+)$/m.exec(text);
  return Number(line?.[1] ?? Number.NaN);
}
onControl(server.wsUrl, () => server.close(), commits);
