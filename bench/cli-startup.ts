/**
 * `npm run bench:cli`: how long the `quintet` command takes, as a person
 * runs it — a fresh `node bin/quintet.js` process each time, timed from
 * spawn to exit. Two rows (JSON lines): `quintet --help`, and `quintet send`
 * to a known peer (a session already exists) against a local server started
 * by this benchmark on a loopback port.
 *
 * Usage: `npm run bench:cli [-- --runs N] [-- --root DIR]`. `--root` measures
 * another checkout's build (its bin/ and dist/; e.g. a base commit), with
 * this checkout's server, so two roots can be compared side by side. The
 * root's dist/ must be built (`npm run build`).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startServer } from '../src/server/main.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '15' },
    root: { type: 'string', default: resolve(import.meta.dirname, '..') },
  },
});
const RUNS = Number(values.runs);
const ROOT = resolve(values.root);
const BIN = join(ROOT, 'bin', 'quintet.js');

/** Runs the CLI once; resolves with its wall time in ms (rejects on a non-zero exit). */
function timeCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<number> {
  return new Promise((done, fail) => {
    const started = performance.now();
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', fail);
    child.on('exit', (code) => {
      const ms = performance.now() - started;
      if (code === 0) done(ms);
      else fail(new Error(`quintet ${args.join(' ')} exited ${String(code)}: ${stderr}`));
    });
  });
}

function quantile(sorted: readonly number[], q: number): number {
  const index = Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? Number.NaN;
}

function row(name: string, samples: number[]): void {
  const sorted = [...samples].sort((a, b) => a - b);
  const line = {
    bench: 'cli-startup',
    name,
    root: ROOT,
    runs: sorted.length,
    median_ms: Number(quantile(sorted, 0.5).toFixed(1)),
    p90_ms: Number(quantile(sorted, 0.9).toFixed(1)),
    min_ms: Number((sorted[0] ?? Number.NaN).toFixed(1)),
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

const work = mkdtempSync(join(tmpdir(), 'quintet-bench-cli-'));
const server = await startServer({ port: 0, dataDir: join(work, 'data'), logLevel: 'silent' });
try {
  const url = server.url;
  const alice = join(work, 'alice');
  const bob = join(work, 'bob');
  const env = { QUINTET_PIN: '1234' };
  await timeCli(['register', 'alice', '--profile', alice, '--server', url], env);
  await timeCli(['register', 'bob', '--profile', bob, '--server', url], env);
  // The first send builds the session: later ones go to a known peer.
  await timeCli(['send', 'bob', 'warm-up', '--profile', alice]);

  const help: number[] = [];
  for (let i = 0; i < RUNS; i++) help.push(await timeCli(['--help']));
  row('help', help);

  const send: number[] = [];
  for (let i = 0; i < RUNS; i++)
    send.push(await timeCli(['send', 'bob', `m${i}`, '--profile', alice]));
  row('send-known-peer', send);
} finally {
  await server.close();
  rmSync(work, { recursive: true, force: true });
}
