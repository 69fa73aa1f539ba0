/**
 * Reuses a session's decoded SPQR state across session record loads.
 *
 * A v4 session stores its SPQR state as ~4 KB of protobuf inside the
 * session record, and stores hand out a fresh record copy on every load.
 * Without this every message would parse those bytes back into the very
 * state the previous message of the session had just produced and encoded
 * (about a tenth of a 1:1 encrypt, counting the garbage it makes).
 *
 * One slot per (session store, remote address): the state the last
 * successful operation produced, with a private copy of its encoded bytes.
 * A slot hands its state out only for bytes equal to that copy in full
 * (compared without an early exit), so a record that changed in any way —
 * another device's write, a restored backup, a corrupt store, a different
 * archived state — is decoded from its bytes as before. Handing out the same
 * object twice is safe because SPQR states are never mutated: every SPQR
 * step returns a new state (`spqr-states.ts`, `spqr-key-chain.ts`).
 *
 * Lifetime: slots hang off the session store object weakly, so they go
 * with the store; at most `SLOTS_PER_STORE` addresses per store are kept
 * (least recently used go first); a slot is overwritten by the next state
 * of its session and emptied when its address has no record. It never
 * holds more than the store itself holds for that address.
 */
import { decodeSpqrState } from './spqr-state-codec.js';
import type { SpqrRatchetState } from './spqr-ratchet.js';

/** Addresses with a remembered state, per session store. */
const SLOTS_PER_STORE = 256;

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
    this.#encoded = encoded.slice();
    this.#state = state;
  }

  /** Drops the remembered state. */
  clear(): void {
    this.#encoded = undefined;
    this.#state = undefined;
  }
}

const slotsByStore = new WeakMap<object, Map<string, SpqrStateSlot>>();

/**
 * The slot for `address` (any string naming one remote device) in the
 * session store `store` (any object: only its identity is used), created
 * empty on first use.
 */
export function spqrStateSlot(store: object, address: string): SpqrStateSlot {
  let slots = slotsByStore.get(store);
  if (slots === undefined) {
    slots = new Map();
    slotsByStore.set(store, slots);
  }
  let slot = slots.get(address);
  if (slot !== undefined) {
    // Re-inserting keeps Map order least-recently-used first.
    slots.delete(address);
  } else {
    slot = new SpqrStateSlot();
  }
  slots.set(address, slot);
  while (slots.size > SLOTS_PER_STORE) {
    const oldest = slots.keys().next();
    if (oldest.done === true) break;
    slots.get(oldest.value)?.clear();
    slots.delete(oldest.value);
  }
  return slot;
}
