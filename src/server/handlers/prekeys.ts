/**
 * Prekey upload, status and bundle fetch.
 *
 * A bundle hands out at most one one-time prekey per device, removed from
 * the store atomically so no key is ever given to two senders (reuse would
 * let two sessions share their first key). When none remain the bundle
 * carries the signed prekey alone. Fetches are rate-limited per requesting
 * device (refused past the limit), and the one-time prekeys handed out are
 * limited per target account (past that limit bundles carry the signed
 * prekey alone); the owner is told when its supply runs low. Bundles carry
 * each companion's signed identity and the account's signed device list,
 * which the sender verifies before building a session. KEM prekeys (PQXDH)
 * follow the same rules (kem-prekeys.ts); a device that uploaded none gets
 * bundles without one.
 */
import type {
  GetPreKeyBundlesRequest,
  PreKey,
  PreKeyStatusRequest,
  SignedPreKey,
  UploadPreKeysRequest,
} from '../../gen/quintet/v1/transport_pb.js';
import type { PublicKey } from '../../protocol/curve.js';
import { checkSignedPreKey, parsePublicKey } from '../auth/signatures.js';
import type { ClientConnection, HandlerResult } from '../connection.js';
import { deviceKey, type ServerContext } from '../context.js';
import { ServiceError } from '../errors.js';
import { preKeysLowPush } from '../envelope-frames.js';
import {
  StoreError,
  type DeviceRecord,
  type OneTimePreKeyRecord,
  type SignedPreKeyRecord,
} from '../store/types.js';
import { requireAccountName, requireDevice, requireLength } from './common.js';
import {
  bundleKemPreKey,
  checkKemRoom,
  storeKemPreKeys,
  validateKemPreKeyUpload,
} from './kem-prekeys.js';

/** A validated upload, ready to store. */
export interface ValidatedPreKeys {
  readonly signed: SignedPreKeyRecord | undefined;
  readonly oneTime: readonly OneTimePreKeyRecord[];
}

/**
 * Checks an upload before anything is stored: batch size, unique ids, every
 * key a valid public key, and the signed prekey's signature by `identityKey`.
 */
export async function validatePreKeyUpload(
  ctx: ServerContext,
  identityKey: PublicKey,
  signed: SignedPreKey | undefined,
  oneTime: readonly PreKey[],
): Promise<ValidatedPreKeys> {
  if (oneTime.length > ctx.limits.maxPreKeysPerUpload) {
    throw new ServiceError(
      'too-many-pre-keys',
      `at most ${ctx.limits.maxPreKeysPerUpload} one-time prekeys per upload`,
    );
  }
  const ids = new Set<number>();
  const keys: OneTimePreKeyRecord[] = [];
  for (const key of oneTime) {
    if (ids.has(key.id)) throw new ServiceError('malformed-request', 'duplicate prekey id');
    ids.add(key.id);
    keys.push({ id: key.id, publicKey: parsePublicKey(key.publicKey, 'prekey').serialize() });
  }
  let signedRecord: SignedPreKeyRecord | undefined;
  if (signed !== undefined) {
    requireLength(signed.signature, 64, 'signed prekey signature');
    await checkSignedPreKey(ctx.crypto, identityKey, signed.publicKey, signed.signature);
    signedRecord = { id: signed.id, publicKey: signed.publicKey, signature: signed.signature };
  }
  return { signed: signedRecord, oneTime: keys };
}

/** Stores one-time prekeys, mapping the store's limit to `too-many-pre-keys`. */
async function storeOneTime(
  ctx: ServerContext,
  account: string,
  deviceId: number,
  keys: readonly OneTimePreKeyRecord[],
): Promise<void> {
  try {
    await ctx.store.preKeys.addOneTimePreKeys(account, deviceId, keys, ctx.limits.maxPreKeysStored);
  } catch (error) {
    if (StoreError.is(error, 'limit-exceeded')) {
      throw new ServiceError(
        'too-many-pre-keys',
        `at most ${ctx.limits.maxPreKeysStored} one-time prekeys stored per device`,
        {},
        { cause: error },
      );
    }
    throw error;
  }
}

/** Adds one-time prekeys and/or replaces the signed prekey of the calling device. */
export async function handleUploadPreKeys(
  ctx: ServerContext,
  connection: ClientConnection,
  request: UploadPreKeysRequest,
): Promise<HandlerResult> {
  const self = requireDevice(connection);
  const device = await ctx.store.accounts.getDevice(self.account, self.deviceId);
  if (device === undefined) throw new ServiceError('unknown-device', 'device no longer exists');
  const identityKey = parsePublicKey(device.identityKey, 'stored identity key');
  const upload = await validatePreKeyUpload(
    ctx,
    identityKey,
    request.signedPreKey,
    request.preKeys,
  );
  const kem = await validateKemPreKeyUpload(
    ctx,
    identityKey,
    request.kemPreKeys,
    request.lastResortKemPreKey,
  );
  await checkKemRoom(ctx, self.account, self.deviceId, kem);
  if (upload.oneTime.length > 0)
    await storeOneTime(ctx, self.account, self.deviceId, upload.oneTime);
  await storeKemPreKeys(ctx, self.account, self.deviceId, kem);
  if (upload.signed !== undefined) {
    await ctx.store.preKeys.setSignedPreKey(self.account, self.deviceId, upload.signed);
  }
  return { body: { case: 'uploadPreKeys', value: {} } };
}

/** How many one-time EC and KEM prekeys the calling device has left. */
export async function handlePreKeyStatus(
  ctx: ServerContext,
  connection: ClientConnection,
  _request: PreKeyStatusRequest,
): Promise<HandlerResult> {
  const self = requireDevice(connection);
  const [remaining, kemRemaining] = await Promise.all([
    ctx.store.preKeys.countOneTimePreKeys(self.account, self.deviceId),
    ctx.store.kemPreKeys.countOneTimeKemPreKeys(self.account, self.deviceId),
  ]);
  return {
    body: {
      case: 'preKeyStatus',
      value: {
        preKeysRemaining: remaining,
        preKeyThreshold: ctx.limits.preKeyLowThreshold,
        kemPreKeysRemaining: kemRemaining,
      },
    },
  };
}

/** Bundles for one device (device_id > 0) or all devices (0) of an account. */
export async function handleGetPreKeyBundles(
  ctx: ServerContext,
  connection: ClientConnection,
  request: GetPreKeyBundlesRequest,
): Promise<HandlerResult> {
  const self = requireDevice(connection);
  const account = requireAccountName(request.account);
  const decision = ctx.bundleLimiter.take(deviceKey(self));
  if (!decision.allowed) {
    throw new ServiceError('rate-limited', 'too many prekey bundle requests', {
      retryAfterMs: decision.retryAfterMs,
      limit: BUNDLE_REQUESTER_LIMIT,
    });
  }
  // The per-requester bucket alone does not protect a victim: a few
  // throwaway accounts, each within its own budget, could still take every
  // one-time prekey the victim uploaded and leave all later contacts with
  // signed-prekey-only sessions. So one-time prekeys are also budgeted per
  // target account. Signal-Server limits fetches per (requester, target)
  // pair, which stops one requester but not many; refusing the fetch
  // outright once the target's budget is spent would instead let those
  // accounts make the victim unreachable for every new contact. Past the
  // target's budget the fetch therefore still succeeds, with the signed
  // prekey only: X3DH/PQXDH without a one-time prekey is still authenticated
  // and forward-secret once the ratchet turns, it only loses the one-time
  // key's protection of the very first message — the same outcome as a
  // drained supply, without draining it for the legitimate contacts.
  const handOutOneTime = (await ctx.bundleTargetLimiter.take(account)).allowed;
  let targets: readonly DeviceRecord[];
  if (request.deviceId > 0) {
    const device = await ctx.store.accounts.getDevice(account, request.deviceId);
    if (device === undefined) {
      const all = await ctx.store.accounts.listDevices(account);
      throw all === undefined
        ? new ServiceError('unknown-account', 'no such account')
        : new ServiceError('unknown-device', 'no such device');
    }
    targets = [device];
  } else {
    const all = await ctx.store.accounts.listDevices(account);
    if (all === undefined) throw new ServiceError('unknown-account', 'no such account');
    // Fetching one's own account: the caller needs no session with itself.
    targets = all.filter((d) => !(d.account === self.account && d.deviceId === self.deviceId));
  }
  const bundles = [];
  for (const device of targets) {
    const signed = await ctx.store.preKeys.getSignedPreKey(account, device.deviceId);
    // Registration requires a signed prekey, so a device without one is not
    // reachable yet; leave it out rather than hand out a useless bundle.
    if (signed === undefined) continue;
    const oneTime = handOutOneTime
      ? await ctx.store.preKeys.takeOneTimePreKey(account, device.deviceId)
      : undefined;
    const kem = await bundleKemPreKey(ctx, account, device.deviceId, handOutOneTime);
    // Serving the last-resort KEM key means the one-time ones ran out (or
    // the budget did): a post-quantum device hears about it like EC ones.
    if (oneTime !== undefined || kem !== undefined) {
      notifyIfLow(ctx, account, device.deviceId, kem !== undefined);
    }
    bundles.push({
      deviceId: device.deviceId,
      registrationId: device.registrationId,
      identityKey: device.identityKey,
      signedPreKey: { id: signed.id, publicKey: signed.publicKey, signature: signed.signature },
      preKey: oneTime === undefined ? undefined : { id: oneTime.id, publicKey: oneTime.publicKey },
      signedDeviceIdentity: device.signedDeviceIdentity,
      keyIndex: device.keyIndex,
      kemPreKey:
        kem === undefined
          ? undefined
          : { id: kem.key.id, publicKey: kem.key.publicKey, signature: kem.key.signature },
    });
  }
  const list = await ctx.store.accounts.getDeviceList(account);
  ctx.subscriptions.record(account, self.account);
  return {
    body: {
      case: 'getPreKeyBundles',
      value: { bundles, signedKeyIndexList: list?.signedList ?? new Uint8Array(0) },
    },
  };
}

/** The `limit` named in the refusal of a requester over its bundle budget. */
export const BUNDLE_REQUESTER_LIMIT = 'prekey-bundles-per-device';

/**
 * Pushes `PreKeysLow` to the owner if connected (here, or on another node)
 * and below the threshold in EC one-time prekeys, or, for a device that
 * uses KEM prekeys (`usesKem`: its bundle carried one), in KEM ones.
 */
function notifyIfLow(
  ctx: ServerContext,
  account: string,
  deviceId: number,
  usesKem: boolean,
): void {
  const address = { account, deviceId };
  // On a single node an unconnected owner costs no count; in a cluster the
  // owner may be on another node, so the count is read and the push routed.
  if (!ctx.devices.clustered && ctx.devices.get(address) === undefined) return;
  Promise.all([
    ctx.store.preKeys.countOneTimePreKeys(account, deviceId),
    usesKem ? ctx.store.kemPreKeys.countOneTimeKemPreKeys(account, deviceId) : 0,
  ])
    .then(([remaining, kemRemaining]) => {
      const threshold = ctx.limits.preKeyLowThreshold;
      if (remaining < threshold || (usesKem && kemRemaining < threshold)) {
        ctx.devices.sendPush(address, preKeysLowPush(remaining, kemRemaining));
      }
    })
    .catch((error: unknown) => {
      ctx.logger.warn({ err: error, account, deviceId }, 'could not count prekeys');
    });
}
