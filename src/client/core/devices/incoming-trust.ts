/**
 * The receiving half of ADV: before a prekey message (which would create a
 * new session) from `name`/`device` is decrypted, the identity key inside it
 * must be one the verified view trusts.
 *
 * - device 1: the pinned account key. A different key makes the view
 *   refresh first, which reports a reinstalled primary in plain words; until
 *   the user accepts the new key, envelopes from its devices are held (left
 *   unacked on the server, read after acceptance on the next connection); a
 *   key the server does not serve either is refused.
 * - a companion: the key its ADV identity vouched for — from the served
 *   device list, or from the `source_device_identity` the server copied onto
 *   the envelope (for a companion linked after the last fetch). That identity
 *   must carry a valid account signature by the trusted account key and a
 *   valid device signature for exactly the key in the message; otherwise the
 *   server (or anyone) could open a session with a device the account never
 *   linked. Refused: no session is stored and the message is dropped.
 */
import { PRIMARY_DEVICE_ID, AdvError, verifyDeviceIdentity } from '../../../protocol/adv/index.js';
import type { ProtocolContext } from '../../../protocol/context.js';
import { PublicKey } from '../../../protocol/curve.js';
import { sameBytes } from '../bytes.js';
import type { DeviceStore } from '../store/device-store.js';
import type { DeviceDirectory } from './device-directory.js';

/** The verdict on an incoming session. */
export type IncomingVerdict =
  | { readonly trusted: true }
  | {
      readonly trusted: false;
      readonly reason: string;
      /**
       * The account's new key waits for the user's acceptance: keep the
       * envelope on the server (no ack) so it is read once the key is accepted.
       */
      readonly hold?: boolean;
    };

/** What is known about the message's sender. */
export interface IncomingSender {
  readonly account: string;
  readonly deviceId: number;
  /** The identity key inside the PreKeySignalMessage. */
  readonly identityKey: PublicKey;
  /** The sender's registration id from the same message. */
  readonly registrationId: number;
  /** The envelope's `source_device_identity` (empty when absent). */
  readonly sourceDeviceIdentity: Uint8Array;
}

const TRUSTED: IncomingVerdict = { trusted: true };

async function matchesView(
  store: DeviceStore,
  sender: IncomingSender,
): Promise<'match' | 'mismatch' | 'unknown'> {
  const known = await store.verifiedDevices.getDevice(sender.account, sender.deviceId);
  if (known === undefined) return 'unknown';
  return sameBytes(known.identityKey, sender.identityKey.serialize()) ? 'match' : 'mismatch';
}

/** Decides whether a new session from `sender` may be accepted (see the module comment). */
export async function verifyIncomingSession(
  ctx: ProtocolContext,
  store: DeviceStore,
  directory: DeviceDirectory,
  sender: IncomingSender,
): Promise<IncomingVerdict> {
  if ((await matchesView(store, sender)) === 'match') return TRUSTED;
  // Unknown sender, a new companion, or a new primary key: learn the
  // account's current verified devices first (this reports a key change).
  const view = await directory.refresh(sender.account);
  const afterRefresh = await matchesView(store, sender);
  if (afterRefresh === 'match') return TRUSTED;
  // A device of a new account key the user has not accepted: no session with
  // it before the user decides, but no message lost either.
  if (view.pendingAccountKey !== undefined) {
    return { trusted: false, reason: 'account-key-not-accepted', hold: true };
  }
  if (sender.deviceId === PRIMARY_DEVICE_ID)
    return { trusted: false, reason: 'untrusted-identity' };
  if (afterRefresh === 'mismatch') return { trusted: false, reason: 'untrusted-identity' };
  return verifyFromEnvelope(ctx, store, sender);
}

/** Step 4 on the identity the envelope carries, against the pinned account key and list. */
async function verifyFromEnvelope(
  ctx: ProtocolContext,
  store: DeviceStore,
  sender: IncomingSender,
): Promise<IncomingVerdict> {
  if (sender.sourceDeviceIdentity.length === 0) {
    return { trusted: false, reason: 'missing-identity' };
  }
  const account = await store.verifiedDevices.getAccount(sender.account);
  if (account === undefined) return { trusted: false, reason: 'unknown-account' };
  let verified: { keyIndex: number; rawId: number };
  try {
    verified = await verifyDeviceIdentity(ctx, sender.sourceDeviceIdentity, {
      accountKey: PublicKey.deserialize(account.accountKey),
      deviceIdentityKey: sender.identityKey,
    });
  } catch (error) {
    if (AdvError.is(error)) return { trusted: false, reason: error.code };
    throw error;
  }
  const list = account.list;
  // Without any accepted list there is nothing that could have revoked the
  // index, but also nothing that vouches for the epoch: refuse.
  if (list === undefined) return { trusted: false, reason: 'missing-device-list' };
  // Linked in an older account-key epoch, or revoked by the newest list
  // (validation step 3 applied to what the envelope claims).
  if (verified.rawId !== list.rawId) return { trusted: false, reason: 'raw-id-mismatch' };
  if (!list.validIndexes.includes(verified.keyIndex) && verified.keyIndex <= list.currentIndex) {
    return { trusted: false, reason: 'index-not-valid' };
  }
  const others = await store.verifiedDevices.listDevices(sender.account);
  if (others.some((d) => d.keyIndex === verified.keyIndex && d.deviceId !== sender.deviceId)) {
    // One key index is one linked companion: a copy on another device id.
    return { trusted: false, reason: 'duplicate-key-index' };
  }
  await store.verifiedDevices.putDevice(sender.account, {
    deviceId: sender.deviceId,
    identityKey: sender.identityKey.serialize().slice(),
    keyIndex: verified.keyIndex,
    registrationId: sender.registrationId,
  });
  return TRUSTED;
}
