/**
 * The child processes of the server benchmarks (bench/server.ts,
 * bench/cluster.ts): a server, relay or load generator forked with the
 * test-time loader, spoken to over IPC, and the small statistics helpers
 * both orchestrators print their rows with.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import type { LoadCommand, LoadResult } from './server-load.js';
import type { ReportMessage } from './server-ipc.js';

const here = import.meta.dirname;

export type MemoryReport = Extract<ReportMessage, { type: 'memory' }>;

export function isWindow(message: unknown): message is { window: 'start' | 'end' } {
  return typeof message === 'object' && message !== null && 'window' in message;
}

export class Child {
  private waiters: Array<(message: unknown) => void> = [];
  /** Hears the load generator's measurement-window marks. */
  onWindow: (phase: 'start' | 'end') => void = () => undefined;
  constructor(readonly process: ChildProcess) {
    process.on('message', (message) => {
      if (isWindow(message)) this.onWindow(message.window);
      else this.waiters.shift()?.(message);
    });
    process.setMaxListeners(0);
  }
  static async start(
    script: string,
    args: string[],
    gc: boolean,
    profileDir?: string,
  ): Promise<{ child: Child; first: unknown }> {
    const proc = fork(resolve(here, script), args, {
      execArgv: [...(gc ? ['--expose-gc'] : []), '--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env:
        profileDir === undefined ? process.env : { ...process.env, BENCH_PROFILE_DIR: profileDir },
    });
    const child = new Child(proc);
    const first = await child.next();
    return { child, first };
  }
  next(): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.waiters.push(resolve);
      this.process.once('exit', (code) => reject(new Error(`child exited (${code})`)));
    });
  }
  async ask(message: unknown): Promise<unknown> {
    const answer = this.next();
    this.process.send(message as object);
    return answer;
  }
  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.process.exitCode !== null) return resolve();
      this.process.once('exit', () => resolve());
      this.process.send({ type: 'close' });
    });
  }
}

export function isReady(message: unknown): message is { type: 'ready'; url: string } {
  return (
    typeof message === 'object' && message !== null && 'type' in message && message.type === 'ready'
  );
}

export async function startTarget(
  script: string,
  args: string[],
  profileDir?: string,
): Promise<{ child: Child; url: string }> {
  const { child, first } = await Child.start(script, args, true, profileDir);
  if (!isReady(first)) throw new Error(`${script} did not start`);
  return { child, url: first.url };
}

let loadCounter = 0;
export async function load(
  loader: Child,
  command: Omit<Extract<LoadCommand, { cmd: 'run' }>, 'prefix' | 'cmd'>,
): Promise<LoadResult> {
  loadCounter += 1;
  const answer = (await loader.ask({ cmd: 'run', prefix: `b${loadCounter}x`, ...command })) as {
    ok: boolean;
    result?: LoadResult;
    error?: string;
  };
  if (!answer.ok || answer.result === undefined) throw new Error(`load failed: ${answer.error}`);
  return answer.result;
}

export async function memory(target: Child): Promise<MemoryReport> {
  return (await target.ask({ type: 'memory' })) as MemoryReport;
}

export function median<T>(items: T[], key: (t: T) => number): T {
  const sorted = [...items].sort((a, b) => key(a) - key(b));
  const mid = sorted[Math.floor(sorted.length / 2)];
  if (mid === undefined) throw new Error('no runs');
  return mid;
}

export const round = (n: number, digits = 2): number => Number(n.toFixed(digits));

export function emit(row: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(row)}\n`);
}

export type CpuReport = Extract<ReportMessage, { type: 'cpu' }>;
export async function cpuMs(target: Child): Promise<CpuReport> {
  return (await target.ask({ type: 'cpu' })) as CpuReport;
}
