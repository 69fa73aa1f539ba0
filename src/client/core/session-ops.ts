/**
 * The glue between the wire (prekey bundles, envelope types) and the protocol
 * session API. Each function is one step of session work for one address;
 * callers run them on that address's queue.
 */
import type { ProtocolAddress } from '../../protocol/address.js';
import type { ProtocolContext } from '../../protocol/context.js';
import { PublicKey } from '../../protocol/curve.js';
import { ProtocolError } from '../../protocol/errors.js';
import { processPreKeyBundle, type PreKeyBundle } from '../../protocol/session-builder.js';
import { SessionCipher } from '../../protocol/session-cipher.js';
import type { ProtocolStores } from '../../protocol/stores/protocol-stores.js';
import {
  EnvelopeType,
  type PreKeyBundle as WireBundle,
} from '../../gen/quintet/v1/transport_pb.js';
import type { DeviceStoreView } from './store/device-store.js';
import type { OutgoingEnvelopeInit, ServerApi } from './server-api.js';

/**
 * Converts a server bundle into the protocol's. Key parsing is the trust
 * boundary: a malformed key from the server is `ProtocolError('invalid-key')`.
 */
export function toProtocolBundle(bundle: WireBundle): PreKeyBundle {
  const signed = bundle.signedPreKey;
  if (signed === undefined) {
    throw new ProtocolError('invalid-message', 'bundle has no signed prekey');
  }
  const oneTime = bundle.preKey;
  return {
    registrationId: bundle.registrationId,
    deviceId: bundle.deviceId,
    preKeyId: oneTime?.id,
    preKey: oneTime === undefined ? undefined : PublicKey.deserialize(oneTime.publicKey),
    signedPreKeyId: signed.id,
    signedPreKey: PublicKey.deserialize(signed.publicKey),
    signedPreKeySignature: signed.signature,
    identityKey: PublicKey.deserialize(bundle.identityKey),
  };
}

/** Builds a session with `address` from a freshly fetched bundle unless one is open. */
export async function startSession(
  ctx: ProtocolContext,
  store: DeviceStoreView,
  api: ServerApi,
  address: ProtocolAddress,
): Promise<void> {
  const cipher = new SessionCipher(ctx, store.protocol, address);
  if (await cipher.hasOpenSession()) return;
  const bundles = await api.getPreKeyBundles(address.name, address.deviceId);
  const bundle = bundles.find((candidate) => candidate.deviceId === address.deviceId);
  if (bundle === undefined) {
    throw new ProtocolError('no-session', 'the server returned no bundle for this device');
  }
  await processPreKeyBundle(ctx, store.protocol, address, toProtocolBundle(bundle));
}

/** Encrypts padded content for one device and labels the envelope. */
export async function encryptForDevice(
  ctx: ProtocolContext,
  store: DeviceStoreView,
  address: ProtocolAddress,
  padded: Uint8Array,
): Promise<OutgoingEnvelopeInit> {
  const cipher = new SessionCipher(ctx, store.protocol, address);
  const message = await cipher.encrypt(padded);
  return {
    deviceId: address.deviceId,
    // The session's view of the peer's install; the server answers
    // `stale-devices` when the device has been reinstalled since.
    registrationId: await cipher.remoteRegistrationId(),
    type: message.type === 'prekey' ? EnvelopeType.PREKEY : EnvelopeType.SIGNAL,
    content: message.body,
  };
}

/** Decrypts one envelope body with the given (possibly staged) stores. */
export async function decryptEnvelope(
  ctx: ProtocolContext,
  stores: ProtocolStores,
  address: ProtocolAddress,
  type: EnvelopeType,
  body: Uint8Array,
): Promise<Uint8Array> {
  const cipher = new SessionCipher(ctx, stores, address);
  if (type === EnvelopeType.PREKEY) return cipher.decryptPreKeySignalMessage(body);
  if (type === EnvelopeType.SIGNAL) return cipher.decryptSignalMessage(body);
  throw new ProtocolError('invalid-message', 'envelope type is not a pairwise message');
}

/** Deletes the session with one device (removed device, or a retry request). */
export async function deleteSession(
  store: DeviceStoreView,
  address: ProtocolAddress,
): Promise<void> {
  await store.protocol.sessions.deleteSession(address);
}
