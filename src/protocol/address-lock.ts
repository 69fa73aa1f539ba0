/**
 * One queue per remote device (Signal-Desktop's per-address job queue).
 * Two overlapping operations on one session would both load the same record
 * and, for encryption, use the same message key twice; running them one
 * after another per (session store, address) rules that out even when the
 * caller forgets to serialize.
 *
 * A caller that already runs every operation for an address on its own
 * per-address queue (the client core: its queue also covers the store
 * transaction around a decryption) says so with `serialized: 'caller'`
 * (see `SessionOptions`), and the operation takes no second lock: one
 * serializer per address, never two nested ones.
 */
import { addressKey, type ProtocolAddress } from './address.js';
import { KeyedQueue } from './keyed-queue.js';
import type { SessionStore } from './stores/session-store.js';

/** Who serializes session operations per address. */
export interface SessionOptions {
  /**
   * `'cipher'` (default): each operation locks its (store, address).
   * `'caller'`: the caller guarantees no two operations for one address
   * overlap, so none is taken.
   */
  readonly serialized?: 'cipher' | 'caller';
}

const queues = new WeakMap<SessionStore, KeyedQueue>();

/** Runs `job` after every earlier job for the same store and address has settled. */
export function withAddressLock<T>(
  store: SessionStore,
  address: ProtocolAddress,
  job: () => Promise<T>,
  options: SessionOptions = {},
): Promise<T> {
  if (options.serialized === 'caller') return job();
  let queue = queues.get(store);
  if (queue === undefined) {
    queue = new KeyedQueue();
    queues.set(store, queue);
  }
  return queue.run(addressKey(address), job);
}
