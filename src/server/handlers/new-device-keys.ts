/**
 * The keys a registering primary or a companion completing its link brings:
 * checked like any upload (prekeys.ts, kem-prekeys.ts) before anything is
 * stored, then handed to the account store, which writes them in the
 * transaction that creates the device. A device therefore never exists
 * without its bundle keys, whatever fails or crashes in between.
 */
import type { KemPreKey, PreKey, SignedPreKey } from '../../gen/quintet/v1/transport_pb.js';
import type { PublicKey } from '../../protocol/curve.js';
import type { ServerContext } from '../context.js';
import { ServiceError } from '../errors.js';
import { StoreError, type InitialDeviceKeys } from '../store/types.js';
import { checkNewDeviceKemRoom, validateKemPreKeyUpload } from './kem-prekeys.js';
import { validatePreKeyUpload } from './prekeys.js';

/** The key fields shared by `RegisterRequest` and `CompleteLinkRequest`. */
export interface NewDeviceKeyFields {
  readonly signedPreKey?: SignedPreKey | undefined;
  readonly preKeys: readonly PreKey[];
  readonly kemPreKeys: readonly KemPreKey[];
  readonly lastResortKemPreKey?: KemPreKey | undefined;
}

/** Validates a new device's keys (signatures by `identityKey`, sizes, bounds). */
export async function validateNewDeviceKeys(
  ctx: ServerContext,
  identityKey: PublicKey,
  fields: NewDeviceKeyFields,
): Promise<InitialDeviceKeys> {
  const preKeys = await validatePreKeyUpload(ctx, identityKey, fields.signedPreKey, fields.preKeys);
  // A post-quantum device's first KEM prekeys, checked like an upload.
  const kem = await validateKemPreKeyUpload(
    ctx,
    identityKey,
    fields.kemPreKeys,
    fields.lastResortKemPreKey,
  );
  checkNewDeviceKemRoom(ctx, kem);
  return {
    signedPreKey: preKeys.signed,
    oneTimePreKeys: preKeys.oneTime,
    oneTimeKemPreKeys: kem.oneTime,
    lastResortKemPreKey: kem.lastResort,
    maxPreKeysStored: ctx.limits.maxPreKeysStored,
    maxKemPreKeysStored: ctx.limits.maxKemPreKeysStored,
  };
}

/**
 * The store's `limit-exceeded` for a new device's keys as the upload
 * handlers answer it; anything else unchanged.
 */
export function newDeviceKeysError(ctx: ServerContext, error: unknown): unknown {
  if (!StoreError.is(error, 'limit-exceeded')) return error;
  return new ServiceError(
    'too-many-pre-keys',
    `at most ${ctx.limits.maxPreKeysStored} one-time prekeys and ` +
      `${ctx.limits.maxKemPreKeysStored} one-time KEM prekeys stored per device`,
    {},
    { cause: error },
  );
}
