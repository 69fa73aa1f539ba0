/**
 * The glue between the wire (prekey bundles, envelope types) and the protocol
 * session API. `fetchBundles` is the network step and runs before any queue
 * is entered; every other function is one step of session work for one
 * address, which callers run on that address's queue — never with a
 * network round trip inside (a slow server would stall every decryption
 * from that device behind it).
 */
import { addressKey, protocolAddress, type ProtocolAddress } from '../../protocol/address.js';
import type { ProtocolContext } from '../../protocol/context.js';
import { PublicKey } from '../../protocol/curve.js';
import { ProtocolError } from '../../protocol/errors.js';
import { KemPublicKey } from '../../protocol/pq/kem.js';
import { holdsVersion4, type PreKeyBundle } from '../../protocol/session-builder.js';
import { SessionCipher } from '../../protocol/session-cipher.js';
import type { ProtocolStores } from '../../protocol/stores/protocol-stores.js';
import {
  EnvelopeType,
  type PreKeyBundle as WireBundle,
} from '../../gen/quintet/v1/transport_pb.js';
import type { KeyedQueue } from './keyed-queue.js';
import type { DeviceStoreView } from './store/device-store.js';
import type { OutgoingEnvelopeInit, ServerApi } from './server-api.js';

/**
 * Converts a server bundle into the protocol's. Key parsing is the trust
 * boundary: a malformed key from the server is `ProtocolError('invalid-key')`.
 * With `postQuantum`, a served KEM prekey becomes the bundle's kyber fields,
 * so the session built from it is v4 (its signature is checked there,
 * against the identity key); without, or when the bundle has none, the
 * session is v3, exactly as before KEM prekeys existed.
 */
export function toProtocolBundle(bundle: WireBundle, postQuantum = false): PreKeyBundle {
  const signed = bundle.signedPreKey;
  if (signed === undefined) {
    throw new ProtocolError('invalid-message', 'bundle has no signed prekey');
  }
  const oneTime = bundle.preKey;
  const kem = bundle.kemPreKey;
  return {
    registrationId: bundle.registrationId,
    deviceId: bundle.deviceId,
    preKeyId: oneTime?.id,
    preKey: oneTime === undefined ? undefined : PublicKey.deserialize(oneTime.publicKey),
    signedPreKeyId: signed.id,
    signedPreKey: PublicKey.deserialize(signed.publicKey),
    signedPreKeySignature: signed.signature,
    identityKey: PublicKey.deserialize(bundle.identityKey),
    ...(postQuantum && kem !== undefined
      ? {
          kyberPreKeyId: kem.id,
          kyberPreKey: KemPublicKey.deserialize(kem.publicKey),
          kyberPreKeySignature: kem.signature,
        }
      : {}),
  };
}

/**
 * Every session operation of the client core runs on its per-address queue
 * (see keyed-queue.ts), so the cipher takes no second lock of its own.
 */
const CALLER_SERIALIZES = { serialized: 'caller' } as const;

/** What session work needs: environment, store, server and the per-address queue. */
export interface SessionEnv {
  readonly ctx: ProtocolContext;
  readonly store: DeviceStoreView;
  readonly api: ServerApi;
  readonly queue: KeyedQueue;
  /** Use served KEM prekeys, so new sessions are v4 (the client's `postQuantum`). */
  readonly postQuantum?: boolean | undefined;
}

/** What encrypting for one device gave. */
export type DeviceEncryption =
  | { readonly kind: 'envelope'; readonly envelope: OutgoingEnvelopeInit }
  | {
      readonly kind: 'error';
      readonly error: ProtocolError;
      /** The failure came from a fetched bundle (bad, missing or untrusted), not a session. */
      readonly fromBundle: boolean;
    };

/**
 * Encrypts `padded` for each device of `account`, each on its address
 * queue. Devices without an open session are collected in a first pass;
 * their bundles are then fetched with no queue held (a slow or stalled
 * bundle fetch holds up no decryption and no send to any device), and
 * they are encrypted in a second pass from those bundles. A warm device
 * costs one session load; a cold send costs one bundle round trip, for the
 * whole account when every device is new. `prefetched`: bundles already
 * fetched (alongside the device list, for a peer with no session at all),
 * used before fetching any. Non-protocol failures (the store, the network)
 * reject.
 */
export async function encryptForDevices(
  env: SessionEnv,
  account: string,
  deviceIds: readonly number[],
  padded: Uint8Array,
  prefetched?: ReadonlyMap<number, PreKeyBundle | ProtocolError>,
): Promise<Map<number, DeviceEncryption>> {
  const attempt = async (deviceId: number, bundle?: PreKeyBundle): Promise<DeviceEncryption> => {
    const address = protocolAddress(account, deviceId);
    try {
      const envelope = await env.queue.run(addressKey(address), () =>
        encryptForDevice(env.ctx, env.store, address, padded, bundle),
      );
      return { kind: 'envelope', envelope };
    } catch (error) {
      if (!ProtocolError.is(error)) throw error;
      return { kind: 'error', error, fromBundle: bundle !== undefined };
    }
  };
  const results = new Map<number, DeviceEncryption>();
  const first = await Promise.all(deviceIds.map((deviceId) => attempt(deviceId)));
  const lacking: number[] = [];
  deviceIds.forEach((deviceId, i) => {
    const result = first[i];
    if (result === undefined) return;
    if (result.kind === 'error' && result.error.code === 'no-session') lacking.push(deviceId);
    else results.set(deviceId, result);
  });
  if (lacking.length === 0) return results;
  // Bundles fetched alongside the device list (a cold peer) are used first.
  const unfetched = lacking.filter((deviceId) => prefetched?.has(deviceId) !== true);
  const bundles =
    unfetched.length === 0
      ? new Map<number, PreKeyBundle | ProtocolError>()
      : await fetchBundles(
          env.api,
          account,
          unfetched,
          unfetched.length === deviceIds.length,
          env.postQuantum === true,
        );
  for (const [deviceId, bundle] of prefetched ?? []) {
    if (!bundles.has(deviceId)) bundles.set(deviceId, bundle);
  }
  const second = await Promise.all(
    lacking.map((deviceId): Promise<DeviceEncryption> => {
      const bundle = bundles.get(deviceId);
      if (bundle instanceof ProtocolError) {
        return Promise.resolve({ kind: 'error', error: bundle, fromBundle: true });
      }
      if (bundle === undefined) {
        const error = new ProtocolError(
          'no-session',
          'the server returned no bundle for this device',
        );
        return Promise.resolve({ kind: 'error', error, fromBundle: true });
      }
      return attempt(deviceId, bundle);
    }),
  );
  lacking.forEach((deviceId, i) => {
    const result = second[i];
    if (result !== undefined) results.set(deviceId, result);
  });
  return results;
}

/**
 * Fetches the bundles of `deviceIds` of `account` (`'all'`: every device
 * the server lists) (network; never called on an address queue). One request for the whole account when `wholeAccount`
 * (every device needs one: a cold send), else one per device, concurrently.
 * `postQuantum`: see `toProtocolBundle`.
 * A bundle whose keys do not parse is that device's `ProtocolError`.
 */
export async function fetchBundles(
  api: ServerApi,
  account: string,
  deviceIds: readonly number[] | 'all',
  wholeAccount: boolean,
  postQuantum = false,
): Promise<Map<number, PreKeyBundle | ProtocolError>> {
  const wanted = deviceIds === 'all' ? undefined : new Set(deviceIds);
  const served =
    deviceIds === 'all' || (wholeAccount && deviceIds.length > 1)
      ? await api.getPreKeyBundles(account, 0)
      : (
          await Promise.all(deviceIds.map((deviceId) => api.getPreKeyBundles(account, deviceId)))
        ).flat();
  const bundles = new Map<number, PreKeyBundle | ProtocolError>();
  for (const bundle of served) {
    // Only the devices asked for: a bundle the server adds uninvited is ignored.
    if (wanted?.has(bundle.deviceId) === false || bundles.has(bundle.deviceId)) continue;
    try {
      bundles.set(bundle.deviceId, toProtocolBundle(bundle, postQuantum));
    } catch (error) {
      if (!ProtocolError.is(error)) throw error;
      bundles.set(bundle.deviceId, error);
    }
  }
  return bundles;
}

/**
 * Encrypts padded content for one device and labels the envelope; with
 * `bundle`, a device without an open session gets one from it first. One
 * load and one store of the session record. Runs on the address's queue.
 */
export async function encryptForDevice(
  ctx: ProtocolContext,
  store: DeviceStoreView,
  address: ProtocolAddress,
  padded: Uint8Array,
  bundle?: PreKeyBundle,
): Promise<OutgoingEnvelopeInit> {
  const cipher = new SessionCipher(ctx, store.protocol, address, CALLER_SERIALIZES);
  const message = await cipher.encrypt(padded, bundle);
  return {
    deviceId: address.deviceId,
    // The session's view of the peer's install; the server answers
    // `stale-devices` when the device has been reinstalled since.
    registrationId: message.remoteRegistrationId,
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
  const cipher = new SessionCipher(ctx, stores, address, CALLER_SERIALIZES);
  if (type === EnvelopeType.PREKEY) return cipher.decryptPreKeySignalMessage(body);
  if (type === EnvelopeType.SIGNAL) return cipher.decryptSignalMessage(body);
  throw new ProtocolError('invalid-message', 'envelope type is not a pairwise message');
}

/**
 * Makes the next send to one device build a fresh session from a new
 * bundle (a retry request, a reinstalled device). A record that holds a
 * version-4 state is archived rather than deleted: it is what later refuses
 * a bundle stripped of its KEM prekey ('downgrade-refused'), so deleting it
 * would let a server turn a post-quantum peer classical by provoking a
 * rebuild. Records without one are deleted as before.
 */
export async function resetStoredSession(
  store: DeviceStoreView,
  address: ProtocolAddress,
): Promise<void> {
  const record = await store.protocol.sessions.loadSession(address);
  if (record === undefined || !holdsVersion4(record)) {
    await store.protocol.sessions.deleteSession(address);
    return;
  }
  record.archiveCurrentState();
  await store.protocol.sessions.storeSession(address, record);
}
