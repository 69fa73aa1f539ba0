/**
 * The Quintet server as a benchmark child process: SQLite store with group
 * commit under a temporary data directory (argv[2]), warnings-only logging;
 * argv[3] `full` runs it with `synchronous=FULL` (an fsync per commit, the
 * durability PostgreSQL's default commit gives) instead of the default
 * `NORMAL`.
 *
 * It runs the compiled server in dist/ — what `npm start` runs — not the
 * TypeScript sources through the test-time loader, whose transform adds
 * work of its own to every function the server creates per message.
 * `npm run bench:server` compiles first.
 */
import type * as ServerModule from '../src/server/main.js';
import { BENCH_LIMITS } from './bench-limits.js';
import { onControl } from './server-ipc.js';

const dataDir = process.argv[2];
if (dataDir === undefined) throw new Error('usage: server-process.ts DATA_DIR [full]');
const synchronous = process.argv[3] === 'full' ? 'full' : 'normal';
const compiled = new URL('../dist/server/main.js', import.meta.url).href;
const { startServer } = (await import(compiled)) as typeof ServerModule;
const server = await startServer({
  port: 0,
  dataDir,
  synchronous,
  logLevel: 'warn',
  limits: BENCH_LIMITS,
});

/** The store's commit count, from the server's own Prometheus endpoint. */
async function commits(): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = /^quintet_store_commits_total (\d+)$/m.exec(text);
  return Number(line?.[1] ?? Number.NaN);
}
onControl(server.wsUrl, () => server.close(), commits);
