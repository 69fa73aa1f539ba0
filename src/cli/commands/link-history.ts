/**
 * The end of `quintet link`: stay connected as the new companion until the
 * primary's bootstrap state and history have arrived, showing
 * "syncing history: 12,345 / 50,000 messages" as a progress bar. Waiting
 * is bounded: without bootstrap state within `waitMs` the command ends and
 * anything that arrives later is applied by the next `receive`.
 */
import type { ClientEvent } from '../../sdk/index.js';
import { HistoryProgressBar } from '../history-progress-bar.js';
import { openClientSession, type SessionContext } from '../session.js';

export async function awaitLinkHistory(
  options: { readonly profile?: string; readonly server?: string },
  context: SessionContext,
  waitMs: number,
): Promise<void> {
  const session = await openClientSession(options, true, context);
  const bar = new HistoryProgressBar('syncing history');
  let timer: NodeJS.Timeout | undefined;
  try {
    const iterator = session.events[Symbol.asyncIterator]();
    let bootstrapped = false;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), waitMs);
    });
    for (;;) {
      const next = await Promise.race([iterator.next(), timeout]);
      if (next === 'timeout') {
        bar.finish(
          bootstrapped
            ? 'history is still on its way; `quintet receive` continues it'
            : 'no account state from the primary yet; `quintet receive` picks it up',
        );
        return;
      }
      if (next.done === true) return;
      const event: ClientEvent = next.value;
      if (event.type !== 'history-sync') continue;
      switch (event.phase) {
        case 'bootstrap':
          bootstrapped = true;
          process.stderr.write('received account state (groups, contacts, read markers)\n');
          break;
        case 'started':
        case 'progress':
          // The import can take a while: the deadline is for the primary to
          // start, not for a large archive to finish.
          if (timer !== undefined) clearTimeout(timer);
          bar.update(event.messages, event.totalMessages, 'messages');
          break;
        case 'done':
          bar.finish(`history synced: ${event.messages} messages`);
          return;
        case 'declined':
          bar.finish('history: none (declined on the primary)');
          return;
        case 'failed':
          bar.finish(
            `history not imported (${event.code ?? 'failed'}): ${event.reason ?? ''}; this device works without it`,
          );
          if (event.code === 'wrong-source') break;
          return;
      }
    }
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    await session.close();
  }
}
