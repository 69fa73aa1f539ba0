/**
 * Reuses parsed signing keys across record loads.
 *
 * Stores hand back a fresh record copy on every load (that is what makes a
 * failed decrypt harmless), so without this every group message would parse
 * its signing key again. Parsing is cheap, but the key objects carry the
 * expensive parts with them: the Edwards form of a public key (a field
 * inversion) and, in the platform provider, the imported OpenSSL key — both
 * cached per key object. Profiled with `nodeCrypto` on a shared 2-vCPU
 * machine: a fresh signing private key cost up to ~1 ms on first use (PKCS#8
 * import plus public-key export) and a fresh public key ~250 µs, against
 * ~60 µs to sign and ~140 µs to verify once the keys are warm.
 *
 * Entries are keyed by the serialized public key, which is public data. A
 * private key is only reused when its stored bytes equal the cached copy
 * (compared in constant time), so a changed record never gets a stale key.
 * The cache is bounded (least recently used entries go first); private keys
 * in it are this device's own sending keys, one per group it sends to, which
 * the store keeps anyway.
 */
import { PrivateKey, PublicKey } from './curve.js';

/** Entries kept; each is one signing key (plus its private half for own chains). */
const CAPACITY = 512;

interface Entry {
  readonly publicKey: PublicKey;
  privateBytes?: Uint8Array;
  privateKey?: PrivateKey;
}

const entries = new Map<string, Entry>();

/** One UTF-16 unit per byte: a cheap, exact map key for 33 public bytes. */
function cacheKey(serializedPublic: Uint8Array): string {
  let key = '';
  for (const byte of serializedPublic) key += String.fromCharCode(byte);
  return key;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

function lookup(serializedPublic: Uint8Array): Entry {
  const key = cacheKey(serializedPublic);
  let entry = entries.get(key);
  if (entry !== undefined) {
    // Re-insert so Map order is least-recently-used first.
    entries.delete(key);
  } else {
    entry = { publicKey: PublicKey.deserialize(serializedPublic) };
  }
  entries.set(key, entry);
  while (entries.size > CAPACITY) {
    const oldest = entries.keys().next();
    if (oldest.done === true) break;
    entries.delete(oldest.value);
  }
  return entry;
}

/** `PublicKey.deserialize`, returning the same object for the same bytes. */
export function cachedSigningPublicKey(serializedPublic: Uint8Array): PublicKey {
  return lookup(serializedPublic).publicKey;
}

/**
 * The public key and, when `storedPrivate` is given, `PrivateKey.fromStorageBytes`
 * of it, reusing the objects made for identical bytes before.
 */
export function cachedSigningKeyPair(
  serializedPublic: Uint8Array,
  storedPrivate: Uint8Array,
): { publicKey: PublicKey; privateKey: PrivateKey } {
  const entry = lookup(serializedPublic);
  if (
    entry.privateKey === undefined ||
    entry.privateBytes === undefined ||
    !sameBytes(entry.privateBytes, storedPrivate)
  ) {
    const privateKey = PrivateKey.fromStorageBytes(storedPrivate);
    entry.privateKey = privateKey;
    entry.privateBytes = storedPrivate.slice();
  }
  return { publicKey: entry.publicKey, privateKey: entry.privateKey };
}

/** Drops every entry (tests; or a host wiping keys from memory). */
export function clearSigningKeyCache(): void {
  entries.clear();
}
