/**
 * Shared fixtures for the ADV tests: a deterministic context with a movable
 * clock, an account (primary) key, and a helper that runs a whole link.
 */
import { nodeCrypto } from '../../../src/crypto/node.js';
import type { ProtocolContext } from '../../../src/protocol/context.js';
import { generateSigningKeyPair, type KeyPair } from '../../../src/protocol/curve.js';
import {
  acceptLinkPayload,
  createSignedDeviceIdentity,
  wrapWithHmac,
} from '../../../src/protocol/adv/device-identity.js';
import { seededRandom } from '../session-helpers.js';

/** 2026-01-01T00:00:00Z in seconds. */
export const T0 = 1_767_225_600;
/** One day in seconds. */
export const DAY = 86_400;

/** A context whose clock the test sets (`ctx.setNow(ms)`). */
export interface TestContext extends ProtocolContext {
  setNow(ms: number): void;
}

/** A deterministic context; the clock starts at T0. */
export function makeContext(seed = 'adv'): TestContext {
  let now = T0 * 1000;
  return {
    crypto: nodeCrypto,
    random: seededRandom(seed),
    clock: { now: () => now },
    setNow(ms: number) {
      now = ms;
    },
  };
}

/** A deterministic identity key pair. */
export function keyPair(seed: string): Promise<KeyPair> {
  return generateSigningKeyPair(nodeCrypto, seededRandom(`key/${seed}`));
}

/** The 32-byte linking secret of a test companion. */
export function linkingSecret(seed: string): Uint8Array {
  return seededRandom(`secret/${seed}`)(32);
}

/** Runs primary sign → HMAC wrap → companion accept; returns the final signed identity. */
export async function linkCompanion(
  ctx: ProtocolContext,
  account: KeyPair,
  companion: KeyPair,
  options: { keyIndex: number; rawId: number; timestamp?: number; secret?: Uint8Array },
): Promise<Uint8Array> {
  const secret = options.secret ?? linkingSecret('default');
  const signed = await createSignedDeviceIdentity(ctx, {
    accountKeyPair: account,
    companionIdentityKey: companion.publicKey,
    keyIndex: options.keyIndex,
    rawId: options.rawId,
    timestamp: options.timestamp ?? T0,
  });
  const hmacBytes = await wrapWithHmac(ctx, secret, signed);
  const accepted = await acceptLinkPayload(ctx, {
    linkingSecret: secret,
    companionIdentityKeyPair: companion,
    hmacBytes,
  });
  return accepted.signedIdentity;
}

/** Lowercase hex, for snapshots and byte surgery. */
export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Parses lowercase hex. */
export function fromHex(text: string): Uint8Array {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}
