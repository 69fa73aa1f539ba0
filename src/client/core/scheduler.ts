/**
 * Timers, injected. The client core never calls the platform timer itself
 * except through `platformScheduler`, the default a host (or a test with a
 * fake clock) replaces: request timeouts, backoff waits and rate-limit
 * sleeps all run on a `Scheduler`, so a test can move time instead of
 * waiting for it.
 */

/** Runs `callback` after `ms`; returns a function that cancels it. */
export type Scheduler = (ms: number, callback: () => void) => () => void;

/** The platform timer (`setTimeout`, in Node and in browsers). */
export const platformScheduler: Scheduler = (ms, callback) => {
  const timer = setTimeout(callback, ms);
  return () => clearTimeout(timer);
};

/** A sleep on `schedule`. */
export function sleepOn(schedule: Scheduler): (ms: number) => Promise<void> {
  return (ms) =>
    new Promise((resolve) => {
      schedule(ms, resolve);
    });
}
