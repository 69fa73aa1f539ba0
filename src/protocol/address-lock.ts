/**
 * One queue per remote device (Signal-Desktop's per-address job queue).
 * Two overlapping operations on one session would both load the same record
 * and, for encryption, use the same message key twice; running them one
 * after another per (session store, address) rules that out even when the
 * caller forgets to serialize.
 */
import { addressKey, type ProtocolAddress } from './address.js';
import type { SessionStore } from './stores/session-store.js';

const queues = new WeakMap<SessionStore, Map<string, Promise<unknown>>>();

/** Runs `job` after every earlier job for the same store and address has settled. */
export function withAddressLock<T>(
  store: SessionStore,
  address: ProtocolAddress,
  job: () => Promise<T>,
): Promise<T> {
  let perStore = queues.get(store);
  if (perStore === undefined) {
    perStore = new Map();
    queues.set(store, perStore);
  }
  const key = addressKey(address);
  const previous = perStore.get(key);
  // A failed earlier job must not block the next one: its error belongs to its own caller.
  const run = previous === undefined ? job() : previous.then(job, job);
  const tail = run.then(
    () => undefined,
    () => undefined,
  );
  perStore.set(key, tail);
  const map = perStore;
  void tail.then(() => {
    if (map.get(key) === tail) map.delete(key);
  });
  return run;
}
