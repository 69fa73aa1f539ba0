/**
 * The cluster harness: real processes only. A private `nats-server` (core
 * NATS, no JetStream) on a free port that a test can stop and start again on
 * the same port, and `quintet server` nodes (`node bin/quintet.js server
 * --database … --bus … --node-id …`) sharing one PostgreSQL schema, each on
 * a free port learnt from its "listening on" line (the e2e harness's
 * `startServer`). Whatever a test starts goes through a `Cluster`, whose
 * `close()` (called from `after()`) kills every process even when the test
 * failed half-way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { startServer, tempDir, type ServerProcess } from '../e2e/harness.js';

/** Debian's nats-server (the `nats-server` package). */
export const NATS_SERVER = '/usr/sbin/nats-server';

const required = process.env['QUINTET_REQUIRE_SERVICES'] === '1';

/**
 * Undefined when the cluster tests can start their own NATS; otherwise why
 * not, for `describe`'s `skip`. Throws under `QUINTET_REQUIRE_SERVICES=1`.
 * (They never use the machine's NATS: a test that stops the bus must not
 * stop anyone else's, and private subjects keep parallel runs apart.)
 */
export function natsBinarySkip(): string | undefined {
  if (existsSync(NATS_SERVER)) return undefined;
  const reason = `${NATS_SERVER} is missing (Debian's nats-server package)`;
  if (required) throw new Error(`QUINTET_REQUIRE_SERVICES=1 but ${reason}`);
  return `skipped: ${reason}; set QUINTET_REQUIRE_SERVICES=1 to make this a failure`;
}

/** A free TCP port on 127.0.0.1 (bound and released; good enough for a test machine). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => done());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

/** Whether something on 127.0.0.1:`port` greets a new connection with `greeting`. */
function greets(port: number, greeting: string): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: '127.0.0.1', port });
    const finish = (ok: boolean): void => {
      socket.destroy();
      done(ok);
    };
    socket.setTimeout(1000, () => finish(false));
    socket.once('error', () => finish(false));
    socket.once('data', (data) => finish(data.toString('latin1').startsWith(greeting)));
  });
}

/** A private nats-server a test can stop (as if it crashed) and start again on the same port. */
export class NatsProcess {
  readonly port: number;
  readonly url: string;
  readonly #log: string;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();

  private constructor(port: number, log: string) {
    this.port = port;
    this.url = `nats://127.0.0.1:${port}`;
    this.#log = log;
  }

  /** Starts a nats-server on a free port, logging to `logFile`. */
  static async start(logFile: string): Promise<NatsProcess> {
    const nats = new NatsProcess(await freePort(), logFile);
    await nats.start();
    return nats;
  }

  /** Whether the process is running. */
  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && !this.#child.killed;
  }

  /** Starts the server on its port (again) and waits until it greets clients. */
  async start(): Promise<void> {
    if (this.running) return;
    // No `-js`: the cluster uses core subjects only, and a JetStream store
    // would make a restart slower and leave files behind.
    const child = spawn(
      NATS_SERVER,
      ['-a', '127.0.0.1', '-p', String(this.port), '-l', this.#log],
      { stdio: 'ignore' },
    );
    this.#child = child;
    this.#exited = new Promise((done) => child.once('exit', () => done()));
    const deadline = Date.now() + 10_000;
    while (!(await greets(this.port, 'INFO '))) {
      if (child.exitCode !== null) {
        throw new Error(`nats-server exited (${String(child.exitCode)}); see ${this.#log}`);
      }
      if (Date.now() > deadline) throw new Error(`nats-server did not start; see ${this.#log}`);
      await sleep(50);
    }
  }

  /** Kills the server (SIGKILL: no goodbye to the clients) and waits until it is gone. */
  async stop(): Promise<void> {
    if (this.#child !== undefined && this.#child.exitCode === null) this.#child.kill('SIGKILL');
    await this.#exited;
    this.#child = undefined;
  }

  /** The server's log so far (for a failure message). */
  log(): string {
    return existsSync(this.#log) ? readFileSync(this.#log, 'utf8').slice(-4000) : '';
  }
}

/** Where a cluster keeps its state: a PostgreSQL URL and the schema every node shares. */
export interface ClusterDatabase {
  readonly url: string;
  readonly schema: string;
}

/** The `quintet server` arguments that point a node at `database`. */
export function databaseArgs(database: ClusterDatabase): string[] {
  return ['--database', database.url, '--database-schema', database.schema];
}

/** Server flags every node gets: the load tests send far above the per-account defaults. */
const NODE_FLAGS = [
  '--send-rate-burst',
  '1000000',
  '--send-rate-per-second',
  '1000000',
  '--send-bytes-burst',
  '1073741824',
  '--send-bytes-per-second',
  '1073741824',
  '--bundle-rate-burst',
  '1000000',
  '--bundle-rate-per-second',
  '1000000',
  '--bundle-target-burst',
  '1000000',
  '--bundle-target-per-second',
  '1000000',
];

/** One `quintet server` node of a cluster. */
export interface ClusterNode {
  readonly nodeId: string;
  readonly url: string;
  readonly port: number;
  readonly process: ServerProcess;
  /** Whether the process is still running. */
  readonly alive: boolean;
}

/** Options of `Cluster.start`. */
export interface ClusterOptions {
  readonly database: ClusterDatabase;
  /** How many nodes (default 3). */
  readonly nodes?: number;
  /** Extra `quintet server` flags for every node (a web directory, a log level). */
  readonly serverArgs?: readonly string[];
}

/** A private NATS and N nodes on one database; `close()` ends all of it. */
export class Cluster {
  readonly nats: NatsProcess;
  readonly database: ClusterDatabase;
  readonly nodes: ClusterNode[] = [];
  readonly #dir: { path: string; cleanup(): void };
  readonly #serverArgs: readonly string[];

  private constructor(
    nats: NatsProcess,
    database: ClusterDatabase,
    dir: { path: string; cleanup(): void },
    serverArgs: readonly string[],
  ) {
    this.nats = nats;
    this.database = database;
    this.#dir = dir;
    this.#serverArgs = serverArgs;
  }

  /**
   * Starts a private NATS and `options.nodes` nodes (node1, node2, …) at once:
   * they migrate the shared schema concurrently, as a rolling deploy would.
   */
  static async start(options: ClusterOptions): Promise<Cluster> {
    const dir = tempDir('quintet-cluster-');
    let nats: NatsProcess | undefined;
    try {
      nats = await NatsProcess.start(join(dir.path, 'nats.log'));
      const cluster = new Cluster(nats, options.database, dir, options.serverArgs ?? []);
      const count = options.nodes ?? 3;
      const started = await Promise.allSettled(
        Array.from({ length: count }, (_, i) => cluster.#startNode(`node${i + 1}`)),
      );
      for (const result of started)
        if (result.status === 'fulfilled') cluster.nodes.push(result.value);
      cluster.nodes.sort((a, b) => a.nodeId.localeCompare(b.nodeId));
      const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) {
        await cluster.close();
        throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason));
      }
      return cluster;
    } catch (error) {
      await nats?.stop();
      dir.cleanup();
      throw error;
    }
  }

  async #startNode(nodeId: string): Promise<ClusterNode> {
    const server = await startServer(join(this.#dir.path, nodeId), 0, [
      ...databaseArgs(this.database),
      '--bus',
      this.nats.url,
      '--node-id',
      nodeId,
      ...NODE_FLAGS,
      ...this.#serverArgs,
    ]);
    const child = server.process;
    return {
      nodeId,
      url: server.url,
      port: server.port,
      process: server,
      get alive() {
        return child.exitCode === null && child.signalCode === null;
      },
    };
  }

  /** The node named `nodeId` (node1, node2, …). */
  node(nodeId: string): ClusterNode {
    const node = this.nodes.find((n) => n.nodeId === nodeId);
    if (node === undefined) throw new Error(`no node ${nodeId}`);
    return node;
  }

  /** Every node's URL, `first` first: a client's `--server` list that prefers its home node. */
  urls(first?: string): string[] {
    const urls = this.nodes.map((n) => n.url);
    const home = first === undefined ? undefined : this.node(first).url;
    return home === undefined ? urls : [home, ...urls.filter((u) => u !== home)];
  }

  /** `kill -9` of one node: no shutdown, no goodbye to its clients or the bus. */
  async kill(nodeId: string): Promise<void> {
    await this.node(nodeId).process.stop('SIGKILL');
  }

  /** `GET /healthz` of one node, parsed. */
  async health(nodeId: string): Promise<Record<string, unknown>> {
    const response = await fetch(`${this.node(nodeId).url}/healthz`);
    return (await response.json()) as Record<string, unknown>;
  }

  /** `quintet_authenticated_devices` of one node's `/metrics`. */
  async authenticated(nodeId: string): Promise<number> {
    const text = await (await fetch(`${this.node(nodeId).url}/metrics`)).text();
    const match = /^quintet_authenticated_devices(?:\{[^}]*\})? (\d+)/m.exec(text);
    return match?.[1] === undefined ? 0 : Number(match[1]);
  }

  /** Waits until each live node has at least `counts[nodeId]` authenticated devices. */
  async waitAuthenticated(counts: ReadonlyMap<string, number>, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const [nodeId, count] of counts) {
      if (!this.node(nodeId).alive) continue;
      let now = await this.authenticated(nodeId);
      while (now < count) {
        if (Date.now() > deadline) {
          throw new Error(`${nodeId} has ${now} authenticated devices, expected ${count}`);
        }
        await sleep(100);
        now = await this.authenticated(nodeId);
      }
    }
  }

  /** Kills every node and the NATS server, and removes their files. */
  async close(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.process.stop('SIGKILL')));
    await this.nats.stop();
    this.#dir.cleanup();
  }
}
