/**
 * The server's storage interfaces, one per concern (accounts and devices,
 * prekeys, per-device message queues). Every backend — in-memory, SQLite,
 * later PostgreSQL — implements the same async, SQL-agnostic interfaces and
 * runs the same conformance suite (test/server/store-conformance.ts).
 *
 * Stores never read a clock: callers pass timestamps, so the service's
 * injected `Clock` is the only source of time (tests move it).
 *
 * Only public keys are stored. A stolen database therefore lets nobody log
 * in as a device: authentication needs a signature by the identity key.
 */

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
}

/** What a caller supplies to create a device (the store assigns nothing else). */
export interface NewDevice {
  readonly identityKey: Uint8Array;
  readonly registrationId: number;
  readonly name: string;
  readonly createdAt: number;
}

/** Accounts and their devices. */
export interface AccountStore {
  /**
   * Creates `name` with `primary` as device 1. Rejects with
   * `StoreError('account-exists')` if the name is taken (atomically: two
   * concurrent registrations of one name cannot both succeed).
   */
  createAccount(name: string, primary: NewDevice): Promise<DeviceRecord>;
  /**
   * Adds a device with the next unused id (ids are never reused, so a stale
   * session can never address a new device). `StoreError('unknown-account')`.
   */
  addDevice(account: string, device: NewDevice): Promise<DeviceRecord>;
  /** One device, or undefined. */
  getDevice(account: string, deviceId: number): Promise<DeviceRecord | undefined>;
  /** Every device of the account by ascending id, or undefined when there is no such account. */
  listDevices(account: string): Promise<readonly DeviceRecord[] | undefined>;
  /** Records activity; a no-op for an unknown device. */
  touchDevice(account: string, deviceId: number, at: number): Promise<void>;
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
}

/** One envelope in one device's queue. */
export interface QueuedEnvelope {
  /** 16 random bytes, unique across the store. */
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
}

/** Where to resume reading a queue: the sequence of the last envelope read. */
export interface QueuePage {
  readonly envelopes: readonly QueuedEnvelope[];
  /** Pass back as `after` to read the next page; unchanged when the page is empty. */
  readonly cursor: number;
}

/** Per-device durable message queues. */
export interface MessageQueueStore {
  /**
   * Durably appends every envelope (all or nothing). When the promise
   * resolves the envelopes survive a crash of the process.
   */
  enqueue(envelopes: readonly QueuedEnvelope[]): Promise<void>;
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
  /** Envelopes queued in total (the queue-depth metric). */
  totalCount(): Promise<number>;
}

/** All stores of one backend. */
export interface ServerStore {
  readonly accounts: AccountStore;
  readonly preKeys: PreKeyStore;
  readonly queue: MessageQueueStore;
  /** Finishes pending writes and releases resources; later calls reject with `StoreError('closed')`. */
  close(): Promise<void>;
}

/** Failure codes of a store. */
export type StoreErrorCode =
  | 'account-exists'
  | 'unknown-account'
  | 'limit-exceeded'
  /** An envelope guid that is already queued (guids are random: a bug or an attack). */
  | 'duplicate-guid'
  | 'closed'
  /** The database is from a newer version, or a migration failed. */
  | 'schema'
  /** A stored row does not have the expected shape. */
  | 'corrupt';

/** A typed store failure. Messages never contain keys or content. */
export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
  /** Type guard: `StoreError.is(err, 'account-exists')`. */
  static is(value: unknown, code?: StoreErrorCode): value is StoreError {
    return value instanceof StoreError && (code === undefined || value.code === code);
  }
}
