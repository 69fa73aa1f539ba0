/**
 * Making the keys a device publishes (X3DH §3.2): a registration id, a batch
 * of one-time prekeys and a signed prekey.
 */
import type { RandomSource } from '../crypto/provider.js';
import type { ProtocolContext } from './context.js';
import { generateKeyPair, sign, type KeyPair } from './curve.js';
import { PreKeyRecord, SignedPreKeyRecord } from './prekey-records.js';

/** libsignal keeps prekey ids below 2^24 (`MAX_VALUE` 0xFFFFFF) so they wrap safely. */
export const MAX_PREKEY_ID = 0xffffff;

/**
 * A registration id: 14 random bits, never 0 (libsignal `KeyHelper`
 * generates 1..16380), so a peer can tell a reinstalled device from the old one.
 */
export function generateRegistrationId(random: RandomSource): number {
  const bytes = random(2);
  const value = (((bytes[0] ?? 0) << 8) | (bytes[1] ?? 0)) & 0x3fff;
  return value === 0 ? 1 : value;
}

/**
 * `count` one-time prekeys with ids `startId, startId + 1, …`, wrapping within
 * 1..MAX_PREKEY_ID (id 0 is avoided: some peers treat it as "no prekey").
 */
export async function generatePreKeys(
  ctx: ProtocolContext,
  startId: number,
  count: number,
): Promise<PreKeyRecord[]> {
  if (!Number.isInteger(startId) || startId < 1 || startId > MAX_PREKEY_ID) {
    throw new RangeError(`startId must be an integer in 1..${MAX_PREKEY_ID}`);
  }
  if (!Number.isInteger(count) || count < 0 || count > MAX_PREKEY_ID) {
    throw new RangeError('count must be a non-negative integer');
  }
  const out: PreKeyRecord[] = [];
  for (let i = 0; i < count; i++) {
    const id = ((startId - 1 + i) % MAX_PREKEY_ID) + 1;
    out.push(new PreKeyRecord(id, await generateKeyPair(ctx.crypto, ctx.random)));
  }
  return out;
}

/** A signed prekey: a fresh key pair, signed (XEdDSA) by the identity key, stamped with `ctx.clock`. */
export async function generateSignedPreKey(
  ctx: ProtocolContext,
  identityKeyPair: KeyPair,
  id: number,
): Promise<SignedPreKeyRecord> {
  if (!Number.isInteger(id) || id < 0 || id > MAX_PREKEY_ID) {
    throw new RangeError(`signed prekey id must be an integer in 0..${MAX_PREKEY_ID}`);
  }
  const keyPair = await generateKeyPair(ctx.crypto, ctx.random);
  const signature = await sign(
    ctx.crypto,
    identityKeyPair.privateKey,
    keyPair.publicKey.serialize(),
    ctx.random,
  );
  return new SignedPreKeyRecord(id, keyPair, signature, ctx.clock.now());
}
