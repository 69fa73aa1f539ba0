/**
 * Debian's nginx in front of a cluster, configured with the example the
 * operations guide shows (docs/nginx-cluster.conf) with only its ports
 * replaced, so the documented example is the one that is tested. nginx runs
 * in the foreground as one process with a prefix directory of its own;
 * `stop()` ends it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { freePort, sleep } from './harness.js';
import { tempDir } from '../e2e/harness.js';

/** Debian's nginx binary. */
export const NGINX = '/usr/sbin/nginx';
/** The documented example. */
export const NGINX_EXAMPLE = resolve(import.meta.dirname, '..', '..', 'docs', 'nginx-cluster.conf');

const required = process.env['QUINTET_REQUIRE_SERVICES'] === '1';

/** Undefined when nginx is installed; otherwise why the test skips (throws when required). */
export function nginxSkip(): string | undefined {
  if (existsSync(NGINX)) return undefined;
  const reason = `${NGINX} is missing (apt-get install -y nginx)`;
  if (required) throw new Error(`QUINTET_REQUIRE_SERVICES=1 but ${reason}`);
  return `skipped: ${reason}; set QUINTET_REQUIRE_SERVICES=1 to make this a failure`;
}

/**
 * The example with its three upstream ports replaced by `nodePorts` and its
 * listen line by `listenPort` on 127.0.0.1. Throws when the example no
 * longer has the lines this replaces (the docs changed shape: update both).
 */
export function exampleFor(listenPort: number, nodePorts: readonly number[]): string {
  let config = readFileSync(NGINX_EXAMPLE, 'utf8');
  const replace = (from: string, to: string): void => {
    if (!config.includes(from)) throw new Error(`${NGINX_EXAMPLE} has no "${from}" to replace`);
    config = config.replace(from, to);
  };
  replace('listen 80;', `listen 127.0.0.1:${listenPort};`);
  nodePorts.forEach((port, i) => replace(`127.0.0.1:${8081 + i} `, `127.0.0.1:${port} `));
  if (/127\.0\.0\.1:808\d /.test(config)) {
    throw new Error(`${NGINX_EXAMPLE} lists more upstream nodes than the test started`);
  }
  return config;
}

/** A running nginx. */
export class NginxProcess {
  readonly url: string;
  readonly #child: ChildProcess;
  readonly #dir: { path: string; cleanup(): void };
  readonly #exited: Promise<void>;

  private constructor(url: string, child: ChildProcess, dir: { path: string; cleanup(): void }) {
    this.url = url;
    this.#child = child;
    this.#dir = dir;
    this.#exited = new Promise((done) => child.once('exit', () => done()));
  }

  /** Starts nginx proxying to `nodePorts` with the documented example. */
  static async start(nodePorts: readonly number[]): Promise<NginxProcess> {
    const dir = tempDir('quintet-nginx-');
    const port = await freePort();
    const path = (name: string): string => join(dir.path, name);
    for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(path(sub));
    writeFileSync(path('quintet.conf'), exampleFor(port, nodePorts));
    // The smallest main configuration around the example: everything
    // nginx writes stays in the prefix directory. As root the workers
    // would switch to `nobody`, who cannot write there.
    const root = process.getuid?.() === 0;
    writeFileSync(
      path('nginx.conf'),
      [
        root ? 'user root;' : '',
        `pid ${path('nginx.pid')};`,
        // One process: a SIGKILL ends all of nginx, with no orphaned worker.
        'master_process off;',
        'events { worker_connections 256; }',
        'http {',
        `  access_log ${path('access.log')};`,
        `  client_body_temp_path ${path('body')};`,
        `  proxy_temp_path ${path('proxy')};`,
        `  fastcgi_temp_path ${path('fastcgi')};`,
        `  uwsgi_temp_path ${path('uwsgi')};`,
        `  scgi_temp_path ${path('scgi')};`,
        `  include ${path('quintet.conf')};`,
        '}',
        '',
      ].join('\n'),
    );
    const child = spawn(
      NGINX,
      ['-p', dir.path, '-e', path('error.log'), '-c', path('nginx.conf'), '-g', 'daemon off;'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const nginx = new NginxProcess(`http://127.0.0.1:${port}`, child, dir);
    const deadline = Date.now() + 10_000;
    while (!(await listening(port))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        await nginx.stop();
        throw new Error(`nginx did not start: ${stderr}${readLog(path('error.log'))}`);
      }
      await sleep(50);
    }
    return nginx;
  }

  /** nginx's error log so far (for a failure message). */
  errorLog(): string {
    return readLog(join(this.#dir.path, 'error.log'));
  }

  /** Stops nginx at once and removes its files. */
  async stop(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null)
      this.#child.kill('SIGKILL');
    await this.#exited;
    this.#dir.cleanup();
  }
}

function readLog(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8').slice(-4000) : '';
}

function listening(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}
