/**
 * The safety number of a conversation: libsignal's 60-digit fingerprint over
 * both accounts' identity keys. With multi-device, the account key is the
 * primary device's identity (device 1), which vouches for every companion,
 * so one number per account pair covers all devices.
 */
import type { ProtocolContext } from '../../protocol/context.js';
import { PublicKey } from '../../protocol/curve.js';
import { createFingerprint, type Fingerprint } from '../../protocol/fingerprint.js';
import { utf8 } from './bytes.js';
import { ClientError } from './errors.js';
import type { ServerApi } from './server-api.js';
import type { DeviceStore } from './store/device-store.js';

const PRIMARY_DEVICE_ID = 1;

/**
 * Computes the safety number with `account`. The peer's key comes from the
 * server; comparing the number out of band is what detects a server that
 * substituted it.
 */
export async function safetyNumber(
  ctx: ProtocolContext,
  store: DeviceStore,
  api: ServerApi,
  account: string,
): Promise<Fingerprint> {
  const local = await store.account.getRequired();
  const localKey = (await store.protocol.identity.getIdentityKeyPair()).publicKey;
  const devices = await api.getDevices(account);
  const primary = devices.find((device) => device.deviceId === PRIMARY_DEVICE_ID);
  if (primary === undefined) {
    throw new ClientError('unexpected-response', 'the account has no primary device');
  }
  return createFingerprint(ctx.crypto, {
    localIdentifier: utf8(local.account),
    localKey,
    remoteIdentifier: utf8(account),
    remoteKey: PublicKey.deserialize(primary.identityKey),
  });
}
