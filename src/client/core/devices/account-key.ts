/**
 * The account key (the primary's identity key) and the one safety number
 * per account pair built from it.
 *
 * Every companion is vouched for by its account key, so comparing the
 * account keys once covers every device on both sides: the number is the
 * same on a primary and on each of its companions, does not change when
 * companions are linked or removed, and changes only when a primary is
 * reinstalled (a new account key).
 */
import type { ProtocolContext } from '../../../protocol/context.js';
import { PublicKey } from '../../../protocol/curve.js';
import { createFingerprint, type Fingerprint } from '../../../protocol/fingerprint.js';
import { decodeSignedDeviceIdentity, PRIMARY_DEVICE_ID } from '../../../protocol/adv/index.js';
import { utf8 } from '../bytes.js';
import { ClientError } from '../errors.js';
import type { DeviceStore } from '../store/device-store.js';
import type { DeviceDirectory } from './device-directory.js';

/**
 * This account's key: the own identity on the primary; on a companion the
 * key that signed its ADV identity at link time (checked by the linking
 * code against the linking secret). Undefined for a companion whose profile
 * holds no signed identity (not linked through ADV).
 */
export async function ownAccountKey(store: DeviceStore): Promise<PublicKey | undefined> {
  const local = await store.account.getRequired();
  if (local.deviceId === PRIMARY_DEVICE_ID) {
    return (await store.protocol.identity.getIdentityKeyPair()).publicKey;
  }
  const signed = local.signedDeviceIdentity;
  if (signed === undefined || signed.length === 0) return undefined;
  const raw = decodeSignedDeviceIdentity(signed).accountSignatureKey;
  if (raw === undefined) {
    throw new ClientError('invalid-record', 'stored device identity names no account key');
  }
  return PublicKey.fromRaw(raw);
}

/**
 * The safety number with `account`: own account key against the peer's
 * account key as served now (refreshing the view first, so a changed key is
 * reported before the new number is shown). While a new key waits for the
 * user's acceptance, the number is the one of the new key: the number to
 * compare before accepting it.
 */
export async function accountSafetyNumber(
  ctx: ProtocolContext,
  store: DeviceStore,
  directory: DeviceDirectory,
  account: string,
): Promise<Fingerprint> {
  const remote = await directory.refresh(account);
  return fingerprintWith(ctx, store, account, remote.pendingAccountKey ?? remote.accountKey);
}

/** The outcome of a trust decision. */
export interface TrustDecision {
  readonly account: string;
  /** The safety number of the key now trusted. */
  readonly safetyNumber: Fingerprint;
  /** True when a changed account key was accepted (false: the key was already trusted). */
  readonly changed: boolean;
  /** Whether the key is now marked verified. */
  readonly verified: boolean;
}

/**
 * Accepts the account key `account` serves now, after the user saw its
 * safety number: the pending new key if there is one (then sending works
 * again), else the pinned key (only `verified` changes anything). The key
 * accepted is exactly the one the number was computed from; if the server
 * serves another one by the time of acceptance, nothing is accepted.
 */
export async function acceptAccountKey(
  ctx: ProtocolContext,
  store: DeviceStore,
  directory: DeviceDirectory,
  account: string,
  verified: boolean,
): Promise<TrustDecision> {
  const view = await directory.refresh(account);
  const key = view.pendingAccountKey ?? view.accountKey;
  const safetyNumber = await fingerprintWith(ctx, store, account, key);
  const trust = await directory.trustOf(account);
  await directory.acceptAccountKey(account, key, verified);
  const keptVerified =
    trust?.verifiedKey !== undefined &&
    view.pendingAccountKey === undefined &&
    PublicKey.deserialize(trust.verifiedKey).equals(key);
  return {
    account,
    safetyNumber,
    changed: view.pendingAccountKey !== undefined,
    verified: verified || keptVerified,
  };
}

async function fingerprintWith(
  ctx: ProtocolContext,
  store: DeviceStore,
  account: string,
  remoteKey: PublicKey,
): Promise<Fingerprint> {
  const local = await store.account.getRequired();
  const localKey = await ownAccountKey(store);
  if (localKey === undefined) {
    throw new ClientError('not-registered', 'this device does not know its account key');
  }
  return createFingerprint(ctx.crypto, {
    localIdentifier: utf8(local.account),
    localKey,
    remoteIdentifier: utf8(account),
    remoteKey,
  });
}
