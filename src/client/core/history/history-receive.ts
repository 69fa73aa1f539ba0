/**
 * Accepting history contents (bootstrap state and archive pointers) inside
 * the receiver's transaction. Only the account's primary — the device
 * whose account key vouched for this companion at approval — may send
 * them, and only to a companion: anything else (another companion of the
 * account, another account, or a primary receiving one) is refused with
 * `wrong-source` and changes nothing.
 */
import type {
  BootstrapState,
  HistorySyncNotification,
} from '../../../gen/quintet/v1/content_pb.js';
import type { DeviceStoreView } from '../store/device-store.js';
import { applyBootstrap, type BootstrapApplied } from './bootstrap.js';
import { recordImport } from './importer.js';

/** The primary's device id. */
const PRIMARY_DEVICE = 1;

/** What a history content did, for the receiver to report after the commit. */
export type HistoryOutcome =
  | { readonly kind: 'history-import' }
  | {
      readonly kind: 'history-bootstrap';
      readonly state: BootstrapState;
      readonly applied: BootstrapApplied;
    }
  | { readonly kind: 'history-refused'; readonly code: string; readonly reason: string };

/** Checks the source and applies a bootstrap state or records an import. */
export async function receiveHistoryContent(
  tx: DeviceStoreView,
  source: { readonly account: string; readonly deviceId: number },
  self: { readonly account: string; readonly deviceId: number },
  body:
    | { readonly case: 'historySync'; readonly value: HistorySyncNotification }
    | { readonly case: 'bootstrapState'; readonly value: BootstrapState },
): Promise<HistoryOutcome> {
  if (
    source.account !== self.account ||
    source.deviceId !== PRIMARY_DEVICE ||
    self.deviceId === PRIMARY_DEVICE
  ) {
    return {
      kind: 'history-refused',
      code: 'wrong-source',
      reason: `history from ${source.account} device ${source.deviceId} refused: only this account's primary may send it`,
    };
  }
  if (body.case === 'bootstrapState') {
    const applied = await applyBootstrap(tx, body.value, self.account);
    return { kind: 'history-bootstrap', state: body.value, applied };
  }
  const notification = body.value;
  if (notification.error !== '') {
    return {
      kind: 'history-refused',
      code: 'source-failed',
      reason: `the primary could not send history: ${notification.error}`,
    };
  }
  if (
    notification.key.length !== 32 ||
    notification.ciphertextSha256.length !== 32 ||
    notification.blobId === ''
  ) {
    return { kind: 'history-refused', code: 'corrupt', reason: 'the history pointer is malformed' };
  }
  await recordImport(tx, notification);
  return { kind: 'history-import' };
}
