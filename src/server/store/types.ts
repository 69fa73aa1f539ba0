/**
 * The server's storage interfaces, one per concern (accounts and devices,
 * prekeys, per-device message queues). Every backend — in-memory, SQLite,
 * PostgreSQL — implements the same async, SQL-agnostic interfaces and
 * runs the same conformance suite (test/server/store-conformance.ts).
 *
 * Stores never read a clock: callers pass timestamps, so the service's
 * injected `Clock` is the only source of time (tests move it).
 *
 * Groups live in their own interface (group-store.ts).
 *
 * Only public keys are stored. A stolen database therefore lets nobody log
 * in as a device: authentication needs a signature by the identity key.
 */

import type { GroupStore } from './group-store.js';

/** A device of an account, as stored. */
export interface DeviceRecord {
  readonly account: string;
  readonly deviceId: number;
  /** 33-byte serialized Curve25519 public key. */
  readonly identityKey: Uint8Array;
  readonly registrationId: number;
  readonly name: string;
  /** ms since the epoch. */
  readonly createdAt: number;
  /** ms since the epoch. */
  readonly lastSeenAt: number;
  /** The companion's index in the account's signed key-index list; 0 for the primary. */
  readonly keyIndex: number;
  /** Companions: their `ADVSignedDeviceIdentity` bytes; empty for the primary. */
  readonly signedDeviceIdentity: Uint8Array;
}

/** What a caller supplies to create a device (the store assigns nothing else). */
export interface NewDevice {
  readonly identityKey: Uint8Array;
  readonly registrationId: number;
  readonly name: string;
  readonly createdAt: number;
  /** Default 0 (the primary). */
  readonly keyIndex?: number;
  /** Default empty (the primary has none). */
  readonly signedDeviceIdentity?: Uint8Array;
  /**
   * The keys the device arrives with (registration, link completion). The
   * account store writes them in the transaction that writes the device
   * row, replacing whatever keys that id held (a reset primary's old ones):
   * a crash between two writes could otherwise leave a device nobody can
   * start a session with (no bundle), or keys of a device never created.
   */
  readonly keys?: InitialDeviceKeys;
}

/** A new device's first prekeys, and the stores' bounds for them. */
export interface InitialDeviceKeys {
  readonly signedPreKey: SignedPreKeyRecord | undefined;
  readonly oneTimePreKeys: readonly OneTimePreKeyRecord[];
  readonly oneTimeKemPreKeys: readonly KemPreKeyRecord[];
  readonly lastResortKemPreKey: KemPreKeyRecord | undefined;
  /**
   * More distinct one-time ids than these is `StoreError('limit-exceeded')`
   * and nothing of the write (device row included) is stored.
   */
  readonly maxPreKeysStored: number;
  readonly maxKemPreKeysStored: number;
}

/**
 * An account's current signed device list (`ADVSignedKeyIndexList` bytes)
 * and the timestamp signed inside it, kept beside the bytes so the rollback
 * check needs no parsing.
 */
export interface StoredDeviceList {
  readonly signedList: Uint8Array;
  /** Seconds since the epoch, from the signed `ADVKeyIndexList`. */
  readonly timestamp: number;
}

/**
 * Why and when a device was removed. Kept after the device is gone so a
 * later login from it is told it was logged out, not that it never existed.
 */
export interface DeviceRemoval {
  /** A fixed vocabulary: `removed`, `logout`, `primary-inactive`, `inactive`, `account-reset`. */
  readonly reason: string;
  /** ms since the epoch. */
  readonly removedAt: number;
}

/** A companion found idle by `findInactiveCompanions`, with the rule it broke. */
export interface InactiveCompanion {
  readonly account: string;
  readonly deviceId: number;
  /** `primary-inactive` (its primary is idle) or `inactive` (it is idle itself). */
  readonly reason: 'primary-inactive' | 'inactive';
}

/** The outcome of `resetAccount`. */
export interface AccountReset {
  /** The new primary (device 1). */
  readonly primary: DeviceRecord;
  /** Companions that were removed, by ascending id. */
  readonly removedDevices: readonly number[];
}

/** Accounts and their devices. */
export interface AccountStore {
  /**
   * Creates `name` with `primary` as device 1 and, when given, its first
   * signed device list and its keys (`primary.keys`), in one write.
   * Rejects with `StoreError('account-exists')` if the name is taken
   * (atomically: two concurrent registrations of one name cannot both
   * succeed).
   */
  createAccount(name: string, primary: NewDevice, list?: StoredDeviceList): Promise<DeviceRecord>;
  /**
   * Adds a device with the next unused id (ids are never reused, so a stale
   * session can never address a new device). `StoreError('unknown-account')`.
   */
  addDevice(account: string, device: NewDevice): Promise<DeviceRecord>;
  /** One device, or undefined. */
  getDevice(account: string, deviceId: number): Promise<DeviceRecord | undefined>;
  /** Every device of the account by ascending id, or undefined when there is no such account. */
  listDevices(account: string): Promise<readonly DeviceRecord[] | undefined>;
  /**
   * `listDevices` answered synchronously when the list is held in memory
   * (the device-list cache); undefined when it is not — then ask
   * `listDevices`. Every send checks the list, and skipping the promise
   * matters there.
   */
  cachedDevices?(account: string): readonly DeviceRecord[] | undefined;
  /** Records activity; a no-op for an unknown device. */
  touchDevice(account: string, deviceId: number, at: number): Promise<void>;
  /**
   * Reserves the next device id for a companion being linked, without
   * creating a device: the id is burnt even if the link never completes,
   * so ids are never reused. `StoreError('unknown-account')`.
   */
  reserveDeviceId(account: string): Promise<number>;
  /**
   * Creates a companion under an id from `reserveDeviceId`, with its keys
   * (`device.keys`) in the same write. Rejects with
   * `StoreError('device-id-unavailable')` when the id was never reserved,
   * is taken, or belonged to a removed device; `unknown-account`.
   */
  addReservedDevice(account: string, deviceId: number, device: NewDevice): Promise<DeviceRecord>;
  /** The account's signed device list, or undefined (none stored, or no such account). */
  getDeviceList(account: string): Promise<StoredDeviceList | undefined>;
  /**
   * Replaces the signed device list, atomically only if `list.timestamp` is
   * greater than the stored one's, else `StoreError('device-list-rollback')`
   * (a replayed old list could resurrect an unlinked device). `unknown-account`.
   */
  setDeviceList(account: string, list: StoredDeviceList): Promise<void>;
  /**
   * Deletes a device and records `removal` as its tombstone, atomically.
   * Resolves false (and records nothing) when there is no such device.
   * Keys and queue live in the other stores; callers purge those too.
   */
  removeDevice(account: string, deviceId: number, removal: DeviceRemoval): Promise<boolean>;
  /** The tombstone of a removed device, or undefined. */
  getRemoval(account: string, deviceId: number): Promise<DeviceRemoval | undefined>;
  /**
   * Re-registration of an existing name (a reinstalled primary): replaces
   * device 1 and its keys (the old ones go, `primary.keys` come), removes every companion with `removal` as tombstone and
   * stores `list` unconditionally (a new account key starts a new list
   * epoch). `unknown-account`.
   */
  resetAccount(
    account: string,
    primary: NewDevice,
    list: StoredDeviceList,
    removal: DeviceRemoval,
  ): Promise<AccountReset>;
  /**
   * Companions whose primary was last seen before `primarySeenBefore`
   * (reason `primary-inactive`), or which were themselves last seen before
   * `companionSeenBefore` (`inactive`), at most `limit`, primary rule first.
   */
  findInactiveCompanions(
    primarySeenBefore: number,
    companionSeenBefore: number,
    limit: number,
  ): Promise<readonly InactiveCompanion[]>;
}

/**
 * Who watches whose devices: an account that fetched another's devices or
 * bundles, or sent it a message, is told when that account's devices change.
 */
export interface SubscriberStore {
  /** Records that `subscriber` watches `account` (idempotent). */
  addSubscriber(account: string, subscriber: string): Promise<void>;
  /** Accounts watching `account`, sorted. */
  listSubscribers(account: string): Promise<readonly string[]>;
}

/** A signed prekey as stored (public part and signature only). */
export interface SignedPreKeyRecord {
  readonly id: number;
  readonly publicKey: Uint8Array;
  readonly signature: Uint8Array;
}

/** A one-time prekey as stored (public part only). */
export interface OneTimePreKeyRecord {
  readonly id: number;
  readonly publicKey: Uint8Array;
}

/** Prekeys per device. */
export interface PreKeyStore {
  /** Replaces the device's signed prekey. */
  setSignedPreKey(account: string, deviceId: number, key: SignedPreKeyRecord): Promise<void>;
  getSignedPreKey(account: string, deviceId: number): Promise<SignedPreKeyRecord | undefined>;
  /**
   * Adds one-time prekeys (an id already stored is replaced) and returns the
   * count afterwards. If the result would exceed `maxStored`, nothing is added
   * and it rejects with `StoreError('limit-exceeded')`.
   */
  addOneTimePreKeys(
    account: string,
    deviceId: number,
    keys: readonly OneTimePreKeyRecord[],
    maxStored: number,
  ): Promise<number>;
  /**
   * Removes and returns one one-time prekey (lowest id first), atomically:
   * two concurrent takes never get the same key. Undefined when none remain.
   */
  takeOneTimePreKey(account: string, deviceId: number): Promise<OneTimePreKeyRecord | undefined>;
  countOneTimePreKeys(account: string, deviceId: number): Promise<number>;
  /** Deletes every prekey of a removed device. */
  deleteDevice(account: string, deviceId: number): Promise<void>;
}

/**
 * A signed KEM prekey as stored (public part and signature only): the
 * serialized KEM public key with its type byte, signed by the identity key.
 */
export interface KemPreKeyRecord {
  readonly id: number;
  readonly publicKey: Uint8Array;
  readonly signature: Uint8Array;
}

/**
 * KEM prekeys (PQXDH) per device: one-time ones, each handed out at most
 * once, and one last-resort key served whenever none remain.
 */
export interface KemPreKeyStore {
  /** Replaces the device's last-resort KEM prekey. */
  setLastResortKemPreKey(account: string, deviceId: number, key: KemPreKeyRecord): Promise<void>;
  getLastResortKemPreKey(account: string, deviceId: number): Promise<KemPreKeyRecord | undefined>;
  /**
   * Adds one-time KEM prekeys (an id already stored is replaced) and
   * returns the count afterwards. If the result would exceed `maxStored`,
   * nothing is added and it rejects with `StoreError('limit-exceeded')`.
   */
  addOneTimeKemPreKeys(
    account: string,
    deviceId: number,
    keys: readonly KemPreKeyRecord[],
    maxStored: number,
  ): Promise<number>;
  /**
   * Removes and returns one one-time KEM prekey (lowest id first),
   * atomically: two concurrent takes never get the same key. Undefined when
   * none remain (the last-resort key is never taken).
   */
  takeOneTimeKemPreKey(account: string, deviceId: number): Promise<KemPreKeyRecord | undefined>;
  countOneTimeKemPreKeys(account: string, deviceId: number): Promise<number>;
  /** Deletes every KEM prekey of a removed device. */
  deleteDevice(account: string, deviceId: number): Promise<void>;
}

/** One envelope in one device's queue. */
export interface QueuedEnvelope {
  /**
   * 16 bytes the store assigned: unique across the store and not guessable
   * (see envelope-guid.ts). The device acknowledges the envelope with it.
   */
  readonly guid: Uint8Array;
  readonly destination: string;
  readonly destinationDevice: number;
  readonly source: string;
  readonly sourceDevice: number;
  /** `EnvelopeType` number. */
  readonly type: number;
  readonly content: Uint8Array;
  /** The sender's clock, ms. */
  readonly timestamp: number;
  /** When the server accepted it, ms; expiry counts from here. */
  readonly serverTimestamp: number;
  /** PREKEY envelopes from a companion: its `ADVSignedDeviceIdentity` (else absent). */
  readonly sourceDeviceIdentity?: Uint8Array;
  /** SENDER_KEY envelopes of a group send: the 16-byte group id (else absent). */
  readonly groupId?: Uint8Array;
}

/**
 * An envelope to queue: everything but the guid, which the store assigns
 * (`guid?: never` makes passing an already-queued envelope a type error
 * instead of a guid silently replaced).
 */
export type NewEnvelope = Omit<QueuedEnvelope, 'guid'> & { readonly guid?: never };

/** Where to resume reading a queue: the sequence of the last envelope read. */
export interface QueuePage {
  readonly envelopes: readonly QueuedEnvelope[];
  /** Pass back as `after` to read the next page; unchanged when the page is empty. */
  readonly cursor: number;
}

/**
 * The most a device's queue may hold. Bytes are content bytes as the device
 * would download them: an envelope whose content is stored once for many
 * devices (a group fanout) counts in full against each of them.
 */
export interface QueueBounds {
  readonly maxCount: number;
  readonly maxBytes: number;
}

/** Per-device durable message queues. */
export interface MessageQueueStore {
  /**
   * True when each device's envelopes are numbered 1, 2, 3 … in commit
   * order (the guid's sequence half), with gaps only where an enqueue was
   * refused: a cluster node may then push envelopes carried by another
   * node's wake when they come next, and read the store on a gap.
   */
  readonly contiguousSequences?: boolean;
  /**
   * Durably appends every envelope (all or nothing) and returns them, in the
   * same order, with the guids the store gave them. When the promise
   * resolves the envelopes survive a crash of the process.
   *
   * Consecutive envelopes whose `content` is the same `Uint8Array` object (a
   * group send's ciphertext for each member device) share one stored copy,
   * kept until the last of them is acknowledged, expired or deleted.
   *
   * With `bounds`, a batch that would take any device's queue past either
   * bound stores nothing and rejects with `StoreError('queue-full')` naming
   * the bound (`limit`: `queue-count` or `queue-bytes`); what is queued
   * already stays. Checked against counters the store keeps per device, not
   * by counting rows on every send.
   */
  enqueue(
    envelopes: readonly NewEnvelope[],
    bounds?: QueueBounds,
  ): Promise<readonly QueuedEnvelope[]>;
  /** Envelopes of one device in insertion order, after cursor `after` (0 = from the start). */
  page(account: string, deviceId: number, after: number, limit: number): Promise<QueuePage>;
  /**
   * Deletes the listed envelopes if — and only if — they are queued for this
   * device; guids of other devices' envelopes are ignored. Returns how many
   * were deleted.
   */
  ack(account: string, deviceId: number, guids: readonly Uint8Array[]): Promise<number>;
  /** Deletes every envelope accepted before `before` (ms); returns how many. */
  expire(before: number): Promise<number>;
  /** Envelopes queued for one device. */
  count(account: string, deviceId: number): Promise<number>;
  /** Content bytes queued for one device (shared contents counted for each device). */
  queuedBytes(account: string, deviceId: number): Promise<number>;
  /** Envelopes queued in total (the queue-depth metric). */
  totalCount(): Promise<number>;
  /** Deletes a removed device's whole queue; returns how many envelopes. */
  deleteDevice(account: string, deviceId: number): Promise<number>;
}

/** All stores of one backend. */
export interface ServerStore {
  readonly accounts: AccountStore;
  readonly preKeys: PreKeyStore;
  readonly kemPreKeys: KemPreKeyStore;
  readonly queue: MessageQueueStore;
  readonly subscribers: SubscriberStore;
  readonly groups: GroupStore;
  /** Finishes pending writes and releases resources; later calls reject with `StoreError('closed')`. */
  close(): Promise<void>;
}

/** Failure codes of a store. */
export type StoreErrorCode =
  | 'account-exists'
  | 'unknown-account'
  /** A reserved device id that cannot be used (never reserved, taken, or removed). */
  | 'device-id-unavailable'
  /** A signed device list not newer than the stored one. */
  | 'device-list-rollback'
  | 'limit-exceeded'
  | 'closed'
  /** A group id that is already taken. */
  | 'group-exists'
  /** No group with that id. */
  | 'unknown-group'
  /** A group change whose version is not the head's + 1 (a concurrent change won). */
  | 'group-version-conflict'
  /** The database is from a newer version, or a migration failed. */
  | 'schema'
  /** A stored row does not have the expected shape. */
  | 'corrupt'
  /** A device's queue is at one of its bounds (`StoreError.limit` says which). */
  | 'queue-full'
  /** The disk (or the database's size limit) is full; nothing of the write was stored. */
  | 'storage-full'
  /**
   * The database cannot be reached, or restarted under the request
   * (PostgreSQL). Nothing of the write is known to be stored unless the
   * promise resolved (a commit whose answer was lost may have landed).
   * Retryable: the caller may try again after a short wait.
   */
  | 'unavailable';

/** The queue bound a `queue-full` error names. */
export type QueueLimit = 'queue-count' | 'queue-bytes';

/** A typed store failure. Messages never contain keys or content. */
export class StoreError extends Error {
  override readonly name = 'StoreError';
  /** With `queue-full`: the bound that was reached. */
  readonly limit: QueueLimit | undefined;
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    options?: { cause?: unknown; limit?: QueueLimit },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.limit = options?.limit;
  }
  /** Type guard: `StoreError.is(err, 'account-exists')`. */
  static is(value: unknown, code?: StoreErrorCode): value is StoreError {
    return value instanceof StoreError && (code === undefined || value.code === code);
  }
}
