/**
 * After `devices approve`: send the new companion its bootstrap state and,
 * unless `--history none`, the history archive (docs/history.md). Runs on
 * a client connection of its own (the approval itself used the admin
 * session); a failure here never undoes the approval.
 */
import type { HistoryChoice } from '../../client/core/history/archive-builder.js';
import { HistoryProgressBar } from '../history-progress-bar.js';
import { openClientSession, type SessionContext } from '../session.js';

/** How long to wait for the companion to finish linking before giving up, ms. */
const COMPANION_WAIT_MS = 300_000;

export async function sendCompanionHistory(
  options: { readonly profile?: string; readonly server?: string },
  context: SessionContext,
  deviceId: number,
  choice: HistoryChoice,
): Promise<void> {
  // Not receiving: a one-shot command must leave queued envelopes for `receive`.
  const session = await openClientSession(options, false, context);
  try {
    const bar = new HistoryProgressBar('sending history');
    let result;
    try {
      result = await session.client.sendHistory(deviceId, choice, {
        timeoutMs: COMPANION_WAIT_MS,
        onProgress: (progress) => {
          if (progress.phase === 'waiting') {
            process.stderr.write(`waiting for device ${deviceId} to finish linking…\n`);
          } else if (progress.phase === 'uploading' && progress.totalBytes !== undefined) {
            bar.update(progress.bytes ?? 0, progress.totalBytes, 'bytes');
          }
        },
      });
    } catch (error) {
      // The approval stands: the device works, it only lacks account state
      // until it is sent again (it also syncs groups from the server).
      bar.finish(
        `account state and history not sent: ${error instanceof Error ? error.message : 'failed'}`,
      );
      return;
    }
    if (result.error !== undefined) {
      bar.finish(`history not sent (${result.error}); the device works without it`);
    } else if (result.messages === undefined) {
      bar.finish('sent account state; history declined');
    } else {
      bar.finish(`sent account state and ${result.messages} messages of history`);
    }
  } finally {
    await session.close();
  }
}
