/**
 * Accepting history contents (bootstrap state and archive pointers) inside
 * the receiver's transaction. Only the account's primary — the device
 * whose account key vouched for this companion at approval — may send
 * them, and only to a companion: anything else (another companion of the
 * account, another account, or a primary receiving one) is refused with
 * `wrong-source` and changes nothing.
 *
 * A refused pointer names a blob nobody will import. When the pointer came
 * from a device of this account, the refusal carries its id to delete at
 * once (as an archive only, `?kind=archive`), rather than leave it to the
 * server's 24 h expiry: the server lets any device of the uploading account
 * delete its blobs, so this gives the sender nothing it did not have. A
 * pointer from another account is never acted on: the server would refuse
 * to delete that account's blob anyway, and if it named one of this
 * account's own blobs (an archive on its way to another companion), obeying
 * it would let an outsider delete this account's blobs through the refuser.
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

/** A history content: bootstrap state or an archive pointer. */
type HistoryBody =
  | { readonly case: 'historySync'; readonly value: HistorySyncNotification }
  | { readonly case: 'bootstrapState'; readonly value: BootstrapState };

/** What a history content did, for the receiver to report after the commit. */
export type HistoryOutcome =
  | { readonly kind: 'history-import' }
  | {
      readonly kind: 'history-bootstrap';
      readonly state: BootstrapState;
      readonly applied: BootstrapApplied;
    }
  | {
      readonly kind: 'history-refused';
      readonly code: string;
      readonly reason: string;
      /** The refused archive's blob, to delete now (only when sent by this account). */
      readonly discard?: string;
    };

/** The blob a refused pointer names, when it may be deleted (see the module comment). */
function discardable(
  source: { readonly account: string },
  self: { readonly account: string },
  body: HistoryBody,
): { discard?: string } {
  if (source.account !== self.account || body.case !== 'historySync') return {};
  const blobId = body.value.blobId;
  return blobId === '' ? {} : { discard: blobId };
}

/** Checks the source and applies a bootstrap state or records an import. */
export async function receiveHistoryContent(
  tx: DeviceStoreView,
  source: { readonly account: string; readonly deviceId: number },
  self: { readonly account: string; readonly deviceId: number },
  body: HistoryBody,
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
      ...discardable(source, self, body),
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
    return {
      kind: 'history-refused',
      code: 'corrupt',
      reason: 'the history pointer is malformed',
      ...discardable(source, self, body),
    };
  }
  await recordImport(tx, notification);
  return { kind: 'history-import' };
}
