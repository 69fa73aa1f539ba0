/**
 * A PostgreSQL instance of the test's own (initdb into a temporary
 * directory, trust auth, its own port and socket directory), for the test
 * that restarts PostgreSQL under load: the machine's shared instance is
 * never stopped. PostgreSQL refuses to run as root, and CI runs as root, so
 * as root every command runs as the `postgres` user through `runuser`.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, sleep } from './harness.js';

const RUNUSER = '/usr/sbin/runuser';
const required = process.env['QUINTET_REQUIRE_SERVICES'] === '1';

/** The newest PostgreSQL server binaries under /usr/lib/postgresql, or undefined. */
function binDir(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base)
    .filter((v) => existsSync(join(base, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(base, versions[0], 'bin');
}

/** The uid/gid of `postgres` from /etc/passwd, when running as root. */
function postgresUser(): { uid: number; gid: number } | undefined {
  const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (id.status !== 0 || gid.status !== 0) return undefined;
  return { uid: Number(id.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

const isRoot = process.getuid?.() === 0;

/**
 * Undefined when a private instance can be made here; otherwise why not,
 * for `describe`'s `skip`. Throws under `QUINTET_REQUIRE_SERVICES=1`.
 */
export function privatePostgresSkip(): string | undefined {
  let reason: string | undefined;
  if (binDir() === undefined) reason = 'no initdb under /usr/lib/postgresql/*/bin';
  else if (isRoot && !existsSync(RUNUSER)) reason = `running as root and ${RUNUSER} is missing`;
  else if (isRoot && postgresUser() === undefined)
    reason = 'running as root and there is no postgres user';
  if (reason === undefined) return undefined;
  if (required)
    throw new Error(
      `QUINTET_REQUIRE_SERVICES=1 but a private PostgreSQL cannot be made: ${reason}`,
    );
  return `skipped: a private PostgreSQL cannot be made (${reason}); set QUINTET_REQUIRE_SERVICES=1 to make this a failure`;
}

/** A private PostgreSQL instance; `close()` stops it and deletes its files. */
export class PrivatePostgres {
  readonly port: number;
  /** Connection URL of its `postgres` database. */
  readonly url: string;
  readonly #dir: string;
  readonly #bin: string;

  private constructor(port: number, dir: string, bin: string) {
    this.port = port;
    this.url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    this.#dir = dir;
    this.#bin = bin;
  }

  /** initdb + start; resolves once it accepts connections. */
  static async start(): Promise<PrivatePostgres> {
    const bin = binDir();
    if (bin === undefined) throw new Error('no initdb under /usr/lib/postgresql/*/bin');
    const dir = mkdtempSync(join(tmpdir(), 'quintet-pg-'));
    // The postgres user must own the directory (and reach it: tmpdir is world-searchable).
    chmodSync(dir, 0o700);
    const user = isRoot ? postgresUser() : undefined;
    if (user !== undefined) chownSync(dir, user.uid, user.gid);
    const instance = new PrivatePostgres(await freePort(), dir, bin);
    try {
      instance.#run('initdb', [
        '-D',
        join(dir, 'data'),
        '-A',
        'trust',
        '-U',
        'postgres',
        '--no-sync',
        '-E',
        'UTF8',
      ]);
      await instance.start();
      return instance;
    } catch (error) {
      instance.#remove();
      throw error;
    }
  }

  /** Runs one PostgreSQL program (as `postgres` when this is root); throws with its output on failure. */
  #run(program: string, args: readonly string[]): void {
    const path = join(this.#bin, program);
    const [command, argv] = isRoot
      ? [RUNUSER, ['-u', 'postgres', '--', path, ...args]]
      : [path, [...args]];
    const result = spawnSync(command, argv, { encoding: 'utf8', cwd: this.#dir });
    if (result.status !== 0) {
      throw new Error(
        `${program} ${args.join(' ')} failed (${String(result.status)}): ${result.stdout}${result.stderr}`,
      );
    }
  }

  /** Starts the server (again) on its port and waits until it answers queries. */
  async start(): Promise<void> {
    this.#run('pg_ctl', [
      '-D',
      join(this.#dir, 'data'),
      '-l',
      join(this.#dir, 'server.log'),
      '-w',
      '-o',
      // fsync off: the test is about connections lost, not about crash durability.
      `-p ${this.port} -k ${this.#dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`,
      'start',
    ]);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 1000 });
      try {
        await client.connect();
        await client.query('SELECT 1');
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await sleep(100);
      } finally {
        await client.end().catch(() => undefined);
      }
    }
  }

  /**
   * Stops the server. `fast` (the default) ends every session at once and
   * rolls back open transactions, as a restart by an operator does;
   * `immediate` is a crash.
   */
  stop(mode: 'fast' | 'immediate' = 'fast'): void {
    this.#run('pg_ctl', ['-D', join(this.#dir, 'data'), '-m', mode, '-w', 'stop']);
  }

  /** Stops the server (crash-like) and deletes its files. */
  close(): void {
    try {
      this.stop('immediate');
    } catch (error) {
      // Already stopped (a test stopped it and failed before starting it again).
      if (!(error instanceof Error && /no server running|not running/i.test(error.message)))
        throw error;
    } finally {
      this.#remove();
    }
  }

  #remove(): void {
    rmSync(this.#dir, { recursive: true, force: true });
  }

  /** Creates schema `name` in its `postgres` database. */
  async createSchema(name: string): Promise<void> {
    const client = new pg.Client({ connectionString: this.url });
    await client.connect();
    try {
      await client.query(`CREATE SCHEMA "${name}"`);
    } finally {
      await client.end();
    }
  }
}
