/**
 * Signed key-index lists and the sender-side validation of a recipient's
 * device list: all five steps of docs/multi-device.md, which the popular
 * reverse-engineered WhatsApp clients skip (steps 2–4) and Quintet must not.
 *
 * The server is not trusted with the device set. It serves devices, keys and
 * the list; everything a sender encrypts to must trace back to a signature
 * by the account key the sender already trusts.
 */
import type { ProtocolContext } from '../context.js';
import { sign, verify, type KeyPair, type PublicKey } from '../curve.js';
import { bytesEqual, concatBytes } from '../bytes.js';
import {
  checkTimestamp,
  checkUint32,
  decodeKeyIndexList,
  decodeSignedKeyIndexList,
  encodeKeyIndexList,
  encodeSignedKeyIndexList,
  type AdvKeyIndexList,
} from './adv-messages.js';
import { verifyDeviceIdentity } from './device-identity.js';
import { AdvError } from './errors.js';

/** Domain prefix of the device-list signature. */
export const DEVICE_LIST_SIGNATURE_PREFIX = Uint8Array.of(0x06, 0x02);
/** A signed list older than this (35 days) is expired (validation step 5). */
export const DEVICE_LIST_MAX_AGE_MS = 35 * 24 * 60 * 60 * 1000;
/** The primary's device id in Quintet (multidevice.md calls it "device 0"). */
export const PRIMARY_DEVICE_ID = 1;

const MAX_DEVICE_ID = 0x7fffffff;

/** Input of `createSignedKeyIndexList` (primary side). */
export interface CreateSignedKeyIndexListInput {
  /** The primary's identity key pair: the account key. */
  readonly accountKeyPair: KeyPair;
  /** The random 32-bit id of the current account-key epoch. */
  readonly rawId: number;
  /** Seconds since the Unix epoch. Must grow with every new list (rollback guard). */
  readonly timestamp: number;
  /** The highest key index handed out so far. */
  readonly currentIndex: number;
  /** Key indexes of the companions still linked. */
  readonly validIndexes: readonly number[];
}

/**
 * Primary side: signs `06 02 ‖ ADVKeyIndexList` and returns
 * `ADVSignedKeyIndexList` bytes. `validIndexes` is written sorted and without
 * duplicates, so the same set always gives the same bytes.
 */
export async function createSignedKeyIndexList(
  ctx: ProtocolContext,
  input: CreateSignedKeyIndexListInput,
): Promise<Uint8Array> {
  const validIndexes = [
    ...new Set(input.validIndexes.map((i) => checkUint32('validIndexes[]', i))),
  ];
  validIndexes.sort((a, b) => a - b);
  const details = encodeKeyIndexList({
    rawId: checkUint32('rawId', input.rawId),
    timestamp: checkTimestamp('timestamp', input.timestamp),
    currentIndex: checkUint32('currentIndex', input.currentIndex),
    validIndexes,
  });
  const accountSignature = await sign(
    ctx.crypto,
    input.accountKeyPair.privateKey,
    concatBytes(DEVICE_LIST_SIGNATURE_PREFIX, details),
    ctx.random,
  );
  return encodeSignedKeyIndexList({
    details,
    accountSignature,
    accountSignatureKey: input.accountKeyPair.publicKey.raw,
  });
}

/**
 * Validation step 2 on its own: parses `ADVSignedKeyIndexList`, requires its
 * `accountSignatureKey` to equal the trusted account key
 * (`account-key-mismatch`) and the signature over `06 02 ‖ details` to
 * verify with it (`signature-mismatch`), then decodes the signed details.
 */
export async function verifySignedKeyIndexList(
  ctx: ProtocolContext,
  signedList: Uint8Array,
  trustedAccountKey: PublicKey,
): Promise<AdvKeyIndexList> {
  const signed = decodeSignedKeyIndexList(signedList);
  // A list naming another key is either from another account or from a
  // reinstalled primary the sender has not yet accepted; never use it.
  if (!bytesEqual(signed.accountSignatureKey, trustedAccountKey.raw)) {
    throw new AdvError('account-key-mismatch', 'device list is signed for another account key');
  }
  const message = concatBytes(DEVICE_LIST_SIGNATURE_PREFIX, signed.details);
  if (!(await verify(ctx.crypto, trustedAccountKey, message, signed.accountSignature))) {
    throw new AdvError('signature-mismatch', 'device list signature does not verify');
  }
  return decodeKeyIndexList(signed.details);
}

/** One device as the server serves it. */
export interface ServedDevice {
  /** The server's device id: 1 for the primary, ≥ 2 for companions. */
  readonly deviceId: number;
  /** The identity key the server serves for this device. */
  readonly identityKey: PublicKey;
  /** The companion's `ADVSignedDeviceIdentity` (ignored for the primary). */
  readonly signedIdentity?: Uint8Array | undefined;
}

/** Input of `validateDeviceList`. */
export interface ValidateDeviceListInput {
  /** The account key the sender already trusts for the primary. */
  readonly trustedAccountKey: PublicKey;
  /** The `ADVSignedKeyIndexList` bytes the server served. */
  readonly signedList: Uint8Array;
  /** The devices the server served. */
  readonly devices: readonly ServedDevice[];
  /** Timestamp (seconds) of the newest list already accepted, if any. */
  readonly lastSeenListTimestamp?: number | undefined;
}

/** Why a served device is not used (stable codes). */
export type DeviceRejectReason =
  /** Step 3: its key index was removed from the list (an unlinked device). */
  | 'index-not-valid'
  /** Step 4: an account or device signature does not verify for the served key. */
  | 'signature-mismatch'
  /** Step 4: its identity is vouched for by another account key. */
  | 'account-key-mismatch'
  /** Step 4: linked in another account-key epoch than the list's. */
  | 'raw-id-mismatch'
  /** Step 4: a companion served without a signed identity. */
  | 'missing-identity'
  /** Step 4: a signed identity that does not parse. */
  | 'invalid-identity'
  /** Step 5: the list is older than 35 days, so only the primary is used. */
  | 'list-expired'
  /** Not a device id Quintet hands out (not an integer in 1..2^31-1). */
  | 'invalid-device-id'
  /** The same device id served more than once: the server is inconsistent. */
  | 'duplicate-device'
  /** Two companions with one key index: one of them is a replayed identity. */
  | 'duplicate-key-index';

/** A served device that is not used, and why. */
export interface RejectedDevice {
  readonly deviceId: number;
  readonly reason: DeviceRejectReason;
}

/** The result of `validateDeviceList`. */
export interface DeviceListValidation {
  /** Device ids to encrypt to, in the order served. */
  readonly accepted: number[];
  /** Served devices not to encrypt to, each with a stable reason. */
  readonly rejected: RejectedDevice[];
  /** The signed list's timestamp (seconds): store it as the new rollback floor. */
  readonly listTimestamp: number;
  /** The signed list's account-key epoch id. */
  readonly rawId: number;
  /** True when the list is older than 35 days (step 5): only the primary is accepted. */
  readonly expired: boolean;
}

/**
 * The sender-side validation of a recipient's device list, all five steps
 * (step 1, fetching, is the caller's). Never throws on untrusted bytes except
 * with an `AdvError`:
 * - `account-key-changed`: the server serves a primary key other than the
 *   trusted one. The caller tells the user in plain words and keeps the old key;
 * - `account-key-mismatch` / `signature-mismatch` / `invalid-message`: the
 *   list itself fails step 2, so no device is trusted;
 * - `device-list-rollback`: the list is older than `lastSeenListTimestamp`;
 *   the caller keeps its previous view.
 * Per-device failures do not throw; they land in `rejected`.
 * The primary is accepted when served (its key was just checked); a server
 * can always withhold devices, so a missing primary is not an error here.
 */
export async function validateDeviceList(
  ctx: ProtocolContext,
  input: ValidateDeviceListInput,
): Promise<DeviceListValidation> {
  const trusted = input.trustedAccountKey;
  // Checked first so a reinstalled primary (new key, list signed by it) is
  // reported as what it is rather than as a bad list signature.
  for (const device of input.devices) {
    if (device.deviceId === PRIMARY_DEVICE_ID && !device.identityKey.equals(trusted)) {
      throw new AdvError('account-key-changed', 'the primary identity key has changed');
    }
  }

  // Step 2: the list is signed by the trusted account key.
  const list = await verifySignedKeyIndexList(ctx, input.signedList, trusted);
  if (input.lastSeenListTimestamp !== undefined) {
    const floor = checkTimestamp('lastSeenListTimestamp', input.lastSeenListTimestamp);
    // A server replaying an older (validly signed) list could resurrect an
    // unlinked device whose index that list still held.
    if (list.timestamp < floor) {
      throw new AdvError('device-list-rollback', 'device list is older than one already seen');
    }
  }

  // Step 5: an old list may miss removals made since; trust only the primary.
  const expired = ctx.clock.now() - list.timestamp * 1000 > DEVICE_LIST_MAX_AGE_MS;

  const counts = new Map<number, number>();
  for (const device of input.devices) {
    counts.set(device.deviceId, (counts.get(device.deviceId) ?? 0) + 1);
  }
  const accepted: number[] = [];
  const rejected: RejectedDevice[] = [];
  const companionIndex = new Map<number, number>();
  for (const device of input.devices) {
    const id = device.deviceId;
    const reason = await checkDevice(ctx, device, list, trusted, expired, counts.get(id) ?? 0);
    if (typeof reason === 'string') {
      rejected.push({ deviceId: id, reason });
    } else {
      accepted.push(id);
      if (reason !== null) companionIndex.set(id, reason);
    }
  }

  // One key index is one linked companion. Two served companions claiming
  // the same index means an identity was copied onto another device id.
  const perIndex = new Map<number, number>();
  for (const index of companionIndex.values()) perIndex.set(index, (perIndex.get(index) ?? 0) + 1);
  const finalAccepted: number[] = [];
  for (const id of accepted) {
    const index = companionIndex.get(id);
    if (index !== undefined && (perIndex.get(index) ?? 0) > 1) {
      rejected.push({ deviceId: id, reason: 'duplicate-key-index' });
    } else {
      finalAccepted.push(id);
    }
  }
  return {
    accepted: finalAccepted,
    rejected,
    listTimestamp: list.timestamp,
    rawId: list.rawId,
    expired,
  };
}

/**
 * Steps 3 and 4 for one device: a reject reason, `null` for the primary, or
 * the verified key index of an accepted companion.
 */
async function checkDevice(
  ctx: ProtocolContext,
  device: ServedDevice,
  list: AdvKeyIndexList,
  trusted: PublicKey,
  expired: boolean,
  servedCount: number,
): Promise<DeviceRejectReason | number | null> {
  const id = device.deviceId;
  if (!Number.isInteger(id) || id < 1 || id > MAX_DEVICE_ID) return 'invalid-device-id';
  if (servedCount > 1) return 'duplicate-device';
  // Step 3: the primary is always kept (its key was compared above).
  if (id === PRIMARY_DEVICE_ID) return null;
  if (expired) return 'list-expired';
  if (device.signedIdentity === undefined) return 'missing-identity';

  // Step 4: the identity must be vouched for by the trusted account key for
  // exactly the identity key the server serves, and countersigned by it.
  let keyIndex: number;
  let rawId: number;
  try {
    ({ keyIndex, rawId } = await verifyDeviceIdentity(ctx, device.signedIdentity, {
      accountKey: trusted,
      deviceIdentityKey: device.identityKey,
    }));
  } catch (cause) {
    if (AdvError.is(cause, 'invalid-message')) return 'invalid-identity';
    if (AdvError.is(cause, 'account-key-mismatch')) return 'account-key-mismatch';
    if (AdvError.is(cause, 'signature-mismatch')) return 'signature-mismatch';
    throw cause;
  }
  // An identity from an earlier account-key epoch: its index numbering is
  // not this list's, so the index check below would mean nothing.
  if (rawId !== list.rawId) return 'raw-id-mismatch';

  // Step 3: keep listed indexes, and indexes newer than the list (linked
  // after it was signed); drop removed ones, i.e. unlinked devices the
  // server still serves.
  if (!list.validIndexes.includes(keyIndex) && keyIndex <= list.currentIndex) {
    return 'index-not-valid';
  }
  return keyIndex;
}
