/**
 * Companion identities under Automatic Device Verification (ADV).
 *
 * The primary (device id 1, key index 0) vouches for a companion by signing
 * `ADVDeviceIdentity` bytes together with the companion's identity key; the
 * companion countersigns with its own key. A contact who trusts the account
 * key (one safety number per account) can then check any companion without
 * trusting the server. See docs/multi-device.md for the linking flow.
 *
 * | signature | signer   | bytes signed                                      |
 * |-----------|----------|---------------------------------------------------|
 * | account   | primary  | 06 00 ‖ details ‖ companion pub                   |
 * | device    | companion| 06 01 ‖ details ‖ companion pub ‖ account pub     |
 *
 * Public keys here are the raw 32 bytes. The two-byte prefixes separate the
 * signature domains, so no ADV signature can be replayed as another kind.
 */
import { bytesEqual, concatBytes } from '../bytes.js';
import type { ProtocolContext } from '../context.js';
import { PublicKey, sign, verify, type KeyPair } from '../curve.js';
import { ProtocolError } from '../errors.js';
import {
  ADV_HMAC_LENGTH,
  checkTimestamp,
  checkUint32,
  decodeDeviceIdentity,
  decodeSignedDeviceIdentity,
  decodeSignedDeviceIdentityHmac,
  encodeDeviceIdentity,
  encodeSignedDeviceIdentity,
  encodeSignedDeviceIdentityHmac,
  type AdvSignedDeviceIdentity,
} from './adv-messages.js';
import { AdvError } from './errors.js';

/** Domain prefix of the account signature over a companion identity. */
export const ACCOUNT_SIGNATURE_PREFIX = Uint8Array.of(0x06, 0x00);
/** Domain prefix of the companion's own device signature. */
export const DEVICE_SIGNATURE_PREFIX = Uint8Array.of(0x06, 0x01);
/** Length of the linking secret the companion puts in its QR code. */
export const LINKING_SECRET_LENGTH = 32;

/** What a verified companion identity states. */
export interface VerifiedDeviceIdentity {
  /** The companion's key index in the account's key-index list (≥ 1). */
  readonly keyIndex: number;
  /** Random 32-bit id of the account-key epoch the companion was linked in. */
  readonly rawId: number;
  /** When the primary linked it, in seconds since the Unix epoch. */
  readonly timestamp: number;
}

/** The companion's result of accepting a linking payload. */
export interface AcceptedLink extends VerifiedDeviceIdentity {
  /** The full `ADVSignedDeviceIdentity` (both signatures) to hand to contacts. */
  readonly signedIdentity: Uint8Array;
  /** The account (primary identity) key that vouched for this companion. */
  readonly accountKey: PublicKey;
}

/** Input of `createSignedDeviceIdentity` (primary side). */
export interface CreateSignedDeviceIdentityInput {
  /** The primary's identity key pair: the account key. */
  readonly accountKeyPair: KeyPair;
  /** The companion's identity key, as read from its QR code. */
  readonly companionIdentityKey: PublicKey;
  /** The index the primary assigns this companion (≥ 1; 0 is the primary's own). */
  readonly keyIndex: number;
  /** The random 32-bit id of the current account-key epoch. */
  readonly rawId: number;
  /** Seconds since the Unix epoch. */
  readonly timestamp: number;
}

function accountSignedBytes(details: Uint8Array, companion: PublicKey): Uint8Array {
  return concatBytes(ACCOUNT_SIGNATURE_PREFIX, details, companion.raw);
}

function deviceSignedBytes(
  details: Uint8Array,
  companion: PublicKey,
  account: PublicKey,
): Uint8Array {
  return concatBytes(DEVICE_SIGNATURE_PREFIX, details, companion.raw, account.raw);
}

/** A raw 32-byte key from the wire as a `PublicKey`, or `invalid-message`. */
function wireKey(raw: Uint8Array): PublicKey {
  try {
    return PublicKey.fromRaw(raw);
  } catch (cause) {
    // Small-order points are refused: with one, a signature can be forged.
    if (ProtocolError.is(cause, 'invalid-key')) {
      throw new AdvError('invalid-message', 'ADV account key is not a valid public key', { cause });
    }
    throw cause;
  }
}

/**
 * Primary side of linking: builds `ADVDeviceIdentity` and signs it together
 * with the companion's identity key (`06 00 ‖ details ‖ companion pub`).
 * Binding the companion key into the signature is what stops a server from
 * moving this vouching onto a key it controls. Returns
 * `ADVSignedDeviceIdentity` bytes without a device signature.
 */
export async function createSignedDeviceIdentity(
  ctx: ProtocolContext,
  input: CreateSignedDeviceIdentityInput,
): Promise<Uint8Array> {
  const keyIndex = checkUint32('keyIndex', input.keyIndex);
  // Key index 0 is the primary itself; a companion holding it would slip
  // past the key-index filter of every sender (validation step 3).
  if (keyIndex === 0) throw new AdvError('invalid-argument', 'key index 0 is the primary');
  const details = encodeDeviceIdentity({
    rawId: checkUint32('rawId', input.rawId),
    timestamp: checkTimestamp('timestamp', input.timestamp),
    keyIndex,
  });
  const accountSignature = await sign(
    ctx.crypto,
    input.accountKeyPair.privateKey,
    accountSignedBytes(details, input.companionIdentityKey),
    ctx.random,
  );
  return encodeSignedDeviceIdentity({
    details,
    accountSignatureKey: input.accountKeyPair.publicKey.raw,
    accountSignature,
    deviceSignature: undefined,
  });
}

/**
 * Primary side: wraps the signed identity in `ADVSignedDeviceIdentityHMAC`
 * with HMAC-SHA256(linkingSecret, signedIdentity). The secret reached the
 * primary only through the QR code, so the server relaying the payload
 * cannot forge or alter it.
 */
export async function wrapWithHmac(
  ctx: ProtocolContext,
  linkingSecret: Uint8Array,
  signedIdentity: Uint8Array,
): Promise<Uint8Array> {
  checkLinkingSecret(linkingSecret);
  const hmac = await ctx.crypto.hmacSha256(linkingSecret, signedIdentity);
  return encodeSignedDeviceIdentityHmac({ details: signedIdentity, hmac });
}

function checkLinkingSecret(linkingSecret: Uint8Array): void {
  if (!(linkingSecret instanceof Uint8Array) || linkingSecret.length !== LINKING_SECRET_LENGTH) {
    throw new AdvError('invalid-argument', `linking secret must be ${LINKING_SECRET_LENGTH} bytes`);
  }
}

/** Input of `acceptLinkPayload` (companion side). */
export interface AcceptLinkPayloadInput {
  /** The 32-byte secret this companion put in its QR code. */
  readonly linkingSecret: Uint8Array;
  /** This companion's identity key pair. */
  readonly companionIdentityKeyPair: KeyPair;
  /** The `ADVSignedDeviceIdentityHMAC` bytes relayed by the server. */
  readonly hmacBytes: Uint8Array;
}

/**
 * Companion side of linking (linking step 4):
 * 1. The HMAC must verify under the linking secret (constant-time compare),
 *    else `hmac-mismatch`: the payload did not come from whoever scanned
 *    this companion's QR code (e.g. the server forged or altered it).
 * 2. The account signature must verify over `06 00 ‖ details ‖ OWN key`,
 *    else `signature-mismatch`: the primary vouched for some other key.
 * 3. The companion adds its device signature
 *    (`06 01 ‖ details ‖ own pub ‖ account pub`), proving it holds the key
 *    the primary vouched for, and binding it to this one account.
 */
export async function acceptLinkPayload(
  ctx: ProtocolContext,
  input: AcceptLinkPayloadInput,
): Promise<AcceptedLink> {
  checkLinkingSecret(input.linkingSecret);
  const payload = decodeSignedDeviceIdentityHmac(input.hmacBytes);
  const expected = await ctx.crypto.hmacSha256(input.linkingSecret, payload.details);
  // bytesEqual runs in time independent of where the bytes differ, so the
  // relay cannot learn the HMAC byte by byte from timing.
  if (expected.length !== ADV_HMAC_LENGTH || !bytesEqual(expected, payload.hmac)) {
    throw new AdvError('hmac-mismatch', 'linking payload HMAC does not verify');
  }
  const signed = decodeSignedDeviceIdentity(payload.details);
  const accountKeyRaw = signed.accountSignatureKey;
  const accountSignature = signed.accountSignature;
  if (accountKeyRaw === undefined || accountSignature === undefined) {
    throw new AdvError('invalid-message', 'linking payload lacks the account signature');
  }
  const accountKey = wireKey(accountKeyRaw);
  const identity = decodeDeviceIdentity(signed.details);
  if (identity.keyIndex === 0) {
    throw new AdvError('invalid-message', 'a companion cannot hold key index 0');
  }
  const own = input.companionIdentityKeyPair.publicKey;
  if (
    !(await verify(
      ctx.crypto,
      accountKey,
      accountSignedBytes(signed.details, own),
      accountSignature,
    ))
  ) {
    throw new AdvError('signature-mismatch', 'account signature does not cover this device');
  }
  const deviceSignature = await sign(
    ctx.crypto,
    input.companionIdentityKeyPair.privateKey,
    deviceSignedBytes(signed.details, own, accountKey),
    ctx.random,
  );
  const signedIdentity = encodeSignedDeviceIdentity({
    details: signed.details,
    accountSignatureKey: accountKey.raw,
    accountSignature,
    deviceSignature,
  });
  return { signedIdentity, accountKey, ...identity };
}

/** What `verifyDeviceIdentity` checks a signed identity against. */
export interface VerifyDeviceIdentityOptions {
  /** The account key the caller already trusts (e.g. by safety number). */
  readonly accountKey: PublicKey;
  /** The companion identity key the server serves for this device. */
  readonly deviceIdentityKey: PublicKey;
}

/**
 * Anyone (a contact, or another own device) checks a companion's
 * `ADVSignedDeviceIdentity` before building a session with it (device-list
 * validation step 4):
 * - `accountSignatureKey` must equal the trusted account key, else
 *   `account-key-mismatch` (a companion vouched for by another account);
 * - the account signature must cover `deviceIdentityKey`, and the device
 *   signature must be made by it, else `signature-mismatch`. This stops key
 *   substitution: a valid identity of one companion served with another key.
 * Malformed bytes, a missing signature or key index 0 → `invalid-message`.
 */
export async function verifyDeviceIdentity(
  ctx: ProtocolContext,
  signedIdentityBytes: Uint8Array,
  options: VerifyDeviceIdentityOptions,
): Promise<VerifiedDeviceIdentity> {
  const signed: AdvSignedDeviceIdentity = decodeSignedDeviceIdentity(signedIdentityBytes);
  const { accountSignatureKey, accountSignature, deviceSignature } = signed;
  if (
    accountSignatureKey === undefined ||
    accountSignature === undefined ||
    deviceSignature === undefined
  ) {
    throw new AdvError('invalid-message', 'signed device identity lacks a key or signature');
  }
  if (!bytesEqual(accountSignatureKey, options.accountKey.raw)) {
    throw new AdvError('account-key-mismatch', 'device identity names another account key');
  }
  const identity = decodeDeviceIdentity(signed.details);
  if (identity.keyIndex === 0) {
    throw new AdvError('invalid-message', 'a companion cannot hold key index 0');
  }
  const device = options.deviceIdentityKey;
  const account = options.accountKey;
  const accountOk = await verify(
    ctx.crypto,
    account,
    accountSignedBytes(signed.details, device),
    accountSignature,
  );
  const deviceOk =
    accountOk &&
    (await verify(
      ctx.crypto,
      device,
      deviceSignedBytes(signed.details, device, account),
      deviceSignature,
    ));
  if (!deviceOk)
    throw new AdvError('signature-mismatch', 'device identity signature does not verify');
  return identity;
}
