/**
 * KEM prekeys (PQXDH) on the server: validating an upload, storing it and
 * choosing the key a bundle carries.
 *
 * Handled as the EC prekeys are (prekeys.ts): one-time KEM prekeys go to at
 * most one sender, taken atomically, and only while the target account's
 * one-time budget lasts; otherwise the bundle carries the device's
 * last-resort KEM prekey, which is never removed. Every key is checked
 * before anything is stored: its type byte, its length and the identity
 * key's XEdDSA signature over it, so the server never hands out a key that
 * every peer would reject.
 */
import type { KemPreKey } from '../../gen/quintet/v1/transport_pb.js';
import { verify, type PublicKey } from '../../protocol/curve.js';
import { KEM_PUBLIC_KEY_LENGTH, KemKeyType } from '../../protocol/pq/kem.js';
import type { ServerContext } from '../context.js';
import { ServiceError } from '../errors.js';
import { StoreError, type KemPreKeyRecord } from '../store/types.js';
import { requireLength } from './common.js';

/**
 * The KEM key types the server stores. Signed KEM prekeys are Kyber1024
 * (round 3), type 0x08, as the libsignal clients Quintet interoperates with
 * publish them; any other type byte is refused at upload rather than handed
 * to peers that could not use it.
 */
const ACCEPTED_KEM_TYPES: ReadonlySet<number> = new Set([KemKeyType.kyber1024]);

/** Serialized KEM public key: type byte ‖ key. */
const KEM_PUBLIC_KEY_BYTES = 1 + KEM_PUBLIC_KEY_LENGTH;

/** A validated KEM part of an upload, ready to store. */
export interface ValidatedKemPreKeys {
  readonly oneTime: readonly KemPreKeyRecord[];
  readonly lastResort: KemPreKeyRecord | undefined;
}

/** Checks one KEM prekey: length, type byte, then the identity key's signature. */
async function checkKemPreKey(
  ctx: ServerContext,
  identityKey: PublicKey,
  key: KemPreKey,
  what: string,
): Promise<KemPreKeyRecord> {
  if (key.publicKey.length !== KEM_PUBLIC_KEY_BYTES) {
    throw new ServiceError('malformed-request', `${what} must be ${KEM_PUBLIC_KEY_BYTES} bytes`);
  }
  const type = key.publicKey[0] ?? 0;
  if (!ACCEPTED_KEM_TYPES.has(type)) {
    throw new ServiceError(
      'malformed-request',
      `${what} has key type 0x${type.toString(16).padStart(2, '0')}; only Kyber1024 (0x08) is accepted`,
    );
  }
  requireLength(key.signature, 64, `${what} signature`);
  if (!(await verify(ctx.crypto, identityKey, key.publicKey, key.signature))) {
    throw new ServiceError('invalid-signature', `${what} signature does not verify`);
  }
  // Copied into plain arrays: the decoded fields may be views of the frame.
  return {
    id: key.id,
    publicKey: new Uint8Array(key.publicKey),
    signature: new Uint8Array(key.signature),
  };
}

/**
 * Checks the KEM part of an upload before anything is stored: batch size,
 * unique ids (the last-resort key shares the id space of the one-time ones,
 * as a client's KEM prekey store does), and every key.
 */
export async function validateKemPreKeyUpload(
  ctx: ServerContext,
  identityKey: PublicKey,
  oneTime: readonly KemPreKey[],
  lastResort: KemPreKey | undefined,
): Promise<ValidatedKemPreKeys> {
  if (oneTime.length > ctx.limits.maxKemPreKeysPerUpload) {
    throw new ServiceError(
      'too-many-pre-keys',
      `at most ${ctx.limits.maxKemPreKeysPerUpload} one-time KEM prekeys per upload`,
    );
  }
  const ids = new Set<number>();
  for (const key of oneTime) {
    if (ids.has(key.id)) throw new ServiceError('malformed-request', 'duplicate KEM prekey id');
    ids.add(key.id);
  }
  if (lastResort !== undefined && ids.has(lastResort.id)) {
    throw new ServiceError(
      'malformed-request',
      'the last-resort KEM prekey id is also a one-time KEM prekey id',
    );
  }
  const records: KemPreKeyRecord[] = [];
  for (const key of oneTime) {
    records.push(await checkKemPreKey(ctx, identityKey, key, 'KEM prekey'));
  }
  const lastResortRecord =
    lastResort === undefined
      ? undefined
      : await checkKemPreKey(ctx, identityKey, lastResort, 'last-resort KEM prekey');
  return { oneTime: records, lastResort: lastResortRecord };
}

function tooManyStored(ctx: ServerContext, cause?: unknown): ServiceError {
  return new ServiceError(
    'too-many-pre-keys',
    `at most ${ctx.limits.maxKemPreKeysStored} one-time KEM prekeys stored per device`,
    {},
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Refuses an upload whose one-time KEM prekeys could not all be stored,
 * before any of its EC prekeys are: the two kinds are separate writes, and
 * a refused upload must leave nothing behind. Counted as if every id were
 * new (clients never reuse one-time ids); `storeKemPreKeys` still applies
 * the store's exact, atomic check.
 */
export async function checkKemRoom(
  ctx: ServerContext,
  account: string,
  deviceId: number,
  upload: ValidatedKemPreKeys,
): Promise<void> {
  if (upload.oneTime.length === 0) return;
  const stored = await ctx.store.kemPreKeys.countOneTimeKemPreKeys(account, deviceId);
  if (stored + upload.oneTime.length > ctx.limits.maxKemPreKeysStored) throw tooManyStored(ctx);
}

/**
 * `checkKemRoom` for a device that does not exist yet (a registration or a
 * link completion carrying its first KEM prekeys): it holds none, so only
 * the upload itself counts. Checked before the device is created, so a
 * refused upload leaves no device behind.
 */
export function checkNewDeviceKemRoom(ctx: ServerContext, upload: ValidatedKemPreKeys): void {
  if (upload.oneTime.length > ctx.limits.maxKemPreKeysStored) throw tooManyStored(ctx);
}

/** Stores a validated KEM upload, mapping the store's limit to `too-many-pre-keys`. */
export async function storeKemPreKeys(
  ctx: ServerContext,
  account: string,
  deviceId: number,
  upload: ValidatedKemPreKeys,
): Promise<void> {
  if (upload.oneTime.length > 0) {
    try {
      await ctx.store.kemPreKeys.addOneTimeKemPreKeys(
        account,
        deviceId,
        upload.oneTime,
        ctx.limits.maxKemPreKeysStored,
      );
    } catch (error) {
      if (StoreError.is(error, 'limit-exceeded')) throw tooManyStored(ctx, error);
      throw error;
    }
  }
  if (upload.lastResort !== undefined) {
    await ctx.store.kemPreKeys.setLastResortKemPreKey(account, deviceId, upload.lastResort);
  }
}

/** The KEM prekey a bundle carries, and whether it was a one-time one. */
export interface BundleKemPreKey {
  readonly key: KemPreKeyRecord;
  readonly oneTime: boolean;
}

/**
 * Takes a one-time KEM prekey (when `oneTimeAllowed`: the target's budget
 * is not spent), else reads the last-resort one. Undefined for a device
 * that uploaded none: its bundle stays v3.
 */
export async function bundleKemPreKey(
  ctx: ServerContext,
  account: string,
  deviceId: number,
  oneTimeAllowed: boolean,
): Promise<BundleKemPreKey | undefined> {
  if (oneTimeAllowed) {
    const key = await ctx.store.kemPreKeys.takeOneTimeKemPreKey(account, deviceId);
    if (key !== undefined) return { key, oneTime: true };
  }
  const key = await ctx.store.kemPreKeys.getLastResortKemPreKey(account, deviceId);
  return key === undefined ? undefined : { key, oneTime: false };
}
