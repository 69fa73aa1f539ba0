/**
 * One node of a benchmark cluster as a child process of bench/cluster.ts:
 * the compiled server (dist/, what `quintet server` runs) on PostgreSQL
 * (argv[2]: the URL, argv[3]: the schema) and NATS (argv[4]), with node id
 * argv[5]; argv[6], when given, is another build's dist/ directory to run
 * instead (bench/cluster.ts --baseline). Speaks the same IPC as
 * bench/server-process.ts.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as ServerModule from '../src/server/main.js';
import { BENCH_LIMITS } from './bench-limits.js';
import { onControl } from './server-ipc.js';

const [database, databaseSchema, bus, nodeId, dist] = process.argv.slice(2);
if (
  database === undefined ||
  databaseSchema === undefined ||
  bus === undefined ||
  nodeId === undefined
) {
  throw new Error('usage: cluster-node.ts DATABASE_URL SCHEMA BUS_URL NODE_ID');
}
const compiled =
  dist === undefined
    ? new URL('../dist/server/main.js', import.meta.url).href
    : pathToFileURL(resolve(dist, 'server/main.js')).href;
const { startServer } = (await import(compiled)) as typeof ServerModule;
const server = await startServer({
  port: 0,
  database,
  databaseSchema,
  bus,
  nodeId,
  // QUINTET_BENCH_LOG_LEVEL=info shows the bus state changes (degraded mode left).
  logLevel: process.env['QUINTET_BENCH_LOG_LEVEL'] === 'info' ? 'info' : 'warn',
  limits: BENCH_LIMITS,
});

/** The store's commit count, from the node's own Prometheus endpoint (NaN when it has none). */
async function commits(): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = /^quintet_store_commits_total(?:\{[^}]*\})? (\d+)$/m.exec(text);
  return Number(line?.[1] ?? Number.NaN);
}
onControl(server.wsUrl, () => server.close(), commits);
