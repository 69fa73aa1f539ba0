/**
 * The expiry sweep over a device's store: every message past its expiry
 * loses its text and attachment key and stays as an `expired` mark, so
 * nothing (a redelivery, a history archive) brings it back. Needs only the
 * store, so a reader that does not connect (`quintet history`) runs it too
 * before showing anything.
 */
import type { Clock } from '../../../crypto/provider.js';
import type { DeviceStore } from '../store/device-store.js';
import { sweepExpired, type ChatUpdate } from './chat-apply.js';

/** Messages removed per sweep transaction. */
const SWEEP_BATCH = 200;

/**
 * Sweeps until nothing due is left; `onUpdates` gets each batch's changes
 * (one `deleted: expired` per message). Returns how many were removed.
 */
export async function sweepExpiredMessages(
  store: DeviceStore,
  clock: Clock,
  onUpdates: (updates: readonly ChatUpdate[]) => void = () => undefined,
): Promise<number> {
  let removed = 0;
  for (;;) {
    const now = clock.now();
    const updates = await store.transaction((tx) => sweepExpired(tx, now, SWEEP_BATCH));
    onUpdates(updates);
    removed += updates.length;
    // Done when nothing due is left (a batch covers one chat at a time).
    const due = await store.chat.expiredBy(now, 1);
    if (due.length === 0) return removed;
  }
}
