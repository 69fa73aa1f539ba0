/**
 * Creating this device's account: identity key, registration id, signed
 * prekey, one-time prekeys and (unless opted out) KEM prekeys, registered
 * with the server as the primary device (id 1). Also the prekey top-up the
 * server asks for when it runs low.
 */
import type { ProtocolContext } from '../../protocol/context.js';
import { generateSigningKeyPair, sign, type KeyPair } from '../../protocol/curve.js';
import {
  generatePreKeys,
  generateRegistrationId,
  generateSignedPreKey,
  MAX_PREKEY_ID,
} from '../../protocol/prekeys.js';
import type { PreKeyRecord } from '../../protocol/prekey-records.js';
import { authenticationPayload } from '../../wire/auth.js';
import { validateAccountName } from '../../wire/account-name.js';
import { ClientError } from './errors.js';
import {
  clearKemPreKeyCounters,
  initialKemPreKeys,
  initialKemUpload,
  markLastResortPublished,
  storeInitialKemPreKeys,
} from './kem-prekeys.js';
import { initialLinkState } from './linking/link-state.js';
import type { PreKeyInit, ServerApi } from './server-api.js';
import type { DeviceStore } from './store/device-store.js';
import type { LocalAccount } from './store/records.js';

/** One-time prekeys generated at registration and kept on the server. */
export const PRE_KEY_BATCH = 100;

/** The primary device's id. */
const PRIMARY_DEVICE_ID = 1;
const FIRST_SIGNED_PRE_KEY_ID = 1;

/** What `registerAccount` needs besides the stores. */
export interface RegistrationOptions {
  readonly account: string;
  readonly serverUrl: string;
  readonly deviceName?: string;
  readonly registrationToken?: string;
  /**
   * Publish KEM prekeys with the registration (default true), so the
   * account's first bundle already gives peers v4 (PQXDH + SPQR) sessions.
   * False: a v3-only registration, as before KEM prekeys existed.
   */
  readonly postQuantum?: boolean;
}

function wirePreKeys(records: readonly PreKeyRecord[]): PreKeyInit[] {
  return records.map((record) => ({
    id: record.id,
    publicKey: record.keyPair.publicKey.serialize(),
  }));
}

/** Signs the server's challenge for `account`/`deviceId` with the identity key. */
export async function signChallenge(
  ctx: ProtocolContext,
  identity: KeyPair,
  nonce: Uint8Array,
  account: string,
  deviceId: number,
): Promise<Uint8Array> {
  return sign(
    ctx.crypto,
    identity.privateKey,
    authenticationPayload(nonce, account, deviceId),
    ctx.random,
  );
}

/**
 * Registers a new account with this device as its primary. Keys are
 * committed locally before the server call and the account record after it,
 * so a failure (name taken, server down) leaves a profile that is still
 * "not registered" and can simply try again.
 *
 * The request also publishes the account's first signed device list (a
 * random `rawId`, `currentIndex` 0, no companions), so senders can run the
 * device-list validation from the very first message; the primary keeps
 * that link state to vouch for companions later.
 */
export async function registerAccount(
  ctx: ProtocolContext,
  store: DeviceStore,
  api: ServerApi,
  options: RegistrationOptions,
): Promise<LocalAccount> {
  const account = validateAccountName(options.account);
  if ((await store.account.get()) !== undefined) {
    throw new ClientError('already-registered', 'this profile already has an account');
  }
  const identity = await generateSigningKeyPair(ctx.crypto, ctx.random);
  const registrationId = generateRegistrationId(ctx.random);
  const signedPreKey = await generateSignedPreKey(ctx, identity, FIRST_SIGNED_PRE_KEY_ID);
  const preKeys = await generatePreKeys(ctx, 1, PRE_KEY_BATCH);
  const kem = options.postQuantum === false ? undefined : await initialKemPreKeys(ctx, identity);
  const link = await initialLinkState(ctx, identity);
  await store.transaction(async (tx) => {
    await tx.protocol.identity.setLocalIdentity(identity, registrationId);
    await tx.protocol.signedPreKeys.storeSignedPreKey(signedPreKey.id, signedPreKey);
    for (const record of preKeys) await tx.protocol.preKeys.storePreKey(record.id, record);
    if (kem !== undefined) await storeInitialKemPreKeys(tx, kem, false);
    else await clearKemPreKeyCounters(tx);
  });
  const nonce = await api.challenge();
  const deviceId = await api.register({
    account,
    identityKey: identity.publicKey.serialize(),
    registrationId,
    nonce,
    signature: await signChallenge(ctx, identity, nonce, account, PRIMARY_DEVICE_ID),
    registrationToken: options.registrationToken ?? '',
    signedPreKey: {
      id: signedPreKey.id,
      publicKey: signedPreKey.keyPair.publicKey.serialize(),
      signature: signedPreKey.signature,
    },
    preKeys: wirePreKeys(preKeys),
    deviceName: options.deviceName ?? '',
    signedKeyIndexList: link.signedKeyIndexList,
    ...(kem === undefined ? {} : initialKemUpload(kem)),
  });
  const local: LocalAccount = {
    account,
    deviceId,
    registrationId,
    serverUrl: options.serverUrl,
    createdAt: ctx.clock.now(),
    nextPreKeyId: PRE_KEY_BATCH + 1,
    signedPreKeyId: signedPreKey.id,
    link,
  };
  // The account record and the "last-resort KEM prekey published" mark
  // together: the server accepted both with the registration.
  await store.transaction(async (tx) => {
    await tx.account.put(local);
    if (kem !== undefined) await markLastResortPublished(tx);
  });
  return local;
}

/** Authenticates the connection as this device; returns the server's prekey count. */
export async function authenticateDevice(
  ctx: ProtocolContext,
  store: DeviceStore,
  api: ServerApi,
): Promise<{
  account: LocalAccount;
  preKeysRemaining: number;
  preKeyThreshold: number;
  kemPreKeysRemaining: number;
}> {
  const account = await store.account.getRequired();
  const identity = await store.protocol.identity.getIdentityKeyPair();
  const nonce = await api.challenge();
  const signature = await signChallenge(ctx, identity, nonce, account.account, account.deviceId);
  const response = await api.authenticate(account.account, account.deviceId, nonce, signature);
  return {
    account,
    preKeysRemaining: response.preKeysRemaining,
    preKeyThreshold: response.preKeyThreshold,
    kemPreKeysRemaining: response.kemPreKeysRemaining,
  };
}

/**
 * Refills the server's one-time prekeys to the full `target`, whatever the
 * count was when the refill was asked for. The count is read from the
 * server now rather than taken from the login answer or a `PreKeysLow`
 * push: bundles fetched in between would otherwise leave the supply short
 * of the target (a partial refill), and a second refill for the same push
 * would overshoot the server's per-device cap. New ids continue from the
 * account record, so an id is never reused (a reused id would make a
 * peer's prekey message open with the wrong key). Callers run refills one
 * at a time. Returns how many were uploaded.
 */
export async function refillPreKeys(
  ctx: ProtocolContext,
  store: DeviceStore,
  api: ServerApi,
  target: number = PRE_KEY_BATCH,
): Promise<number> {
  const { remaining } = await api.preKeyStatus();
  const count = target - remaining;
  if (count <= 0) return 0;
  const records = await store.transaction(async (tx) => {
    const account = await tx.account.getRequired();
    const made = await generatePreKeys(ctx, account.nextPreKeyId, count);
    for (const record of made) await tx.protocol.preKeys.storePreKey(record.id, record);
    const next = ((account.nextPreKeyId - 1 + count) % MAX_PREKEY_ID) + 1;
    await tx.account.put({ ...account, nextPreKeyId: next });
    return made;
  });
  await api.uploadPreKeys(wirePreKeys(records));
  return records.length;
}
