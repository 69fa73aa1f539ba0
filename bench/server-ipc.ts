/**
 * The IPC a benchmark server process (Quintet or the plain relay) speaks
 * with bench/server.ts: announce the URL, report memory after a full GC and
 * CPU time, and stop on request.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

/** Messages from the orchestrator. */
export type ControlMessage =
  { readonly type: 'memory' } | { readonly type: 'cpu' } | { readonly type: 'close' };

/** Messages to the orchestrator. */
export type ReportMessage =
  | { readonly type: 'ready'; readonly url: string }
  | {
      readonly type: 'memory';
      readonly rss: number;
      readonly heapUsed: number;
      readonly external: number;
      readonly arrayBuffers: number;
      readonly cpuUserMs: number;
      readonly cpuSystemMs: number;
    }
  /**
   * CPU time so far, without the full GC of `memory` (taken while load runs),
   * and the read/write system calls so far (Linux; -1 elsewhere).
   */
  | {
      readonly type: 'cpu';
      readonly cpuMs: number;
      readonly systemMs: number;
      readonly readCalls: number;
      readonly writeCalls: number;
      /** Store transactions committed so far (the Quintet server only). */
      readonly commits?: number;
    };

/**
 * The process's read and write system call counts from /proc/self/io
 * (writes include writev and the database's pwrite): each write to a
 * loopback socket costs more than most of the JavaScript per message, so
 * the count explains much of a throughput difference.
 */
function syscallCounts(): { readCalls: number; writeCalls: number } {
  let io: string;
  try {
    io = readFileSync('/proc/self/io', 'utf8');
  } catch (error) {
    // Only the absence of /proc (not Linux) is expected; anything else is news.
    if (error instanceof Error && 'code' in error && error.code === 'ENOENT') {
      return { readCalls: -1, writeCalls: -1 };
    }
    throw error;
  }
  const field = (name: string): number => Number(new RegExp(`${name}: (\\d+)`).exec(io)?.[1] ?? -1);
  return { readCalls: field('syscr'), writeCalls: field('syscw') };
}

function fullGc(): void {
  const gc: unknown = Reflect.get(globalThis, 'gc');
  if (typeof gc === 'function') {
    Reflect.apply(gc, undefined, []);
    Reflect.apply(gc, undefined, []);
  }
}

/**
 * With BENCH_PROFILE_DIR set, profiles only the measurement windows: the
 * orchestrator asks for CPU time at the start and at the end of each, so
 * the odd requests start the V8 profiler and the even ones write a profile.
 * Registration, JIT warm-up and the idle time between runs stay out of it.
 */
class WindowProfiler {
  private session: Session | undefined;
  private windows = 0;
  constructor(private readonly dir: string) {}

  async toggle(): Promise<void> {
    if (this.session === undefined) {
      this.session = new Session();
      this.session.connect();
      await this.session.post('Profiler.enable');
      await this.session.post('Profiler.start');
      return;
    }
    const { profile } = await this.session.post('Profiler.stop');
    this.session.disconnect();
    this.session = undefined;
    this.windows += 1;
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(join(this.dir, `window-${this.windows}.cpuprofile`), JSON.stringify(profile));
  }
}

/** Wires up the IPC for a server process; `commits` reads its store's commit count. */
export function onControl(
  url: string,
  close: () => Promise<void>,
  commits?: () => Promise<number>,
): void {
  const send = (message: ReportMessage): void => {
    process.send?.(message);
  };
  const profileDir = process.env['BENCH_PROFILE_DIR'];
  const profiler = profileDir === undefined ? undefined : new WindowProfiler(profileDir);
  process.on('message', (message: ControlMessage) => {
    if (message.type === 'memory') {
      fullGc();
      const memory = process.memoryUsage();
      const cpu = process.cpuUsage();
      send({
        type: 'memory',
        rss: memory.rss,
        heapUsed: memory.heapUsed,
        external: memory.external,
        arrayBuffers: memory.arrayBuffers,
        cpuUserMs: cpu.user / 1000,
        cpuSystemMs: cpu.system / 1000,
      });
    } else if (message.type === 'cpu') {
      const cpu = process.cpuUsage();
      const calls = syscallCounts();
      profiler?.toggle().catch((error: unknown) => console.error(error));
      const report = (committed?: number): void =>
        send({
          type: 'cpu',
          cpuMs: (cpu.user + cpu.system) / 1000,
          systemMs: cpu.system / 1000,
          ...calls,
          ...(committed === undefined ? {} : { commits: committed }),
        });
      if (commits === undefined) report();
      else
        commits().then(report, (error: unknown) => {
          console.error(error);
          report();
        });
    } else if (message.type === 'close') {
      close().then(
        () => process.exit(0),
        (error: unknown) => {
          console.error(error);
          process.exit(1);
        },
      );
    }
  });
  send({ type: 'ready', url });
}
