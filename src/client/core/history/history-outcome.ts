/**
 * What a companion does with a received history message
 * (history-receive.ts) once it is stored: start or resume the import,
 * report the bootstrap state and fetch its groups, or report a refused
 * archive and discard its blob (docs/history.md). Events only say how far
 * the sync is; none carries message content.
 */
import type { BackgroundTasks } from '../background.js';
import type { EventStream } from '../event-stream.js';
import type { ClientEvent } from '../events.js';
import type { GroupClient } from '../groups/group-client.js';
import type { HistoryOutcome } from './history-receive.js';
import type { HistoryImporter } from './importer.js';

/** Where the follow-ups of a history message go. */
export interface HistoryFollowUps {
  readonly importer: HistoryImporter;
  readonly groups: GroupClient;
  readonly events: EventStream<ClientEvent>;
  readonly background: BackgroundTasks;
}

/** Runs the follow-ups of `outcome`. */
export function followHistoryOutcome(outcome: HistoryOutcome, to: HistoryFollowUps): void {
  const { importer, groups, events, background } = to;
  const base = { messages: 0, totalMessages: 0, bytes: 0, totalBytes: 0, percent: 0 };
  switch (outcome.kind) {
    case 'history-import':
      background.spawn('history import', () => importer.run());
      return;
    case 'history-bootstrap': {
      const state = outcome.state;
      events.emit({ type: 'history-sync', phase: 'bootstrap', ...base });
      if (outcome.applied.skipped > 0) {
        // The rest was applied; say what was not (entries only, no content).
        events.emit({
          type: 'error',
          code: 'invalid-bootstrap',
          message: `${outcome.applied.skipped} entries of the primary's account state broke a rule or a bound and were skipped`,
        });
      }
      if (!state.historyOffered) {
        events.emit({ type: 'history-sync', phase: 'declined', ...base, percent: 100 });
      }
      // Memberships: fetch and verify each group's chain now, so group
      // sends work on the new device at once.
      background.spawn('bootstrap groups', async () => {
        for (const id of state.groupIds) if (id.length === 16) await groups.onGroupChanged(id);
      });
      return;
    }
    case 'history-refused': {
      events.emit({
        type: 'history-sync',
        phase: 'failed',
        ...base,
        code: outcome.code,
        reason: outcome.reason,
      });
      const blobId = outcome.discard;
      if (blobId !== undefined) {
        background.spawn('discard refused archive', () => importer.discard(blobId));
      }
      return;
    }
  }
}
