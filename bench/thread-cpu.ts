/**
 * CPU time per thread of this process (Linux `/proc/self/task/<tid>/schedstat`,
 * nanoseconds on a CPU), for benchmarks on a shared machine: wall time there
 * depends on how many other processes want the cores, CPU time per thread
 * much less. From the lanes of a pipeline (the calling thread, the busiest
 * worker) and its total, `twoCoreMs` gives the time it would take on two
 * otherwise idle cores: no less than its longest lane and no less than half
 * its total.
 */
import { readdirSync, readFileSync } from 'node:fs';

function isMissing(error: unknown): boolean {
  return (
    error instanceof Error && 'code' in error && (error.code === 'ENOENT' || error.code === 'ESRCH')
  );
}

/** CPU nanoseconds per thread id; empty where /proc is not available. */
export type ThreadCpu = ReadonlyMap<number, number>;

export function threadCpu(): ThreadCpu {
  const out = new Map<number, number>();
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch (error) {
    // Not Linux: the benchmark prints no CPU columns.
    if (isMissing(error)) return out;
    throw error;
  }
  for (const tid of tids) {
    try {
      const ns = Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      if (Number.isFinite(ns)) out.set(Number(tid), ns);
    } catch (error) {
      // The thread ended between the listing and the read: it ran nothing since.
      if (!isMissing(error)) throw error;
    }
  }
  return out;
}

/** Where a measured section spent its CPU, in ms. */
export interface Lanes {
  /** The calling (main) thread. */
  readonly mainMs: number;
  /** The busiest other thread (a hash worker, when there is one). */
  readonly otherMs: number;
  /** Every thread together. */
  readonly totalMs: number;
}

/** CPU per lane between two snapshots (undefined without /proc). */
export function lanesBetween(before: ThreadCpu, after: ThreadCpu): Lanes | undefined {
  if (after.size === 0) return undefined;
  let mainMs = 0;
  let otherMs = 0;
  let totalMs = 0;
  for (const [tid, ns] of after) {
    const ms = (ns - (before.get(tid) ?? 0)) / 1e6;
    totalMs += ms;
    if (tid === process.pid) mainMs = ms;
    else otherMs = Math.max(otherMs, ms);
  }
  return { mainMs, otherMs, totalMs };
}

/** The time the section would take on two idle cores (see the module comment). */
export function twoCoreMs(lanes: Lanes): number {
  return Math.max(lanes.mainMs, lanes.otherMs, lanes.totalMs / 2);
}
