/**
 * Shared fixtures for the 1:1 session tests: parties with memory stores,
 * deterministic and counting random sources, and store snapshots.
 */
import { createHash } from 'node:crypto';
import { nodeCrypto } from '../../src/crypto/node.js';
import type { Clock, RandomSource } from '../../src/crypto/provider.js';
import { protocolAddress, type ProtocolAddress } from '../../src/protocol/address.js';
import type { ProtocolContext } from '../../src/protocol/context.js';
import { generateSigningKeyPair } from '../../src/protocol/curve.js';
import { generateKyberPreKey } from '../../src/protocol/pq/kyber-prekey-record.js';
import {
  generatePreKeys,
  generateRegistrationId,
  generateSignedPreKey,
} from '../../src/protocol/prekeys.js';
import type { PreKeyBundle } from '../../src/protocol/session-builder.js';
import { createMemoryStores, type MemoryProtocolStores } from '../../src/protocol/stores/memory.js';

/** A reproducible random source: SHA-256 in counter mode over a seed. */
export function seededRandom(seed: string): RandomSource {
  let counter = 0;
  return (length: number) => {
    const out = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      const block = createHash('sha256').update(`${seed}/${counter++}`).digest();
      const take = Math.min(block.length, length - filled);
      out.set(block.subarray(0, take), filled);
      filled += take;
    }
    return out;
  };
}

/** Wraps a random source and counts draws (calls and bytes). */
export function countingRandom(inner: RandomSource): {
  random: RandomSource;
  calls: number[];
  reset(): void;
} {
  const calls: number[] = [];
  return {
    calls,
    random: (length: number) => {
      calls.push(length);
      return inner(length);
    },
    reset() {
      calls.length = 0;
    },
  };
}

/** A clock that only moves when told. */
export function fixedClock(start = 1_700_000_000_000): Clock & { advance(ms: number): void } {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

/** A device under test. */
export interface Party {
  readonly name: string;
  readonly address: ProtocolAddress;
  readonly ctx: ProtocolContext;
  readonly stores: MemoryProtocolStores;
  readonly registrationId: number;
  /** Makes a bundle with the next unused one-time prekey (or none). */
  bundle(options?: { oneTime?: boolean }): Promise<PreKeyBundle>;
}

/** A party with an identity, a signed prekey (id 1) and 20 one-time prekeys (ids 1..20). */
export async function makeParty(name: string, deviceId = 1, random?: RandomSource): Promise<Party> {
  const ctx: ProtocolContext = {
    crypto: nodeCrypto,
    random: random ?? ((n) => nodeCrypto.randomBytes(n)),
    clock: fixedClock(),
  };
  const identity = await generateSigningKeyPair(ctx.crypto, ctx.random);
  const registrationId = generateRegistrationId(ctx.random);
  const stores = createMemoryStores(identity, registrationId);
  const signed = await generateSignedPreKey(ctx, identity, 1);
  await stores.signedPreKeys.storeSignedPreKey(signed.id, signed);
  const preKeys = await generatePreKeys(ctx, 1, 20);
  for (const pk of preKeys) await stores.preKeys.storePreKey(pk.id, pk);
  let nextPreKey = 0;
  const address = protocolAddress(name, deviceId);
  return {
    name,
    address,
    ctx,
    stores,
    registrationId,
    async bundle(options) {
      const oneTime = options?.oneTime !== false ? preKeys[nextPreKey++] : undefined;
      return {
        registrationId,
        deviceId,
        ...(oneTime !== undefined
          ? { preKeyId: oneTime.id, preKey: oneTime.keyPair.publicKey }
          : {}),
        signedPreKeyId: signed.id,
        signedPreKey: signed.keyPair.publicKey,
        signedPreKeySignature: signed.signature,
        identityKey: identity.publicKey,
      };
    },
  };
}

/** A bundle of `party` with a signed KEM prekey, stored one-time or last resort. */
export async function kemBundle(
  party: Party,
  id: number,
  options: { lastResort?: boolean; oneTime?: boolean } = {},
): Promise<PreKeyBundle> {
  const identity = await party.stores.identity.getIdentityKeyPair();
  const kyber = await generateKyberPreKey(party.ctx, identity, id);
  if (options.lastResort === true) {
    await party.stores.kyberPreKeys.storeLastResortKyberPreKey(id, kyber);
  } else {
    await party.stores.kyberPreKeys.storeKyberPreKey(id, kyber);
  }
  return {
    ...(await party.bundle({ oneTime: options.oneTime !== false })),
    kyberPreKeyId: id,
    kyberPreKey: kyber.keyPair.publicKey,
    kyberPreKeySignature: kyber.signature,
  };
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** Every byte a party's stores hold, as one comparable string. */
export function snapshotStores(stores: MemoryProtocolStores): string {
  const parts: string[] = [];
  for (const [k, v] of stores.identity.snapshot()) parts.push(`id:${k}=${hex(v)}`);
  for (const [k, v] of stores.preKeys.snapshot()) parts.push(`pk:${k}=${hex(v)}`);
  for (const [k, v] of stores.signedPreKeys.snapshot()) parts.push(`spk:${k}=${hex(v)}`);
  for (const [k, v] of stores.sessions.snapshot()) parts.push(`s:${k}=${hex(v)}`);
  const kyber = stores.kyberPreKeys.snapshot();
  for (const [k, v] of kyber.records) parts.push(`kpk:${k}=${hex(v)}`);
  parts.push(`kpk-uses=${kyber.uses}`);
  return parts.sort().join('\n');
}

/** UTF-8 helpers. */
export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
export const fromUtf8 = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
