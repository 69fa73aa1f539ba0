/**
 * Primary side of linking (linking step 3): after the user authenticated
 * locally (see local-auth.ts), vouch for the companion whose link code was
 * read, and publish the new signed device list with it.
 *
 * The key index is reserved (persisted) before anything is signed, so an
 * index is never handed to two companions even if the approval fails
 * half-way or the primary crashes: a reused index would let a later list
 * that still names it vouch for the wrong device.
 */
import {
  createSignedDeviceIdentity,
  wrapWithHmac,
  type LinkCode,
} from '../../../protocol/adv/index.js';
import { sameBytes } from '../bytes.js';
import type { ProtocolContext } from '../../../protocol/context.js';
import type { KeyPair } from '../../../protocol/curve.js';
import type { ServerApi } from '../server-api.js';
import type { DeviceStore } from '../store/device-store.js';
import { isPrimaryAccount, type LocalAccount, type PrimaryLinkState } from '../store/records.js';
import { LinkingError } from './errors.js';
import { initialLinkState, signKeyIndexList } from './link-state.js';

/** The result of a successful approval. */
export interface ApprovedCompanion {
  /** The device id the server assigned (≥ 2, never reused). */
  readonly deviceId: number;
  /** The key index this primary assigned (≥ 1). */
  readonly keyIndex: number;
}

/** The primary's account, identity and link state; refuses on a companion. */
export interface PrimaryContext {
  readonly account: LocalAccount;
  readonly identity: KeyPair;
  readonly link: PrimaryLinkState;
}

/**
 * Loads what a primary-only operation needs. A companion is refused
 * (`not-primary`): only the account key may vouch for devices. A primary
 * registered before multi-device existed gets a fresh link state here.
 */
export async function loadPrimary(
  ctx: ProtocolContext,
  store: DeviceStore,
): Promise<PrimaryContext> {
  const account = await store.account.getRequired();
  if (account.loggedOut !== undefined) {
    throw new LinkingError('logged-out', 'this device was logged out');
  }
  if (!isPrimaryAccount(account)) {
    throw new LinkingError('not-primary', 'only the primary device can manage devices');
  }
  const identity = await store.protocol.identity.getIdentityKeyPair();
  if (account.link !== undefined) return { account, identity, link: account.link };
  const link = await initialLinkState(ctx, identity);
  const updated: LocalAccount = { ...account, link };
  await store.account.put(updated);
  return { account: updated, identity, link };
}

/** Replaces the stored link state, re-reading the account inside one transaction. */
export async function saveLinkState(store: DeviceStore, link: PrimaryLinkState): Promise<void> {
  await store.transaction(async (tx) => {
    const account = await tx.account.getRequired();
    await tx.account.put({ ...account, link });
  });
}

/**
 * Approves the companion of `code`: builds `ADVDeviceIdentity` with the next
 * key index, signs it with the account key (over the companion's key, so the
 * server cannot move the vouching to another key), wraps it with the HMAC
 * under the linking secret (which the server never saw), signs the new
 * key-index list with the companion added, and sends `ApproveLink`.
 *
 * The caller must have authenticated the user first. Server refusals
 * (expired or reused reference, device cap) surface as
 * `ClientError('server-error')`; nothing but the reserved index changes.
 */
export async function approveCompanion(
  ctx: ProtocolContext,
  store: DeviceStore,
  api: ServerApi,
  code: LinkCode,
): Promise<ApprovedCompanion> {
  const primary = await loadPrimary(ctx, store);
  // A link code carrying our own key would make the primary vouch for itself
  // as a companion: refuse before signing anything.
  if (sameBytes(code.identityKey.serialize(), primary.identity.publicKey.serialize())) {
    throw new LinkingError('self-link', 'the link code names this device');
  }
  const keyIndex = primary.link.nextKeyIndex;
  const reserved: PrimaryLinkState = { ...primary.link, nextKeyIndex: keyIndex + 1 };
  await saveLinkState(store, reserved);

  // The list vouches for the new index before the server assigns the device
  // id, so a sender that sees the new device finds its index valid.
  const list = await signKeyIndexList(ctx, primary.identity, reserved, [
    ...Object.values(reserved.companions),
    keyIndex,
  ]);
  const signedIdentity = await createSignedDeviceIdentity(ctx, {
    accountKeyPair: primary.identity,
    companionIdentityKey: code.identityKey,
    keyIndex,
    rawId: reserved.rawId,
    timestamp: list.listTimestamp,
  });
  const payload = await wrapWithHmac(ctx, code.linkingSecret, signedIdentity);
  const deviceId = await api.approveLink({
    ref: code.ref,
    companionIdentityKey: code.identityKey.serialize(),
    payload,
    signedKeyIndexList: list.signedKeyIndexList,
    keyIndex,
  });
  await saveLinkState(store, {
    ...reserved,
    ...list,
    companions: { ...reserved.companions, [deviceId]: keyIndex },
    approvedAt: { ...reserved.approvedAt, [deviceId]: ctx.clock.now() },
  });
  return { deviceId, keyIndex };
}
