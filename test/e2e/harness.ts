/**
 * The e2e harness: the real server and the real `quintet` CLI as separate
 * processes (`node bin/quintet.js …`), with temporary data and profile
 * directories. Rebuilds dist/ once if any of it is older than src/.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'quintet.js');

/**
 * Every TypeScript file under src/ whose compiled file under dist/ is missing or older
 * than the source (relative paths). Empty when dist/ is current.
 */
export function staleOutputs(root = ROOT): string[] {
  const stale: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(root, 'src', dir), { withFileTypes: true })) {
      const rel = dir === '' ? entry.name : join(dir, entry.name);
      if (entry.isDirectory()) walk(rel);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
        const output = join(root, 'dist', rel.replace(/\.ts$/, '.js'));
        const source = statSync(join(root, 'src', rel)).mtimeMs;
        if (!existsSync(output) || statSync(output).mtimeMs < source) stale.push(rel);
      }
    }
  };
  walk('');
  return stale;
}

/** Blocks this thread for `ms` (the build check is synchronous). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Whether the CLI bundle (dist/cli-bundle, scripts/build-cli.mjs) is
 * missing or older than tsc's output: bin/quintet.js then falls back to
 * dist/cli, and the tests would not run what a user runs.
 */
function bundleStale(root = ROOT): boolean {
  const bundle = join(root, 'dist', 'cli-bundle', 'main.js');
  const compiled = join(root, 'dist', 'cli', 'main.js');
  return (
    !existsSync(bundle) ||
    (existsSync(compiled) && statSync(bundle).mtimeMs < statSync(compiled).mtimeMs)
  );
}

/**
 * Makes sure the processes the e2e tests spawn (`bin/quintet.js` loads
 * dist/) run the current sources: a stale or missing dist/ is rebuilt once
 * with `tsc -p tsconfig.build.json` and the CLI bundle after it, under a
 * lock directory so test files running in parallel do not build over each
 * other. If dist/ is still older than src/ afterwards (the build failed),
 * this throws naming the files, so a test never passes or fails against
 * yesterday's build. `QUINTET_E2E_REBUILD=1` forces a build.
 */
export function ensureBuilt(): void {
  const force = process.env['QUINTET_E2E_REBUILD'] === '1';
  if (!force && staleOutputs().length === 0 && !bundleStale()) return;
  withBuildLock('build.lock', () => {
    // The other builder may have finished while this one waited.
    if (!force && staleOutputs().length === 0 && !bundleStale()) return;
    let built: SpawnSyncReturns<string> | undefined;
    if (force || staleOutputs().length > 0) {
      built = spawnSync(
        process.execPath,
        [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
        { cwd: ROOT, encoding: 'utf8' },
      );
    }
    const stale = staleOutputs();
    if (stale.length > 0) {
      throw new Error(
        `dist/ is older than src/ after \`tsc -p tsconfig.build.json\` ` +
          `(exit ${String(built?.status)}); stale: ${stale.slice(0, 5).join(', ')}` +
          `${stale.length > 5 ? ` and ${stale.length - 5} more` : ''}\n${built?.stdout ?? ''}${built?.stderr ?? ''}`,
      );
    }
    const bundled = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build-cli.mjs')], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    if (bundled.status !== 0 || bundleStale()) {
      throw new Error(`build-cli failed (exit ${String(bundled.status)}):\n${bundled.stderr}`);
    }
  });
}

/**
 * Builds the browser app (web/dist) once per test run, under a lock. The
 * browser test files run two at a time: one rebuilding web/dist while
 * another reads or serves it fails both, so the first file builds it and
 * the others of the same run (`QUINTET_TEST_RUN_ID`, set by the runner)
 * reuse that build.
 */
export function ensureWebBuilt(): void {
  withBuildLock('web-build.lock', () => {
    // The runner names each run; without it (a file run on its own), the
    // parent process stands for the run.
    const run = process.env['QUINTET_TEST_RUN_ID'] ?? `pid-${String(process.ppid)}`;
    const marker = join(ROOT, '.tmp', `web-built-${run.replace(/[^a-zA-Z0-9-]/g, '')}`);
    if (existsSync(marker)) return;
    const built = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build-web.mjs')], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    if (built.status !== 0) {
      throw new Error(`build-web failed (exit ${String(built.status)}):\n${built.stderr}`);
    }
    writeFileSync(marker, '');
  });
}

/** Runs `build` holding `.tmp/<name>` (a directory: mkdir is atomic), so parallel test files never build over each other. */
function withBuildLock(name: string, build: () => void): void {
  const lock = join(ROOT, '.tmp', name);
  mkdirSync(join(ROOT, '.tmp'), { recursive: true });
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // Another test file is building; a lock older than the deadline is
      // left over from a killed run.
      if (Date.now() - statSync(lock).mtimeMs > 300_000)
        rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`timed out waiting for the build lock ${lock}`);
      sleepSync(250);
    }
  }
  try {
    build();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** A temporary directory removed by `cleanup()`. */
export function tempDir(prefix: string): { path: string; cleanup(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** A running server process. */
export interface ServerProcess {
  readonly url: string;
  readonly port: number;
  readonly process: ChildProcess;
  /** Sends `signal` and waits for the process to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts `quintet server` on `port` (0: any) with `dataDir` and any `extraArgs`
 * (server flags); resolves when it listens.
 */
export function startServer(
  dataDir: string,
  port = 0,
  extraArgs: readonly string[] = [],
): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    [
      BIN,
      'server',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--data',
      dataDir,
      '--log-level',
      'silent',
      ...extraArgs,
      // Tests register many accounts from 127.0.0.1.
      '--registration-burst',
      '100000',
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise((resolvePromise, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start: ${output}`));
    }, 15_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /listening on (http:\/\/[^\s]+)/.exec(output);
      if (match?.[1] === undefined) return;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      const url = match[1];
      const exited = new Promise<void>((done) => child.once('exit', () => done()));
      resolvePromise({
        url,
        port: Number(new URL(url).port),
        process: child,
        async stop(signal: NodeJS.Signals = 'SIGTERM') {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          await exited;
        },
      });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${String(code)}): ${output}`));
    });
  });
}

/** Result of one CLI run. */
export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `quintet <args>` to completion. */
export function runCli(
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<CliResult> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, QUINTET_PROFILE: '', QUINTET_PIN: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolvePromise) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** Parses `receive --json` output. */
export function messagesOf(result: CliResult): Array<Record<string, unknown>> {
  return result.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/**
 * Links `profile` as a companion with the real CLI: runs `quintet link`,
 * reads the printed link code, hands it to `approve` (the primary's
 * `devices approve`), and returns the device id the companion reports.
 * `extraArgs` go to `link` (e.g. `--no-history`).
 */
export async function linkWithCli(
  serverUrl: string,
  profile: string,
  name: string,
  approve: (code: string) => Promise<CliResult>,
  extraArgs: readonly string[] = [],
): Promise<number> {
  const child = spawn(
    process.execPath,
    [BIN, 'link', '--profile', profile, '--server', serverUrl, '--name', name, ...extraArgs],
    { env: { ...process.env, QUINTET_PROFILE: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | null>((done) => child.once('close', (c) => done(c)));
  const code = await new Promise<string>((resolveCode, reject) => {
    const timer = setTimeout(() => reject(new Error(`no link code: ${out} ${err}`)), 15_000);
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /link code: (\S+)/.exec(out);
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolveCode(match[1]);
      }
    });
  });
  const approved = await approve(code);
  if (approved.code !== 0) throw new Error(`approve failed: ${approved.stderr}`);
  const status = await exited;
  if (status !== 0) throw new Error(`quintet link exited ${String(status)}: ${err}`);
  const linked = /linked: \S+ device (\d+)/.exec(out);
  if (linked?.[1] === undefined) throw new Error(`no "linked:" line: ${out}`);
  return Number(linked[1]);
}
