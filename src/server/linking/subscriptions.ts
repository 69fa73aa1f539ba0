/**
 * Who is told when an account's devices change. An account that fetched
 * another's devices or bundles, or sent it a message, is recorded as a
 * subscriber of it; every device change pushes `DeviceListChanged` to the
 * subscribers' connected devices, so they re-fetch and re-validate before
 * their next send instead of learning it from a refused send.
 *
 * Recording happens on hot paths (every send), so each pair is written to
 * the store once per process, remembered in a bounded set.
 */
import type { Logger } from 'pino';
import type { SubscriberStore } from '../store/types.js';

/** Pairs remembered as already written; beyond it the oldest is forgotten (and rewritten later). */
const DEFAULT_MAX_REMEMBERED = 100_000;

/** Writes (account, subscriber) pairs once each, off the request's critical path. */
export class SubscriptionRecorder {
  private readonly written = new Set<string>();

  constructor(
    private readonly store: SubscriberStore,
    private readonly logger: Logger,
    private readonly maxRemembered = DEFAULT_MAX_REMEMBERED,
  ) {}

  /**
   * Records that `subscriber` watches `account`. Not awaited by callers: a
   * failed write only costs a notice (the send-time device-set check still
   * catches the change), so it is logged rather than failing the request.
   */
  record(account: string, subscriber: string): void {
    if (account === subscriber) return; // own devices are always told
    const key = `${account} ${subscriber}`;
    if (this.written.has(key)) return;
    if (this.written.size >= this.maxRemembered) {
      const oldest = this.written.values().next();
      if (oldest.done !== true) this.written.delete(oldest.value);
    }
    this.written.add(key);
    this.store.addSubscriber(account, subscriber).catch((error: unknown) => {
      this.written.delete(key);
      this.logger.warn({ err: error }, 'could not record a device-list subscriber');
    });
  }
}
