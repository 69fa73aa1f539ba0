/**
 * Reuses a session's decoded SPQR state across session record loads.
 *
 * A v4 session stores its SPQR state as ~4 KB of protobuf inside the
 * session record, and stores hand out a fresh record copy on every load.
 * Without this every message would parse those bytes back into the very
 * state the previous message of the session had just produced and encoded
 * (about a tenth of a 1:1 encrypt, counting the garbage it makes).
 *
 * One slot per session (named by public bytes: its base key and our
 * identity key, so it does not matter which store object or staged view
 * the record came through): the state the last successful operation of the
 * session produced, with a private copy of its encoded bytes.
 * A slot hands its state out only for bytes equal to that copy in full
 * (compared without an early exit), so a record that changed in any way —
 * another device's write, a restored backup, a corrupt store, a different
 * archived state — is decoded from its bytes as before. Handing out the same
 * object twice is safe because SPQR states are never mutated: every SPQR
 * step returns a new state (`spqr-states.ts`, `spqr-key-chain.ts`).
 *
 * Lifetime: at most `CAPACITY` sessions are remembered (least recently
 * used go first), and a slot is overwritten by each next state of its
 * session, so it holds no older state than the store holds; like the
 * ratchet key cache (`ratchet-key-cache.ts`), `clearSpqrStateCache` wipes
 * it all.
 */
import { decodeSpqrState } from './spqr-state-codec.js';
import type { SpqrRatchetState } from './spqr-ratchet.js';

/** Equality of two byte strings, reading all of both (no early exit). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  const length = a.length;
  if (length !== b.length) return false;
  let diff = 0;
  let i = 0;
  // Word-wise over the aligned bulk: a compare on every message, ~4 KB.
  if (a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0) {
    const words = length >>> 2;
    const wa = new Uint32Array(a.buffer, a.byteOffset, words);
    const wb = new Uint32Array(b.buffer, b.byteOffset, words);
    for (let w = 0; w < words; w++) diff |= (wa[w] ?? 0) ^ (wb[w] ?? 0);
    i = words << 2;
  }
  for (; i < length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/** The remembered SPQR state of one session (see the module comment). */
export class SpqrStateSlot {
  #encoded: Uint8Array | undefined;
  #state: SpqrRatchetState | undefined;

  /**
   * `decodeSpqrState(bytes)`: the remembered state when `bytes` equal its
   * encoding, else a fresh decode (which throws what `decodeSpqrState` throws).
   */
  decode(bytes: Uint8Array): SpqrRatchetState {
    const encoded = this.#encoded;
    const state = this.#state;
    if (encoded !== undefined && state !== undefined && sameBytes(encoded, bytes)) return state;
    return decodeSpqrState(bytes);
  }

  /**
   * Remembers `state` as the one `encoded` stands for. The caller passes
   * exactly `encodeSpqrState(state)`; a private copy is kept, so later
   * writes to the caller's array cannot make the slot answer for other bytes.
   */
  remember(encoded: Uint8Array, state: SpqrRatchetState): void {
    const mine = this.#encoded;
    // A session's state mostly keeps its size from one message to the next:
    // overwrite the copy in place rather than allocate another 4 KB.
    if (mine !== undefined && mine.length === encoded.length) mine.set(encoded);
    else this.#encoded = encoded.slice();
    this.#state = state;
  }

  /** Drops the remembered state. */
  clear(): void {
    this.#encoded = undefined;
    this.#state = undefined;
  }
}

/** The public facts that name a session from one side (see `sessionKey`). */
export interface SpqrSessionIdentity {
  /** Our identity key, 33 bytes: tells the two ends of one session apart. */
  readonly localIdentityKey: Uint8Array;
  /** The initiator's base key, 33 bytes: fresh for every session. */
  readonly aliceBaseKey: Uint8Array;
}

/** Sessions with a remembered state; a process rarely runs more at once. */
const CAPACITY = 128;
const slots = new Map<string, SpqrStateSlot>();

/**
 * A map key from public bytes only (never from a secret): 16 bytes of the
 * random base key and 8 of our identity key, one UTF-16 unit per byte. Two
 * sessions sharing a key merely take turns in one slot; the byte comparison
 * keeps every answer right.
 */
function sessionKey(session: SpqrSessionIdentity): string {
  let key = '';
  const base = session.aliceBaseKey;
  const ours = session.localIdentityKey;
  for (let i = 1; i < 17 && i < base.length; i++) key += String.fromCharCode(base[i] ?? 0);
  for (let i = 1; i < 9 && i < ours.length; i++) key += String.fromCharCode(ours[i] ?? 0);
  return key;
}

/**
 * `decodeSpqrState(bytes)` for the stored SPQR state of `session`, from its
 * slot when the slot remembers exactly these bytes.
 */
export function cachedSpqrState(session: SpqrSessionIdentity, bytes: Uint8Array): SpqrRatchetState {
  const slot = slots.get(sessionKey(session));
  return slot === undefined ? decodeSpqrState(bytes) : slot.decode(bytes);
}

/**
 * Remembers `state` (whose encoding is exactly `encoded`) as the current SPQR
 * state of `session`, replacing what its slot held.
 */
export function rememberSpqrState(
  session: SpqrSessionIdentity,
  encoded: Uint8Array,
  state: SpqrRatchetState,
): void {
  const key = sessionKey(session);
  let slot = slots.get(key);
  if (slot !== undefined) {
    // Re-inserting keeps Map order least-recently-used first.
    slots.delete(key);
  } else {
    slot = new SpqrStateSlot();
  }
  slot.remember(encoded, state);
  slots.set(key, slot);
  while (slots.size > CAPACITY) {
    const oldest = slots.keys().next();
    if (oldest.done === true) break;
    slots.get(oldest.value)?.clear();
    slots.delete(oldest.value);
  }
}

/** Forgets every remembered state (tests; or a host wiping keys from memory). */
export function clearSpqrStateCache(): void {
  for (const slot of slots.values()) slot.clear();
  slots.clear();
}
