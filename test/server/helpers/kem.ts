/** Signed KEM prekeys (PQXDH) as a test device uploads them. */
import { nodeCrypto } from '../../../src/crypto/node.js';
import { sign } from '../../../src/protocol/curve.js';
import { generateKyberPreKey } from '../../../src/protocol/pq/kyber-prekey-record.js';
import type { TestIdentity } from './device.js';

const random = (n: number): Uint8Array => new Uint8Array(nodeCrypto.randomBytes(n));

/** The wire form of a KEM prekey. */
export interface WireKemPreKey {
  id: number;
  publicKey: Uint8Array;
  signature: Uint8Array;
}

/** Kyber1024's key type byte and serialized public key length (type byte included). */
export const KYBER1024_TYPE = 0x08;
export const KEM_PUBLIC_KEY_BYTES = 1569;

/**
 * A KEM prekey signed by `identity`. The server checks only the type byte,
 * the length and the signature, so random key bytes stand in for a real key
 * (see `realKemPreKey`); `type` and `length` let a test build bad ones.
 */
export async function kemPreKey(
  identity: TestIdentity,
  id: number,
  options: { type?: number; length?: number } = {},
): Promise<WireKemPreKey> {
  const publicKey = random(options.length ?? KEM_PUBLIC_KEY_BYTES);
  publicKey[0] = options.type ?? KYBER1024_TYPE;
  const signature = await sign(nodeCrypto, identity.identity.privateKey, publicKey, random);
  return { id, publicKey, signature };
}

/** `count` signed KEM prekeys with ids from `firstId`. */
export async function kemPreKeys(
  identity: TestIdentity,
  count: number,
  firstId = 1,
): Promise<WireKemPreKey[]> {
  const keys = [];
  for (let i = 0; i < count; i++) keys.push(await kemPreKey(identity, firstId + i));
  return keys;
}

/** A real Kyber1024 prekey record as the client generates it, in wire form. */
export async function realKemPreKey(identity: TestIdentity, id: number): Promise<WireKemPreKey> {
  const ctx = { crypto: nodeCrypto, random, clock: { now: () => 1_700_000_000_000 } };
  const record = await generateKyberPreKey(ctx, identity.identity, id);
  return { id, publicKey: record.keyPair.publicKey.serialize(), signature: record.signature };
}
