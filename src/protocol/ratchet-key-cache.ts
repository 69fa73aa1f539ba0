/**
 * Reuses our ratchet private keys across session record loads.
 *
 * Stores hand back a fresh record copy on every load (that is what makes a
 * failed decrypt harmless), so without this every DH ratchet step would
 * rebuild our current ratchet private key from its stored bytes, and the
 * platform provider, which caches its imported key per key object, would
 * import it again: with `nodeCrypto` an X25519 private-key import is about
 * as costly as the agreement itself. Keeping the `PrivateKey` object means
 * the import happens once per ratchet key, when it is generated.
 *
 * Entries are keyed by the serialized ratchet PUBLIC key (public data; never
 * by a secret). A cached key is only handed out when the stored private
 * bytes equal the cached copy (compared in constant time), so a changed or
 * foreign record never gets a stale key. The cache is bounded (least
 * recently used entries go first), and a ratchet key is dropped as soon as a
 * ratchet step replaces it, so it does not outlive its use in memory for
 * longer than the store keeps it anyway.
 */
import { PrivateKey } from './curve.js';

/** Entries kept: one current ratchet key per active session. */
const CAPACITY = 256;

interface Entry {
  /** A private copy of the `PrivateKey.toStorageBytes()` form. */
  readonly storageBytes: Uint8Array;
  readonly privateKey: PrivateKey;
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

function insert(key: string, entry: Entry): void {
  // Re-inserting keeps Map order least-recently-used first.
  entries.delete(key);
  entries.set(key, entry);
  while (entries.size > CAPACITY) {
    const oldest = entries.keys().next();
    if (oldest.done === true) break;
    entries.delete(oldest.value);
  }
}

/**
 * `PrivateKey.fromStorageBytes(storedPrivate)`, returning the object made
 * before for the same ratchet key when its stored bytes are identical.
 * Throws what `fromStorageBytes` throws.
 */
export function cachedRatchetPrivateKey(
  serializedPublic: Uint8Array,
  storedPrivate: Uint8Array,
): PrivateKey {
  const key = cacheKey(serializedPublic);
  const hit = entries.get(key);
  if (hit !== undefined && sameBytes(hit.storageBytes, storedPrivate)) {
    insert(key, hit);
    return hit.privateKey;
  }
  const privateKey = PrivateKey.fromStorageBytes(storedPrivate);
  insert(key, { storageBytes: storedPrivate.slice(), privateKey });
  return privateKey;
}

/** Records a freshly generated ratchet key pair so its first reload is a hit. */
export function rememberRatchetKey(
  serializedPublic: Uint8Array,
  privateKey: PrivateKey,
  storedPrivate: Uint8Array,
): void {
  insert(cacheKey(serializedPublic), { storageBytes: storedPrivate.slice(), privateKey });
}

/** Drops a ratchet key that a ratchet step has replaced. */
export function forgetRatchetKey(serializedPublic: Uint8Array): void {
  entries.delete(cacheKey(serializedPublic));
}

/** Drops every entry (tests; or a host wiping keys from memory). */
export function clearRatchetKeyCache(): void {
  entries.clear();
}
