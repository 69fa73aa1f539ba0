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
 * account key as verified by the directory (refreshing it first, so a
 * changed key is reported before the new number is shown).
 */
export async function accountSafetyNumber(
  ctx: ProtocolContext,
  store: DeviceStore,
  directory: DeviceDirectory,
  account: string,
): Promise<Fingerprint> {
  const local = await store.account.getRequired();
  const localKey = await ownAccountKey(store);
  if (localKey === undefined) {
    throw new ClientError('not-registered', 'this device does not know its account key');
  }
  const remote = await directory.refresh(account);
  return createFingerprint(ctx.crypto, {
    localIdentifier: utf8(local.account),
    localKey,
    remoteIdentifier: utf8(account),
    remoteKey: remote.accountKey,
  });
}
