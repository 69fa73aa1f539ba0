/**
 * Tracks fire-and-forget work (receipts, retry requests) so nothing is
 * silently dropped: failures become `error` events, and `idle()` lets a
 * caller wait until everything started so far has finished — the CLI does
 * this before exiting so a delivery receipt is not cut off mid-send.
 */
import { errorCode, type ClientEvent } from './events.js';
import type { EventStream } from './event-stream.js';

/** A set of running background tasks. */
export class BackgroundTasks {
  readonly #running = new Set<Promise<void>>();

  constructor(private readonly events: EventStream<ClientEvent>) {}

  /** Starts `task`; a failure is reported as an `error` event labelled `what`. */
  spawn(what: string, task: () => Promise<void>): void {
    const running: Promise<void> = task().then(
      () => undefined,
      (error: unknown) => {
        this.events.emit({ type: 'error', code: errorCode(error), message: `${what} failed` });
      },
    );
    this.#running.add(running);
    void running.then(() => this.#running.delete(running));
  }

  /** Resolves when every task started so far (and any they started) has settled. */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.all([...this.#running]);
  }
}
