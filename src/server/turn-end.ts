/**
 * Work deferred to the end of the current event-loop turn, in a fixed order:
 * first the group commit, then the socket writes.
 *
 * Each write to a loopback or LAN socket is one system call that also wakes
 * the peer, and on virtual machines it costs more than all the JavaScript a
 * message needs. So a connection's frames are held (corked) while the turn
 * runs and written together at its end. Running the commit first matters:
 * its promise continuations write the send responses and pushes, and those
 * then join the acknowledgement responses and everything else the turn wrote
 * to the same socket — one write per connection per turn instead of one per
 * frame. Neither phase waits past the turn that produced the work.
 */

/** The phases, in the order they run. */
export type TurnPhase = 'commit' | 'write';

/**
 * One server's turn-end queues. Per server, not per module: two servers in
 * one process (tests, an embedding host) must not flush each other's work
 * or see each other's tasks fail.
 */
export class TurnScheduler {
  private readonly commits: Array<() => void> = [];
  private readonly writes: Array<() => void> = [];
  private scheduled = false;

  /** Runs `task` at the end of the current turn, after every task of an earlier phase. */
  atTurnEnd(phase: TurnPhase, task: () => void): void {
    (phase === 'commit' ? this.commits : this.writes).push(task);
    if (!this.scheduled) this.schedule();
  }

  private schedule(): void {
    this.scheduled = true;
    // Two immediates of one check phase: Node drains the microtask queue
    // between them, so every continuation of the commit has written its
    // frames before the write phase flushes the sockets.
    setImmediate(this.runCommits);
    setImmediate(this.runWrites);
  }

  private readonly runCommits = (): void => {
    runAll(this.commits);
  };

  private readonly runWrites = (): void => {
    this.scheduled = false;
    try {
      runAll(this.writes);
    } finally {
      // Work queued after this turn's commit phase had run (a continuation
      // that submitted another write, say) goes with the next turn.
      if (!this.scheduled && (this.commits.length > 0 || this.writes.length > 0)) this.schedule();
    }
  };
}

/** Runs every task even if one throws (that one's error is rethrown after the rest ran). */
function runAll(tasks: Array<() => void>): void {
  const batch = tasks.splice(0, tasks.length);
  let failure: { error: unknown } | undefined;
  for (const task of batch) {
    try {
      task();
    } catch (error) {
      failure ??= { error };
    }
  }
  if (failure !== undefined) throw failure.error;
}
