/**
 * In-memory stores for tests and for clients that persist elsewhere. Every
 * record is kept as serialized bytes, never as a live object, so a caller
 * that changes a loaded record (say, a decryption that fails half way)
 * cannot change what is stored, and the persisted formats are exercised on
 * every operation. All of them pass test/protocol/store-conformance.ts.
 */
import { addressKey, deviceId, type DeviceId, type ProtocolAddress } from '../address.js';
import { PublicKey, type KeyPair } from '../curve.js';
import { ProtocolError } from '../errors.js';
import { KyberPreKeyRecord } from '../pq/kyber-prekey-record.js';
import { PreKeyRecord, SignedPreKeyRecord } from '../prekey-records.js';
import { SessionRecord } from '../session-record.js';
import type { IdentityDirection, IdentityKeyStore } from './identity-key-store.js';
import type { KyberPreKeyStore } from './kyber-prekey-store.js';
import type { PreKeyStore } from './prekey-store.js';
import type { ProtocolStores } from './protocol-stores.js';
import type { SessionStore } from './session-store.js';
import type { SignedPreKeyStore } from './signed-prekey-store.js';

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Trust on first use: a device's first identity key is trusted; later a
 * different key is not until the application saves it (after the user
 * accepted the change), as libsignal's in-memory store does.
 */
export class MemoryIdentityKeyStore implements IdentityKeyStore {
  readonly #identities = new Map<string, Uint8Array>();

  constructor(
    private readonly identityKeyPair: KeyPair,
    private readonly registrationId: number,
  ) {}

  async getIdentityKeyPair(): Promise<KeyPair> {
    return this.identityKeyPair;
  }

  async getLocalRegistrationId(): Promise<number> {
    return this.registrationId;
  }

  async saveIdentity(address: ProtocolAddress, key: PublicKey): Promise<boolean> {
    const id = addressKey(address);
    const serialized = key.serialize();
    const existing = this.#identities.get(id);
    if (existing !== undefined && sameBytes(existing, serialized)) return false;
    this.#identities.set(id, serialized.slice());
    return existing !== undefined;
  }

  async isTrustedIdentity(
    address: ProtocolAddress,
    key: PublicKey,
    _direction: IdentityDirection,
  ): Promise<boolean> {
    const existing = this.#identities.get(addressKey(address));
    return existing === undefined || sameBytes(existing, key.serialize());
  }

  async getIdentity(address: ProtocolAddress): Promise<PublicKey | undefined> {
    const existing = this.#identities.get(addressKey(address));
    return existing === undefined ? undefined : PublicKey.deserialize(existing);
  }

  /** Serialized contents (address → key), for before/after comparisons in tests. */
  snapshot(): Map<string, Uint8Array> {
    return new Map([...this.#identities].map(([k, v]) => [k, v.slice()]));
  }
}

/** One-time prekeys in memory. */
export class MemoryPreKeyStore implements PreKeyStore {
  readonly #records = new Map<number, Uint8Array>();

  async loadPreKey(id: number): Promise<PreKeyRecord | undefined> {
    const bytes = this.#records.get(id);
    return bytes === undefined ? undefined : PreKeyRecord.deserialize(bytes);
  }

  async storePreKey(id: number, record: PreKeyRecord): Promise<void> {
    this.#records.set(id, record.serialize());
  }

  async removePreKey(id: number): Promise<void> {
    this.#records.delete(id);
  }

  /** Serialized contents (id → record), for tests. */
  snapshot(): Map<number, Uint8Array> {
    return new Map([...this.#records].map(([k, v]) => [k, v.slice()]));
  }
}

/** Signed prekeys in memory. */
export class MemorySignedPreKeyStore implements SignedPreKeyStore {
  readonly #records = new Map<number, Uint8Array>();

  async loadSignedPreKey(id: number): Promise<SignedPreKeyRecord | undefined> {
    const bytes = this.#records.get(id);
    return bytes === undefined ? undefined : SignedPreKeyRecord.deserialize(bytes);
  }

  async storeSignedPreKey(id: number, record: SignedPreKeyRecord): Promise<void> {
    this.#records.set(id, record.serialize());
  }

  async removeSignedPreKey(id: number): Promise<void> {
    this.#records.delete(id);
  }

  /** Serialized contents (id → record), for tests. */
  snapshot(): Map<number, Uint8Array> {
    return new Map([...this.#records].map(([k, v]) => [k, v.slice()]));
  }
}

function hex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

/** KEM prekeys in memory: one-time ones and last-resort ones with their uses. */
export class MemoryKyberPreKeyStore implements KyberPreKeyStore {
  readonly #records = new Map<number, { bytes: Uint8Array; lastResort: boolean }>();
  /** Uses of last-resort keys: `id/signedPreKeyId/baseKey hex`. */
  readonly #used = new Set<string>();

  async loadKyberPreKey(id: number): Promise<KyberPreKeyRecord | undefined> {
    const entry = this.#records.get(id);
    return entry === undefined ? undefined : KyberPreKeyRecord.deserialize(entry.bytes);
  }

  async storeKyberPreKey(id: number, record: KyberPreKeyRecord): Promise<void> {
    this.#records.set(id, { bytes: record.serialize(), lastResort: false });
  }

  async storeLastResortKyberPreKey(id: number, record: KyberPreKeyRecord): Promise<void> {
    this.#records.set(id, { bytes: record.serialize(), lastResort: true });
  }

  async markKyberPreKeyUsed(
    id: number,
    signedPreKeyId: number,
    baseKey: Uint8Array,
  ): Promise<void> {
    const entry = this.#records.get(id);
    if (entry === undefined) throw new ProtocolError('invalid-prekey-id', 'unknown KEM prekey id');
    if (!entry.lastResort) {
      this.#records.delete(id);
      return;
    }
    const use = `${id}/${signedPreKeyId}/${hex(baseKey)}`;
    if (this.#used.has(use)) {
      throw new ProtocolError(
        'duplicate-message',
        'last-resort KEM prekey reused with this base key',
      );
    }
    this.#used.add(use);
  }

  async removeKyberPreKey(id: number): Promise<void> {
    this.#records.delete(id);
  }

  /** Serialized contents (id → record) and the recorded uses, for tests. */
  snapshot(): { records: Map<number, Uint8Array>; uses: number } {
    return {
      records: new Map([...this.#records].map(([k, v]) => [k, v.bytes.slice()])),
      uses: this.#used.size,
    };
  }
}

/** Session records in memory, grouped by account name. */
export class MemorySessionStore implements SessionStore {
  readonly #byName = new Map<string, Map<DeviceId, Uint8Array>>();

  async loadSession(address: ProtocolAddress): Promise<SessionRecord | undefined> {
    const bytes = this.#byName.get(address.name)?.get(address.deviceId);
    return bytes === undefined ? undefined : SessionRecord.deserialize(bytes);
  }

  async storeSession(address: ProtocolAddress, record: SessionRecord): Promise<void> {
    let devices = this.#byName.get(address.name);
    if (devices === undefined) {
      devices = new Map();
      this.#byName.set(address.name, devices);
    }
    devices.set(address.deviceId, record.serialize());
  }

  async deleteSession(address: ProtocolAddress): Promise<void> {
    const devices = this.#byName.get(address.name);
    if (devices === undefined) return;
    devices.delete(address.deviceId);
    if (devices.size === 0) this.#byName.delete(address.name);
  }

  async deleteAllSessions(name: string): Promise<void> {
    this.#byName.delete(name);
  }

  async listDeviceIds(name: string): Promise<DeviceId[]> {
    const devices = this.#byName.get(name);
    if (devices === undefined) return [];
    return [...devices.keys()].sort((a, b) => a - b).map((d) => deviceId(d));
  }

  /** Serialized contents (`name.device` → record), for tests. */
  snapshot(): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>();
    for (const [name, devices] of this.#byName) {
      for (const [device, bytes] of devices)
        out.set(addressKey({ name, deviceId: device }), bytes.slice());
    }
    return out;
  }
}

/** The memory backend of all five stores, with a combined snapshot for tests. */
export interface MemoryProtocolStores extends ProtocolStores {
  readonly identity: MemoryIdentityKeyStore;
  readonly preKeys: MemoryPreKeyStore;
  readonly signedPreKeys: MemorySignedPreKeyStore;
  readonly sessions: MemorySessionStore;
  readonly kyberPreKeys: MemoryKyberPreKeyStore;
}

/** Fresh in-memory stores for a device with this identity and registration id. */
export function createMemoryStores(
  identityKeyPair: KeyPair,
  registrationId: number,
): MemoryProtocolStores {
  return {
    identity: new MemoryIdentityKeyStore(identityKeyPair, registrationId),
    preKeys: new MemoryPreKeyStore(),
    signedPreKeys: new MemorySignedPreKeyStore(),
    sessions: new MemorySessionStore(),
    kyberPreKeys: new MemoryKyberPreKeyStore(),
  };
}
