/**
 * Linking a companion device (docs/multi-device.md, "Linking"):
 *
 * 1. `OpenLink` — an anonymous companion connection gets a short-lived
 *    reference for its QR code and waits.
 * 2. `ApproveLink` — the primary, having read the QR code, sends the
 *    companion's identity key, the HMAC-wrapped signed identity (opaque
 *    here: the server never holds the linking secret, so it cannot forge a
 *    link) and a new signed key-index list naming the companion's index.
 *    The server checks the list, reserves the next device id, stores the
 *    list and pushes `LinkApproved` with a single-use token to the waiter.
 * 3. `CompleteLink` — the companion proves its identity key (auth
 *    signature), presents its fully signed identity and prekeys, and the
 *    connection becomes that device.
 *
 * A reserved id without a completed link is never a device: it is not
 * served, bundled or expected in sends, and it is never handed out again.
 */
import type {
  ApproveLinkRequest,
  CompleteLinkRequest,
  OpenLinkRequest,
} from '../../gen/quintet/v1/transport_pb.js';
import { bytesEqual } from '../../protocol/bytes.js';
import { PublicKey } from '../../protocol/curve.js';
import { AdvError, verifyDeviceIdentity } from '../../protocol/adv/index.js';
import { NONCE_LENGTH } from '../../wire/auth.js';
import { checkAuthenticationSignature, parsePublicKey } from '../auth/signatures.js';
import type { ClientConnection, HandlerResult } from '../connection.js';
import type { ServerContext } from '../context.js';
import { ServiceError } from '../errors.js';
import { checkDeviceList, requireNewerList, saveDeviceList } from '../linking/device-list.js';
import {
  LINK_TOKEN_LENGTH,
  MAX_REF_LENGTH,
  type ClaimedLink,
  type LinkAdmission,
} from '../linking/link-sessions.js';
import { announceDeviceChangeLater } from '../linking/notices.js';
import { linkApprovedPush } from '../linking/push-frames.js';
import { StoreError } from '../store/types.js';
import { PRIMARY_DEVICE_ID, requireLength, requirePrimary } from './common.js';
import { newDeviceKeysError, validateNewDeviceKeys } from './new-device-keys.js';

/** Largest relayed linking payload / signed identity (real ones are ~200 bytes). */
export const MAX_LINK_PAYLOAD_BYTES = 4096;
const SIGNATURE_LENGTH = 64;
const MAX_DEVICE_NAME = 64;

/** Gives an anonymous connection a fresh link reference (replacing its previous one). */
export async function handleOpenLink(
  ctx: ServerContext,
  connection: ClientConnection,
  _request: OpenLinkRequest,
): Promise<HandlerResult> {
  if (connection.device !== undefined) {
    throw new ServiceError('forbidden', 'an authenticated connection cannot be linked');
  }
  const opened = await ctx.links.open({
    nodeId: ctx.nodeId,
    connectionId: connection.connectionId,
  });
  if (!connection.isOpen) {
    // Closed while the reference was being filed: its close handler may
    // have run before the row existed.
    await ctx.links.dropConnection({ nodeId: ctx.nodeId, connectionId: connection.connectionId });
    throw new ServiceError('link-expired', 'the connection closed');
  }
  ctx.linkWaiters.add(connection.connectionId, connection);
  // The companion waits, anonymous, for the primary to scan its code (and
  // then has the usual time to ask for a fresh one).
  connection.extendAuthDeadline(opened.expiresAt - ctx.clock.now() + ctx.limits.authTimeoutMs);
  return {
    body: { case: 'openLink', value: { ref: opened.ref, expiresAt: BigInt(opened.expiresAt) } },
  };
}

/** The primary approves the companion waiting on `ref`. */
export async function handleApproveLink(
  ctx: ServerContext,
  connection: ClientConnection,
  request: ApproveLinkRequest,
): Promise<HandlerResult> {
  const self = requirePrimary(connection);
  if (request.ref.length === 0 || request.ref.length > MAX_REF_LENGTH) {
    throw new ServiceError('malformed-request', 'link reference missing or too long');
  }
  const companionKey = parsePublicKey(request.companionIdentityKey, 'companion identity key');
  if (request.payload.length === 0 || request.payload.length > MAX_LINK_PAYLOAD_BYTES) {
    throw new ServiceError('malformed-request', 'linking payload missing or too large');
  }
  if (request.keyIndex < 1) {
    // Index 0 is the primary's own; a companion holding it would pass every filter.
    throw new ServiceError('malformed-request', 'a companion key index must be at least 1');
  }
  const claimed = await ctx.links.claim(request.ref);
  let admission: LinkAdmission | undefined;
  try {
    const devices = (await ctx.store.accounts.listDevices(self.account)) ?? [];
    const primary = devices.find((d) => d.deviceId === PRIMARY_DEVICE_ID);
    if (primary === undefined) throw new ServiceError('unknown-device', 'no primary device');
    const companions = devices.filter((d) => d.deviceId !== PRIMARY_DEVICE_ID);
    admission = await ctx.links.admit(
      self.account,
      companions.map((d) => d.deviceId),
      ctx.limits.maxCompanions,
    );
    const list = await checkDeviceList(ctx, request.signedKeyIndexList, primary.identityKey);
    if (!list.validIndexes.includes(request.keyIndex)) {
      throw new ServiceError('invalid-device-list', "the list does not name the companion's index");
    }
    if (companions.some((d) => d.keyIndex === request.keyIndex)) {
      throw new ServiceError('invalid-device-list', 'that key index belongs to a linked device');
    }
    await requireNewerList(ctx, self.account, list);
    // Checked last before anything is written: an approval nobody will
    // receive must not burn a device id. The waiter's close (on whichever
    // node) drops its reference.
    if (!(await ctx.links.isHeld(claimed))) {
      throw new ServiceError('link-expired', 'the companion is no longer connected');
    }
    const deviceId = await ctx.store.accounts.reserveDeviceId(self.account);
    await saveDeviceList(ctx, self.account, list);
    const pushFor = (linkToken: Uint8Array): Uint8Array =>
      linkApprovedPush({
        account: self.account,
        deviceId,
        payload: request.payload,
        linkToken,
        keyIndex: request.keyIndex,
      });
    const { waiter } = claimed;
    // A waiter on another node is reached over the bus, which may drop the
    // message: the push is then filed too, for the waiter's node to find.
    const remote = waiter.nodeId !== ctx.nodeId;
    const filed = await ctx.links.approve(
      claimed,
      {
        account: self.account,
        deviceId,
        keyIndex: request.keyIndex,
        companionIdentityKey: companionKey.serialize(),
      },
      remote ? pushFor : undefined,
    );
    ctx.devices.toConnection(waiter.nodeId, waiter.connectionId, {
      // The companion now has until the link completes to authenticate.
      extendAuthDeadlineMs: ctx.limits.linkCompleteTtlMs + ctx.limits.authTimeoutMs,
      push: pushFor(filed.token),
    });
    ctx.logger.info({ account: self.account, deviceId }, 'link approved');
    return { body: { case: 'approveLink', value: { deviceId } } };
  } catch (error) {
    await releaseUnlessGone(ctx, claimed, error);
    throw error;
  } finally {
    if (admission !== undefined) await endAdmission(ctx, admission);
  }
}

/** Stops counting an approval; a failure only delays the slot until the admission expires. */
async function endAdmission(ctx: ServerContext, admission: LinkAdmission): Promise<void> {
  try {
    await admission.end();
  } catch (error) {
    ctx.logger.warn({ err: error }, 'could not end a link admission');
  }
}

/** A failed approval hands the reference back, unless the companion is gone. */
async function releaseUnlessGone(
  ctx: ServerContext,
  claimed: ClaimedLink,
  error: unknown,
): Promise<void> {
  if (ServiceError.is(error, 'link-expired')) return;
  try {
    await ctx.links.release(claimed);
  } catch (releaseError) {
    // The approval's own error is what the primary hears; the reference
    // stays claimed until it expires.
    ctx.logger.warn({ err: releaseError }, 'could not release a link reference');
  }
}

/** Checks the shape of a completion before the single-use token is spent. */
function checkCompleteShape(request: CompleteLinkRequest): void {
  requireLength(request.linkToken, LINK_TOKEN_LENGTH, 'link token');
  requireLength(request.nonce, NONCE_LENGTH, 'nonce');
  requireLength(request.signature, SIGNATURE_LENGTH, 'signature');
  if (request.registrationId < 1) {
    throw new ServiceError('malformed-request', 'registration id must be positive');
  }
  if (request.deviceName.length > MAX_DEVICE_NAME) {
    throw new ServiceError('malformed-request', `device name longer than ${MAX_DEVICE_NAME}`);
  }
  const identity = request.signedDeviceIdentity.length;
  if (identity === 0 || identity > MAX_LINK_PAYLOAD_BYTES) {
    throw new ServiceError('malformed-request', 'signed device identity missing or too large');
  }
  if (request.signedPreKey === undefined) {
    throw new ServiceError('malformed-request', 'a linked device needs a signed prekey');
  }
}

/** The companion completes its approved link and becomes an authenticated device. */
export async function handleCompleteLink(
  ctx: ServerContext,
  connection: ClientConnection,
  request: CompleteLinkRequest,
): Promise<HandlerResult> {
  // Burnt first, whatever happens next: one attempt per challenge.
  const nonceValid = ctx.challenges.consume(connection.connectionId, request.nonce);
  if (connection.device !== undefined) {
    throw new ServiceError('forbidden', 'connection is already authenticated');
  }
  const identityKey = parsePublicKey(request.identityKey, 'identity key');
  checkCompleteShape(request);
  // Single use from here on: a failed completion needs a new link.
  const link = await ctx.links.takeApproved(request.linkToken);
  const { account, deviceId } = link;
  if (!bytesEqual(identityKey.serialize(), link.companionIdentityKey)) {
    // Someone holding the token but not the approved key (e.g. a server-side
    // observer) cannot take the device over.
    throw new ServiceError('invalid-link', 'identity key is not the one the primary approved');
  }
  if (!nonceValid) {
    throw new ServiceError('challenge-expired', 'unknown, used or expired challenge');
  }
  await checkAuthenticationSignature(
    ctx.crypto,
    identityKey,
    request.nonce,
    account,
    deviceId,
    request.signature,
  );
  const primary = await ctx.store.accounts.getDevice(account, PRIMARY_DEVICE_ID);
  if (primary === undefined) throw new ServiceError('link-expired', 'the account is gone');
  await checkDeviceIdentity(
    ctx,
    request.signedDeviceIdentity,
    primary.identityKey,
    identityKey,
    link.keyIndex,
  );
  // Checked before the device exists; written with it in one transaction.
  const keys = await validateNewDeviceKeys(ctx, identityKey, request);
  try {
    await ctx.store.accounts.addReservedDevice(account, deviceId, {
      identityKey: identityKey.serialize(),
      registrationId: request.registrationId,
      name: request.deviceName,
      createdAt: ctx.clock.now(),
      keyIndex: link.keyIndex,
      signedDeviceIdentity: request.signedDeviceIdentity,
      keys,
    });
  } catch (error) {
    if (StoreError.is(error, 'device-id-unavailable') || StoreError.is(error, 'unknown-account')) {
      throw new ServiceError(
        'unknown-link',
        'the approved device id is no longer available',
        {},
        {
          cause: error,
        },
      );
    }
    throw newDeviceKeysError(ctx, error);
  }
  const address = { account, deviceId };
  await ctx.devices.listen(address);
  connection.bindDevice(address);
  ctx.metrics.devicesLinked += 1;
  ctx.logger.info(address, 'companion linked');
  return {
    body: { case: 'completeLink', value: { account, deviceId } },
    after: () => {
      connection.startDelivery();
      announceDeviceChangeLater(ctx, account, address);
    },
  };
}

/**
 * Refuses a companion identity that the account key did not vouch for, or
 * that names another key index than the approved one. Clients verify this
 * themselves (validation step 4); refusing it here keeps garbage out of
 * what the server serves.
 */
async function checkDeviceIdentity(
  ctx: ServerContext,
  signedIdentity: Uint8Array,
  accountKey: Uint8Array,
  deviceKey: PublicKey,
  keyIndex: number,
): Promise<void> {
  let verified: { keyIndex: number };
  try {
    verified = await verifyDeviceIdentity(ctx, signedIdentity, {
      accountKey: PublicKey.deserialize(accountKey),
      deviceIdentityKey: deviceKey,
    });
  } catch (error) {
    if (AdvError.is(error)) {
      throw new ServiceError(
        'invalid-device-identity',
        'signed device identity does not verify against the account key',
        {},
        { cause: error },
      );
    }
    throw error;
  }
  if (verified.keyIndex !== keyIndex) {
    throw new ServiceError('invalid-device-identity', 'signed identity names another key index');
  }
}
