/**
 * Per-chat locks held from a transaction's first read of a chat's messages
 * until its commit. Transactions stage their writes and commit them at the
 * end (store/kv.ts), and the receive pipeline runs one transaction per peer
 * device concurrently: without a lock, a receipt and a delete (or two
 * reactions from different devices) on one message would both read the old
 * record and the later commit would silently undo the other — the devices
 * would stop agreeing. A transaction locks at most one chat, except a
 * history import, which is never run twice at once, so no two transactions
 * wait on each other in a cycle.
 */
export class ChatLocks {
  readonly #held = new Map<string, Promise<void>>();

  /**
   * Waits for `chat` and holds it; returns the release. The caller must
   * release exactly once (after its commit, or when it fails).
   */
  async acquire(chat: string): Promise<() => void> {
    const previous = this.#held.get(chat) ?? Promise.resolve();
    let release: () => void = () => {};
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => mine);
    this.#held.set(chat, tail);
    await previous;
    return () => {
      release();
      if (this.#held.get(chat) === tail) this.#held.delete(chat);
    };
  }
}
