/**
 * Companion side of linking (docs/multi-device.md, "Linking a companion"):
 *
 * 1. make the identity key and a 32-byte linking secret; open an anonymous
 *    linking session and show the link code (QR) for the server's reference,
 *    asking for a fresh reference whenever one expires;
 * 2. wait for `LinkApproved`, relayed by the server from the primary;
 * 3. check the HMAC under the linking secret and the account signature over
 *    this device's own key (`acceptLinkPayload`), add the device signature;
 * 4. prove the identity key to the server, upload prekeys (`CompleteLink`),
 *    KEM prekeys included unless opted out, so the sessions the account's
 *    other devices make with this one at link time are v4.
 *
 * Nothing is written to the device store until the server confirmed the
 * link: a refused payload (hmac-mismatch, signature-mismatch) leaves no
 * profile behind. `storeLinkedDevice` then commits everything in one
 * transaction.
 */
import {
  acceptLinkPayload,
  encodeLinkCode,
  newLinkingSecret,
} from '../../../protocol/adv/index.js';
import { PRIMARY_DEVICE_ID } from '../../../protocol/adv/index.js';
import type { ProtocolContext } from '../../../protocol/context.js';
import { generateSigningKeyPair, type KeyPair } from '../../../protocol/curve.js';
import type { PreKeyRecord, SignedPreKeyRecord } from '../../../protocol/prekey-records.js';
import {
  generatePreKeys,
  generateRegistrationId,
  generateSignedPreKey,
} from '../../../protocol/prekeys.js';
import type { LinkApproved, Push } from '../../../gen/quintet/v1/transport_pb.js';
import { validateAccountName } from '../../../wire/account-name.js';
import { PRE_KEY_BATCH, signChallenge } from '../account-setup.js';
import {
  initialKemPreKeys,
  initialKemUpload,
  storeInitialKemPreKeys,
  type InitialKemPreKeys,
} from '../kem-prekeys.js';
import { ClientError } from '../errors.js';
import { platformScheduler, type Scheduler } from '../scheduler.js';
import { ServerApi } from '../server-api.js';
import type { DeviceStore } from '../store/device-store.js';
import type { LocalAccount } from '../store/records.js';
import type { Transport } from '../transport.js';
import { LinkingError } from './errors.js';

/** How long a reference lives (the server says 60 s). */
const REF_LIFETIME_MS = 60_000;
/** Shorter lifetimes than this are taken as clock skew, not as the server's TTL. */
const MIN_REF_LIFETIME_MS = 1_000;
const FIRST_SIGNED_PRE_KEY_ID = 1;

/** One link code to show (QR code plus text); replaced when its reference expires. */
export interface LinkCodeOffer {
  /** `quintet://link#…`. Contains the linking secret: show it, never log it. */
  readonly text: string;
  /** When this code stops working, ms since the epoch (local clock). */
  readonly expiresAt: number;
}

/** Options of `linkCompanion`. */
export interface LinkCompanionOptions {
  /** The server URL recorded in the new profile. */
  readonly serverUrl: string;
  /** The name the device list shows for this device. */
  readonly deviceName: string;
  /** Platform tag in the link code (`cli`, `web`). */
  readonly platform: string;
  /** Give up after this many ms without an approval. */
  readonly timeoutMs: number;
  /** Called with every new link code (the first and each refresh). */
  readonly onCode: (offer: LinkCodeOffer) => void | Promise<void>;
  /**
   * The timer of the waits for an approval between link-code refreshes
   * (default: the platform timer); a test with its own clock passes one
   * driven by that clock, so it need not sleep.
   */
  readonly schedule?: Scheduler;
  /**
   * Publish KEM prekeys with the link completion (default true), so this
   * device's first bundle already gives v4 (PQXDH + SPQR) sessions.
   */
  readonly postQuantum?: boolean;
}

/** Everything a linked companion stores; private keys stay in memory until stored. */
export interface LinkedDevice {
  readonly account: LocalAccount;
  readonly identity: KeyPair;
  readonly signedPreKey: SignedPreKeyRecord;
  readonly preKeys: readonly PreKeyRecord[];
  /** The KEM prekeys the server accepted with the link; undefined for a v3-only companion. */
  readonly kemPreKeys: InitialKemPreKeys | undefined;
}

/**
 * A sleep on `schedule` whose timer is cancelled on abort, so a finished
 * link does not keep the process alive.
 */
function abortableSleep(schedule: Scheduler): (ms: number, signal: AbortSignal) => Promise<void> {
  return (ms, signal) =>
    new Promise((resolve) => {
      const cancel = schedule(ms, resolve);
      signal.addEventListener(
        'abort',
        () => {
          cancel();
          resolve();
        },
        { once: true },
      );
    });
}

/**
 * Runs the companion side of linking over an unauthenticated `transport`
 * and returns the linked device (not yet stored). Throws
 * `LinkingError('link-timeout')` when no approval came in time, `AdvError`
 * (`hmac-mismatch`, `signature-mismatch`, `invalid-message`) for a payload
 * that does not verify, and `ClientError('server-error')` for refusals.
 */
export async function linkCompanion(
  ctx: ProtocolContext,
  transport: Transport,
  options: LinkCompanionOptions,
): Promise<LinkedDevice> {
  const api = new ServerApi(transport);
  const sleep = abortableSleep(options.schedule ?? platformScheduler);
  const identity = await generateSigningKeyPair(ctx.crypto, ctx.random);
  const linkingSecret = newLinkingSecret(ctx);
  const approved = await waitForApproval(ctx, api, transport, sleep, options, (ref) =>
    encodeLinkCode({
      ref,
      identityKey: identity.publicKey,
      linkingSecret,
      platform: options.platform,
    }),
  );
  // Linking step 4: HMAC first (was it the holder of our QR code?), then the
  // account signature over OUR key, then our device signature.
  const accepted = await acceptLinkPayload(ctx, {
    linkingSecret,
    companionIdentityKeyPair: identity,
    hmacBytes: approved.payload,
  });
  checkApproval(approved, accepted.keyIndex);
  const registrationId = generateRegistrationId(ctx.random);
  const signedPreKey = await generateSignedPreKey(ctx, identity, FIRST_SIGNED_PRE_KEY_ID);
  const preKeys = await generatePreKeys(ctx, 1, PRE_KEY_BATCH);
  const kem = options.postQuantum === false ? undefined : await initialKemPreKeys(ctx, identity);
  const nonce = await api.challenge();
  const completed = await api.completeLink({
    linkToken: approved.linkToken,
    identityKey: identity.publicKey.serialize(),
    registrationId,
    signedDeviceIdentity: accepted.signedIdentity,
    nonce,
    signature: await signChallenge(ctx, identity, nonce, approved.account, approved.deviceId),
    signedPreKey: {
      id: signedPreKey.id,
      publicKey: signedPreKey.keyPair.publicKey.serialize(),
      signature: signedPreKey.signature,
    },
    preKeys: preKeys.map((record) => ({
      id: record.id,
      publicKey: record.keyPair.publicKey.serialize(),
    })),
    deviceName: options.deviceName,
    ...(kem === undefined ? {} : initialKemUpload(kem)),
  });
  if (completed.account !== approved.account || completed.deviceId !== approved.deviceId) {
    throw new LinkingError('link-mismatch', 'the server completed a different link');
  }
  return {
    account: {
      account: approved.account,
      deviceId: approved.deviceId,
      registrationId,
      serverUrl: options.serverUrl,
      createdAt: ctx.clock.now(),
      nextPreKeyId: PRE_KEY_BATCH + 1,
      signedPreKeyId: signedPreKey.id,
      keyIndex: accepted.keyIndex,
      signedDeviceIdentity: accepted.signedIdentity,
    },
    identity,
    signedPreKey,
    preKeys,
    kemPreKeys: kem,
  };
}

/**
 * The server's framing of the approval must agree with what the primary
 * signed: a companion id that could be the primary's, or a key index other
 * than the signed one, means the relay tampered with the link.
 */
function checkApproval(approved: LinkApproved, signedKeyIndex: number): void {
  try {
    validateAccountName(approved.account);
  } catch (cause) {
    throw new LinkingError('link-mismatch', 'the approval names an invalid account', { cause });
  }
  if (approved.deviceId <= PRIMARY_DEVICE_ID) {
    throw new LinkingError('link-mismatch', 'the approval gives this device the primary id');
  }
  if (approved.keyIndex !== signedKeyIndex) {
    throw new LinkingError('link-mismatch', 'the approval key index differs from the signed one');
  }
}

/**
 * Shows link codes until a `LinkApproved` push arrives. One `next()` on the
 * push stream stays pending across reference refreshes, so no push is lost
 * between two waits.
 */
async function waitForApproval(
  ctx: ProtocolContext,
  api: ServerApi,
  transport: Transport,
  sleep: (ms: number, signal: AbortSignal) => Promise<void>,
  options: LinkCompanionOptions,
  codeFor: (ref: string) => string,
): Promise<LinkApproved> {
  const deadline = ctx.clock.now() + options.timeoutMs;
  const pushes = transport.pushes[Symbol.asyncIterator]();
  let pending: Promise<IteratorResult<Push>> = pushes.next();
  for (;;) {
    const now = ctx.clock.now();
    if (now >= deadline) {
      throw new LinkingError('link-timeout', 'no device approved this link in time');
    }
    const opened = await api.openLink();
    // `expires_at` is on the server's clock. A value that makes no sense on
    // ours (skew) falls back to the documented 60 s rather than spinning.
    const told = Number(opened.expiresAt) - now;
    const lifetime =
      told >= MIN_REF_LIFETIME_MS && told <= REF_LIFETIME_MS ? told : REF_LIFETIME_MS;
    const expiresAt = Math.min(now + lifetime, deadline);
    await options.onCode({ text: codeFor(opened.ref), expiresAt });
    for (;;) {
      const wait = expiresAt - ctx.clock.now();
      if (wait <= 0) break;
      const timer = new AbortController();
      const tick = sleep(wait, timer.signal).then(() => undefined);
      const result = await Promise.race([pending, tick]);
      timer.abort();
      if (result === undefined) continue;
      if (result.done === true) {
        throw new ClientError('transport-closed', 'the server closed the linking session');
      }
      pending = pushes.next();
      if (result.value.kind.case === 'linkApproved') return result.value.kind.value;
      // Any other push on an anonymous connection is irrelevant to linking.
    }
  }
}

/**
 * Commits a linked device to a fresh profile store in one transaction:
 * identity, prekeys and the account record together, so a crash leaves
 * either a complete companion profile or none.
 */
export async function storeLinkedDevice(store: DeviceStore, linked: LinkedDevice): Promise<void> {
  if ((await store.account.get()) !== undefined) {
    throw new ClientError('already-registered', 'this profile already has an account');
  }
  await store.transaction(async (tx) => {
    await tx.protocol.identity.setLocalIdentity(linked.identity, linked.account.registrationId);
    await tx.protocol.signedPreKeys.storeSignedPreKey(linked.signedPreKey.id, linked.signedPreKey);
    for (const record of linked.preKeys) await tx.protocol.preKeys.storePreKey(record.id, record);
    if (linked.kemPreKeys !== undefined) await storeInitialKemPreKeys(tx, linked.kemPreKeys, true);
    await tx.account.put(linked.account);
  });
}
