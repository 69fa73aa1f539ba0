/**
 * The protocol stores (src/protocol/stores) on top of a `KeyValueView`, so
 * sessions, prekeys and identities live in the same backend — and the same
 * transaction — as messages and processed marks. Records are kept in the
 * protocol's own serialized formats; every load is a fresh copy, which is
 * what lets a failed decryption leave the store untouched.
 */
import {
  addressKey,
  deviceId,
  type DeviceId,
  type ProtocolAddress,
} from '../../../protocol/address.js';
import { PrivateKey, PublicKey, type KeyPair } from '../../../protocol/curve.js';
import { PreKeyRecord, SignedPreKeyRecord } from '../../../protocol/prekey-records.js';
import { SessionRecord } from '../../../protocol/session-record.js';
import type {
  IdentityDirection,
  IdentityKeyStore,
  KyberPreKeyStore,
  PreKeyStore,
  ProtocolStores,
  SessionStore,
  SignedPreKeyStore,
} from '../../../protocol/stores/protocol-stores.js';
import { sameBytes } from '../bytes.js';
import { ClientError } from '../errors.js';
import type { KeyValueView } from './kv.js';
import { kyberPreKeyStore } from './kyber-prekey-store.js';
import { verifiedDeviceStore } from './verified-devices.js';

/** Table names; part of the persisted format. */
export const PROTOCOL_TABLES = {
  localIdentity: 'local-identity',
  identities: 'identities',
  preKeys: 'pre-keys',
  signedPreKeys: 'signed-pre-keys',
  sessions: 'sessions',
} as const;

const KEY_PAIR = 'key-pair';
const REGISTRATION_ID = 'registration-id';
const PUBLIC_KEY_LENGTH = 33;
/** The primary's device id: its identity key is the account key. */
const PRIMARY_DEVICE_ID = 1;

/** The identity store, plus the one-time setter used at account creation. */
export interface LocalIdentityStore extends IdentityKeyStore {
  /** Stores this device's identity key pair and registration id. */
  setLocalIdentity(keyPair: KeyPair, registrationId: number): Promise<void>;
}

/** Protocol stores whose identity store can be initialised. */
export interface DeviceProtocolStores extends ProtocolStores {
  readonly identity: LocalIdentityStore;
  readonly kyberPreKeys: KyberPreKeyStore;
}

function idKey(id: number): string {
  // Fixed width so listing sorts numerically.
  return id.toString().padStart(10, '0');
}

function notRegistered(): ClientError {
  return new ClientError('not-registered', 'this profile has no identity key yet');
}

/**
 * Identity trust follows Automatic Device Verification:
 * - an account with a verified device view (src/client/core/devices): device 1
 *   must present the pinned account key and a companion exactly the key its
 *   ADV-verified identity vouched for; an unverified companion is never
 *   trusted, so a device a malicious server adds gets no session;
 * - without a view (nothing fetched yet): trust on first use for the primary
 *   only, as the protocol's in-memory store does; companions never get TOFU.
 */
function identityStore(view: KeyValueView): LocalIdentityStore {
  return {
    async setLocalIdentity(keyPair, registrationId) {
      const bytes = new Uint8Array(PUBLIC_KEY_LENGTH * 2);
      bytes.set(keyPair.publicKey.serialize(), 0);
      bytes.set(keyPair.privateKey.toStorageBytes(), PUBLIC_KEY_LENGTH);
      await view.put(PROTOCOL_TABLES.localIdentity, KEY_PAIR, bytes);
      const id = new Uint8Array(4);
      new DataView(id.buffer).setUint32(0, registrationId, false);
      await view.put(PROTOCOL_TABLES.localIdentity, REGISTRATION_ID, id);
    },
    async getIdentityKeyPair() {
      const bytes = await view.get(PROTOCOL_TABLES.localIdentity, KEY_PAIR);
      if (bytes === undefined) throw notRegistered();
      if (bytes.length !== PUBLIC_KEY_LENGTH * 2) {
        throw new ClientError('invalid-record', 'stored identity key pair has the wrong length');
      }
      return {
        publicKey: PublicKey.deserialize(bytes.subarray(0, PUBLIC_KEY_LENGTH)),
        privateKey: PrivateKey.fromStorageBytes(bytes.subarray(PUBLIC_KEY_LENGTH)),
      };
    },
    async getLocalRegistrationId() {
      const bytes = await view.get(PROTOCOL_TABLES.localIdentity, REGISTRATION_ID);
      if (bytes === undefined) throw notRegistered();
      if (bytes.length !== 4) {
        throw new ClientError('invalid-record', 'stored registration id has the wrong length');
      }
      return new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, false);
    },
    async saveIdentity(address, key) {
      const serialized = key.serialize();
      const existing = await view.get(PROTOCOL_TABLES.identities, addressKey(address));
      if (existing !== undefined && sameBytes(existing, serialized)) return false;
      await view.put(PROTOCOL_TABLES.identities, addressKey(address), serialized);
      return existing !== undefined;
    },
    async isTrustedIdentity(
      address: ProtocolAddress,
      key: PublicKey,
      _direction: IdentityDirection,
    ) {
      const verified = verifiedDeviceStore(view);
      const device = await verified.getDevice(address.name, address.deviceId);
      if (device !== undefined) return sameBytes(device.identityKey, key.serialize());
      const account = await verified.getAccount(address.name);
      if (address.deviceId !== PRIMARY_DEVICE_ID) return false;
      if (account !== undefined) return sameBytes(account.accountKey, key.serialize());
      const existing = await view.get(PROTOCOL_TABLES.identities, addressKey(address));
      return existing === undefined || sameBytes(existing, key.serialize());
    },
    async getIdentity(address) {
      const existing = await view.get(PROTOCOL_TABLES.identities, addressKey(address));
      return existing === undefined ? undefined : PublicKey.deserialize(existing);
    },
  };
}

function preKeyStore(view: KeyValueView): PreKeyStore {
  return {
    async loadPreKey(id) {
      const bytes = await view.get(PROTOCOL_TABLES.preKeys, idKey(id));
      return bytes === undefined ? undefined : PreKeyRecord.deserialize(bytes);
    },
    storePreKey: (id, record) => view.put(PROTOCOL_TABLES.preKeys, idKey(id), record.serialize()),
    removePreKey: (id) => view.delete(PROTOCOL_TABLES.preKeys, idKey(id)),
  };
}

function signedPreKeyStore(view: KeyValueView): SignedPreKeyStore {
  return {
    async loadSignedPreKey(id) {
      const bytes = await view.get(PROTOCOL_TABLES.signedPreKeys, idKey(id));
      return bytes === undefined ? undefined : SignedPreKeyRecord.deserialize(bytes);
    },
    storeSignedPreKey: (id, record) =>
      view.put(PROTOCOL_TABLES.signedPreKeys, idKey(id), record.serialize()),
    removeSignedPreKey: (id) => view.delete(PROTOCOL_TABLES.signedPreKeys, idKey(id)),
  };
}

// "name/device": '/' never occurs in account names, so one account's prefix
// never matches another's.
function sessionKey(address: ProtocolAddress): string {
  return `${address.name}/${idKey(address.deviceId)}`;
}

function sessionStore(view: KeyValueView): SessionStore {
  return {
    async loadSession(address) {
      const bytes = await view.get(PROTOCOL_TABLES.sessions, sessionKey(address));
      return bytes === undefined ? undefined : SessionRecord.deserialize(bytes);
    },
    storeSession: (address, record) =>
      view.put(PROTOCOL_TABLES.sessions, sessionKey(address), record.serialize()),
    deleteSession: (address) => view.delete(PROTOCOL_TABLES.sessions, sessionKey(address)),
    async deleteAllSessions(name) {
      for (const entry of await view.list(PROTOCOL_TABLES.sessions, `${name}/`)) {
        await view.delete(PROTOCOL_TABLES.sessions, entry.key);
      }
    },
    async listDeviceIds(name): Promise<DeviceId[]> {
      const entries = await view.list(PROTOCOL_TABLES.sessions, `${name}/`);
      return entries
        .map((entry) => Number(entry.key.slice(name.length + 1)))
        .sort((a, b) => a - b)
        .map((id) => deviceId(id));
    },
  };
}

/** The protocol stores over one view, KEM prekeys included (empty unless the device is post-quantum). */
export function protocolStores(view: KeyValueView): DeviceProtocolStores {
  return {
    identity: identityStore(view),
    preKeys: preKeyStore(view),
    signedPreKeys: signedPreKeyStore(view),
    sessions: sessionStore(view),
    kyberPreKeys: kyberPreKeyStore(view),
  };
}
