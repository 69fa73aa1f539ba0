/**
 * CPU time of the PostgreSQL backends serving one benchmark cluster, read
 * from /proc (PostgreSQL runs on the benchmark's machine): the nodes name
 * their connections `quintet/<schema>` (application_name), so the backends
 * of each configuration are told apart from each other's and from whatever
 * else uses the server. Shared processes (WAL writer, checkpointer) are not
 * counted. Linux only; elsewhere, or when /proc is unreadable, NaN. And
 * how many of those backends wait for a lock (row or transaction: another
 * node's batch holding what this one needs), sampled through a run.
 */
import { readFile } from 'node:fs/promises';
import type pg from 'pg';

/** Clock ticks per second of /proc's utime/stime (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** utime + stime of one process in ms, or undefined when it is gone. */
async function processCpuMs(pid: number): Promise<number | undefined> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the command name, which may itself hold spaces or ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / TICKS_PER_SECOND;
}

/** CPU ms so far of every backend of `schema`'s nodes, by pid. */
export async function backendCpuMs(admin: pg.Client, schema: string): Promise<Map<number, number>> {
  const { rows } = await admin.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE application_name = $1',
    [`quintet/${schema}`.slice(0, 63)],
  );
  const cpu = new Map<number, number>();
  for (const { pid } of rows) {
    const ms = await processCpuMs(pid);
    if (ms !== undefined) cpu.set(pid, ms);
  }
  return cpu;
}

/** CPU ms the backends spent between two readings (a backend new since `start` counts whole). */
export function backendCpuBetween(start: Map<number, number>, end: Map<number, number>): number {
  if (end.size === 0) return Number.NaN;
  let total = 0;
  for (const [pid, ms] of end) total += ms - (start.get(pid) ?? 0);
  return total;
}

/**
 * Samples pg_stat_activity every `everyMs` until `stop`, which resolves to
 * the average number of `schema`'s backends waiting for a heavyweight lock.
 */
export function sampleLockWaits(
  admin: pg.Client,
  schema: string,
  everyMs = 20,
): { stop: () => Promise<number> } {
  let samples = 0;
  let waiting = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const { rows } = await admin.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE application_name = $1 AND wait_event_type = 'Lock'`,
        [`quintet/${schema}`.slice(0, 63)],
      );
      samples += 1;
      waiting += rows[0]?.n ?? 0;
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return samples === 0 ? Number.NaN : waiting / samples;
    },
  };
}
