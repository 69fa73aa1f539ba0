/**
 * Serializes work per key (the one implementation: the protocol's address
 * lock and the client core's session queue both use it): tasks for the same key run one after another in
 * submission order; tasks for different keys run concurrently. The receiver
 * pipeline keys by peer device address, so session state for one address is
 * never read and written by two decryptions at once (Signal-Desktop's
 * per-address queue) — a concurrent pair would ratchet from the same state
 * and one of the two commits would silently lose the other's update.
 */
export class KeyedQueue {
  readonly #tails = new Map<string, Promise<unknown>>();

  /** Runs `task` after every earlier task for `key` has settled. */
  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    // The chain continues whether the previous task failed or not; its
    // failure was already delivered to its own caller.
    const result = previous.then(task, task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }

  /** Resolves once every task submitted so far (for any key) has settled. */
  async idle(): Promise<void> {
    while (this.#tails.size > 0) {
      await Promise.all([...this.#tails.values()]);
    }
  }
}
