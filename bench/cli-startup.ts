/**
 * `npm run bench:cli`: how long the `quintet` command takes, as a person
 * runs it — a fresh `node bin/quintet.js` process each time, timed from
 * spawn to exit. Two rows (JSON lines): `quintet --help`, and `quintet send`
 * to a known peer (a session already exists) against a local server started
 * by this benchmark on a loopback port.
 *
 * Usage: `npm run bench:cli [-- --runs N] [-- --base DIR]`. `--base` also
 * measures another checkout's build (its bin/ and dist/, e.g. a base commit;
 * `npm run build` there first) against the same server, alternating run by
 * run with this checkout, and adds a row with the ratios.
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
    base: { type: 'string' },
  },
});
const RUNS = Number(values.runs);
const ROOTS = [
  resolve(import.meta.dirname, '..'),
  ...(values.base === undefined ? [] : [resolve(values.base)]),
];

/** Runs the CLI of `root` once; resolves with its wall time in ms (rejects on a non-zero exit). */
function timeCli(
  root: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<number> {
  const BIN = join(root, 'bin', 'quintet.js');
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

function median(samples: readonly number[]): number {
  return quantile(
    [...samples].sort((a, b) => a - b),
    0.5,
  );
}

function row(name: string, root: string, samples: number[]): void {
  const sorted = [...samples].sort((a, b) => a - b);
  const line = {
    bench: 'cli-startup',
    name,
    root,
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
  const env = { QUINTET_PIN: '1234' };
  const main = ROOTS[0] ?? '';
  const alice = join(work, 'alice');
  await timeCli(main, ['register', 'alice', '--profile', alice, '--server', url], env);
  await timeCli(main, ['register', 'bob', '--profile', join(work, 'bob'), '--server', url], env);
  // The first send builds the session: later ones go to a known peer.
  await timeCli(main, ['send', 'bob', 'warm-up', '--profile', alice]);

  const cases: Array<[string, (i: number) => string[]]> = [
    ['help', () => ['--help']],
    ['send-known-peer', (i) => ['send', 'bob', `m${i}`, '--profile', alice]],
  ];
  for (const [name, args] of cases) {
    const samples = ROOTS.map((): number[] => []);
    // Alternating roots run by run: both see the same machine load.
    for (let i = 0; i < RUNS; i++) {
      for (const [index, root] of ROOTS.entries())
        samples[index]?.push(await timeCli(root, args(i)));
    }
    for (const [index, root] of ROOTS.entries()) row(name, root, samples[index] ?? []);
    const [current, base] = samples;
    if (current !== undefined && base !== undefined) {
      const ratio = {
        bench: 'cli-startup',
        name: `${name}-ratio`,
        base_over_current_median: Number((median(base) / median(current)).toFixed(2)),
      };
      process.stdout.write(`${JSON.stringify(ratio)}\n`);
    }
  }
} finally {
  await server.close();
  rmSync(work, { recursive: true, force: true });
}
