/**
 * A multi-subscriber event channel exposed as `AsyncIterable`s (nats.js
 * `status()` style): each `subscribe()` gets its own unbounded queue from
 * that moment on, so a slow consumer never loses events and never blocks the
 * producer. Closing ends every iteration.
 */

interface Subscriber<T> {
  readonly buffer: T[];
  wake: (() => void) | undefined;
}

/** Producer side of a typed event stream. */
export class EventStream<T> {
  readonly #subscribers = new Set<Subscriber<T>>();
  #closed = false;

  /** Delivers `event` to every current subscriber. Events after `close()` are dropped. */
  emit(event: T): void {
    if (this.#closed) return;
    for (const subscriber of this.#subscribers) {
      subscriber.buffer.push(event);
      subscriber.wake?.();
    }
  }

  /** Ends every subscription once its buffered events are consumed. */
  close(): void {
    this.#closed = true;
    for (const subscriber of this.#subscribers) subscriber.wake?.();
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * A new subscription. Iteration starts receiving immediately (not on the
   * first `next()`), so no event emitted between the call and the first
   * `await` is lost; breaking out of the loop unsubscribes.
   */
  subscribe(): AsyncIterable<T> {
    const subscriber: Subscriber<T> = { buffer: [], wake: undefined };
    this.#subscribers.add(subscriber);
    const unsubscribe = (): void => {
      this.#subscribers.delete(subscriber);
    };
    const next = async (): Promise<IteratorResult<T>> => {
      for (;;) {
        const event = subscriber.buffer.shift();
        if (event !== undefined) return { value: event, done: false };
        if (this.#closed) {
          unsubscribe();
          return { value: undefined, done: true };
        }
        await new Promise<void>((resolve) => {
          subscriber.wake = resolve;
        });
        subscriber.wake = undefined;
      }
    };
    const iterator: AsyncIterator<T> = {
      next,
      return: async () => {
        unsubscribe();
        return { value: undefined, done: true };
      },
    };
    return { [Symbol.asyncIterator]: () => iterator };
  }
}
