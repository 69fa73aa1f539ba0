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
  /** account → subscribers written (two levels: no key string built per send). */
  private readonly written = new Map<string, Set<string>>();
  private size = 0;

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
    if (this.written.get(account)?.has(subscriber) === true) return;
    if (this.size >= this.maxRemembered) this.forgetOldestAccount();
    let subscribers = this.written.get(account);
    if (subscribers === undefined) {
      subscribers = new Set();
      this.written.set(account, subscribers);
    }
    subscribers.add(subscriber);
    this.size += 1;
    const remembered = subscribers;
    this.store.addSubscriber(account, subscriber).catch((error: unknown) => {
      if (remembered.delete(subscriber)) this.size -= 1;
      this.logger.warn({ err: error }, 'could not record a device-list subscriber');
    });
  }

  /** Bounds memory: the least recently added account's pairs are written again when next seen. */
  private forgetOldestAccount(): void {
    const oldest = this.written.entries().next();
    if (oldest.done === true) return;
    const [account, subscribers] = oldest.value;
    this.written.delete(account);
    this.size -= subscribers.size;
  }
}
