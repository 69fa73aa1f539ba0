/**
 * Challenge, registration and authentication.
 *
 * Both registration and login prove possession of the identity key by an
 * XEdDSA signature over `authenticationPayload(nonce, account, deviceId)`
 * (src/wire/auth.ts) with a fresh single-use nonce from `challenge`.
 *
 * Registration also publishes the account's first signed device list,
 * which must be signed by the registering identity (the account key). A
 * login from a removed device is told `device-removed` with the reason, and
 * a companion past its lifetime is removed at login (src/server/lifetimes.ts).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type {
  AuthenticateRequest,
  ChallengeRequest,
  RegisterRequest,
} from '../../gen/quintet/v1/transport_pb.js';
import { NONCE_LENGTH } from '../../wire/auth.js';
import { checkAuthenticationSignature, parsePublicKey } from '../auth/signatures.js';
import type { ClientConnection, HandlerResult } from '../connection.js';
import type { ServerContext } from '../context.js';
import { ServiceError } from '../errors.js';
import { expireAtLogin } from '../lifetimes.js';
import { checkDeviceList, type CheckedDeviceList } from '../linking/device-list.js';
import { announceDeviceChangeLater } from '../linking/notices.js';
import { disconnectRemoved, purgeDeviceQueue } from '../linking/removal.js';
import { StoreError, type AccountReset, type NewDevice } from '../store/types.js';
import { requireAccountName, requireDeviceId, requireLength } from './common.js';
import { newDeviceKeysError, validateNewDeviceKeys } from './new-device-keys.js';

const SIGNATURE_LENGTH = 64;
const MAX_DEVICE_NAME = 64;

/** Issues a nonce bound to this connection. */
export function handleChallenge(
  ctx: ServerContext,
  connection: ClientConnection,
  _request: ChallengeRequest,
): HandlerResult {
  const nonce = ctx.challenges.issue(connection.connectionId);
  if (nonce === undefined) {
    throw new ServiceError('rate-limited', 'too many unused challenges on this connection', {
      retryAfterMs: 1000,
      limit: 'challenges-per-connection',
    });
  }
  return { body: { case: 'challenge', value: { nonce } } };
}

/** Constant-time token check (hash first so lengths do not leak either). */
function tokenMatches(expected: string, given: string): boolean {
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}

/** Creates an account with this connection's device as primary (device 1), and authenticates it. */
export async function handleRegister(
  ctx: ServerContext,
  connection: ClientConnection,
  request: RegisterRequest,
): Promise<HandlerResult> {
  // The nonce is burnt first, whatever happens next: one attempt per challenge.
  const nonceValid = ctx.challenges.consume(connection.connectionId, request.nonce);
  if (connection.device !== undefined) {
    throw new ServiceError('forbidden', 'connection is already authenticated');
  }
  // Every attempt from an address costs a token, failed ones too: an
  // unthrottled address could mint accounts by the thousand (each then
  // free to fetch prekey bundles and fill queues) or probe tokens.
  const allowed = await ctx.registrationLimiter.take(connection.remoteAddress);
  if (!allowed.allowed) {
    throw new ServiceError('rate-limited', 'too many registrations from this address', {
      retryAfterMs: allowed.retryAfterMs,
      limit: 'registration-per-address',
    });
  }
  if (ctx.registrationToken !== undefined) {
    if (request.registrationToken === '') {
      throw new ServiceError(
        'registration-token-required',
        'this server requires a registration token',
      );
    }
    if (!tokenMatches(ctx.registrationToken, request.registrationToken)) {
      throw new ServiceError('invalid-registration-token', 'registration token does not match');
    }
  }
  const account = requireAccountName(request.account);
  const identityKey = parsePublicKey(request.identityKey, 'identity key');
  if (request.registrationId < 1) {
    throw new ServiceError('malformed-request', 'registration id must be positive');
  }
  if (request.deviceName.length > MAX_DEVICE_NAME) {
    throw new ServiceError('malformed-request', `device name longer than ${MAX_DEVICE_NAME}`);
  }
  requireLength(request.nonce, NONCE_LENGTH, 'nonce');
  requireLength(request.signature, SIGNATURE_LENGTH, 'signature');
  if (request.signedPreKey === undefined) {
    throw new ServiceError('malformed-request', 'registration needs a signed prekey');
  }
  if (!nonceValid) {
    throw new ServiceError('challenge-expired', 'unknown, used or expired challenge');
  }
  await checkAuthenticationSignature(
    ctx.crypto,
    identityKey,
    request.nonce,
    account,
    1,
    request.signature,
  );
  // Everything is validated before the account exists, so a bad prekey
  // cannot leave a half-registered account behind; the keys are then
  // written with the account in one transaction.
  const keys = await validateNewDeviceKeys(ctx, identityKey, request);
  const list = await checkDeviceList(ctx, request.signedKeyIndexList, identityKey.serialize());

  const primary: NewDevice = {
    identityKey: identityKey.serialize(),
    registrationId: request.registrationId,
    name: request.deviceName,
    createdAt: ctx.clock.now(),
    keys,
  };
  let reset = false;
  try {
    await ctx.store.accounts.createAccount(account, primary, list.stored);
  } catch (error) {
    if (!StoreError.is(error, 'account-exists')) throw newDeviceKeysError(ctx, error);
    if (!ctx.allowReregistration) {
      throw new ServiceError('account-taken', 'account name is taken', {}, { cause: error });
    }
    await resetAccount(ctx, account, primary, list);
    reset = true;
  }
  const deviceId = 1;
  await ctx.devices.listen({ account, deviceId });
  connection.bindDevice({ account, deviceId });
  ctx.logger.info({ account, deviceId, reset }, 'account registered');
  return {
    body: { case: 'register', value: { deviceId } },
    after: () => {
      connection.startDelivery();
      if (reset) announceDeviceChangeLater(ctx, account, { account, deviceId });
    },
  };
}

/**
 * Re-registration of an existing name (only with `allowReregistration`): a
 * reinstalled primary brings a new account key, which invalidates every
 * companion (they were vouched for by the old key) and every queued
 * envelope (encrypted to the old keys). Contacts learn of the new key from
 * `DeviceListChanged` and must confirm it (`account-key-changed`).
 */
async function resetAccount(
  ctx: ServerContext,
  account: string,
  primary: NewDevice,
  list: CheckedDeviceList,
): Promise<void> {
  const reason = 'account-reset';
  let result: AccountReset;
  try {
    result = await ctx.store.accounts.resetAccount(account, primary, list.stored, {
      reason,
      removedAt: ctx.clock.now(),
    });
  } catch (error) {
    throw newDeviceKeysError(ctx, error);
  }
  // The reset replaced the old primary's keys with the new ones; its
  // backlog (encrypted to the old keys) goes too, and its session, if
  // still connected, is told why before it is closed.
  const old = { account, deviceId: 1 };
  await purgeDeviceQueue(ctx, old);
  disconnectRemoved(ctx, old, reason);
  for (const deviceId of result.removedDevices) {
    const address = { account, deviceId };
    await purgeDeviceQueue(ctx, address);
    ctx.metrics.deviceRemoved(reason);
    disconnectRemoved(ctx, address, reason);
  }
  ctx.logger.info({ account, removed: result.removedDevices.length }, 'account re-registered');
}

/** Authenticates the connection as an existing device, then delivers its backlog. */
export async function handleAuthenticate(
  ctx: ServerContext,
  connection: ClientConnection,
  request: AuthenticateRequest,
): Promise<HandlerResult> {
  const nonceValid = ctx.challenges.consume(connection.connectionId, request.nonce);
  if (connection.device !== undefined) {
    throw new ServiceError('forbidden', 'connection is already authenticated');
  }
  const account = requireAccountName(request.account);
  const deviceId = requireDeviceId(request.deviceId);
  requireLength(request.nonce, NONCE_LENGTH, 'nonce');
  requireLength(request.signature, SIGNATURE_LENGTH, 'signature');
  if (!nonceValid) {
    throw new ServiceError('challenge-expired', 'unknown, used or expired challenge');
  }
  const device = await ctx.store.accounts.getDevice(account, deviceId);
  if (device === undefined) {
    const devices = await ctx.store.accounts.listDevices(account);
    if (devices === undefined) throw new ServiceError('unknown-account', 'no such account');
    const removal = await ctx.store.accounts.getRemoval(account, deviceId);
    // A removed device is told so (and why), so it can wipe itself and
    // say so instead of failing as if it never existed.
    if (removal !== undefined) throw removedError(removal.reason);
    throw new ServiceError('unknown-device', 'no such device');
  }
  const identityKey = parsePublicKey(device.identityKey, 'stored identity key');
  await checkAuthenticationSignature(
    ctx.crypto,
    identityKey,
    request.nonce,
    account,
    deviceId,
    request.signature,
  );
  const expired = await expireAtLogin(ctx, device);
  if (expired !== undefined) throw removedError(expired);
  await ctx.devices.listen({ account, deviceId });
  if (connection.device !== undefined) {
    // Two authenticate requests raced on one connection; the first won.
    throw new ServiceError('forbidden', 'connection is already authenticated');
  }
  connection.bindDevice({ account, deviceId });
  // Best effort: a login must not need a write that can fail for space (a
  // full disk must not lock every device out). Last-seen is written again
  // when the connection closes.
  ctx.store.accounts.touchDevice(account, deviceId, ctx.clock.now()).catch((error: unknown) => {
    ctx.logger.warn({ err: error }, 'could not record last-seen time at login');
  });
  const [remaining, kemRemaining] = await Promise.all([
    ctx.store.preKeys.countOneTimePreKeys(account, deviceId),
    ctx.store.kemPreKeys.countOneTimeKemPreKeys(account, deviceId),
  ]);
  ctx.logger.debug({ account, deviceId }, 'device authenticated');
  return {
    body: {
      case: 'authenticate',
      value: {
        preKeysRemaining: remaining,
        preKeyThreshold: ctx.limits.preKeyLowThreshold,
        kemPreKeysRemaining: kemRemaining,
      },
    },
    after: () => {
      // Told at every login, not only when a fetch crosses the threshold:
      // keys taken while the device was offline could not be announced.
      // Only the EC count decides here: a v3-only device has no KEM prekeys
      // and must not be told at every login; a post-quantum device reads
      // kem_pre_keys_remaining in this response.
      if (remaining < ctx.limits.preKeyLowThreshold) {
        connection.notifyPreKeysLow(remaining, kemRemaining);
      }
      connection.startDelivery();
    },
  };
}

/** `device-removed`; the message names the reason (a fixed vocabulary, never user data). */
function removedError(reason: string): ServiceError {
  return new ServiceError('device-removed', `device removed: ${reason}`);
}
