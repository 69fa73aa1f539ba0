/**
 * The symmetric part of SPQR: the per-epoch key chains that turn SPQR's
 * epoch secrets into one key per message (crate `spqr`, `src/chain.rs`).
 * That per-message key is the HKDF salt of libsignal's message keys
 * (`ratchet/keys.rs` `MessageKeys::derive_keys`), which is how SPQR is mixed
 * into the Double Ratchet.
 *
 *   start:     HKDF(salt = 32 × 0, ikm = PQR key from PQXDH,
 *                   info = "Signal PQ Ratchet V1 Chain  Start", 96)
 *                → next root ‖ A→B chain seed ‖ B→A chain seed   (epoch 0)
 *   add epoch: HKDF(salt = next root, ikm = epoch secret,
 *                   info = "Signal PQ Ratchet V1 Chain Add Epoch", 96)
 *                → next root ‖ A→B chain seed ‖ B→A chain seed
 *   next key:  ctr += 1; HKDF(salt = 32 × 0, ikm = chain seed,
 *                   info = ctr (uint32 big-endian) ‖ "Signal PQ Ratchet V1 Chain Next", 64)
 *                → chain seed' ‖ message key (the key of index ctr)
 *
 * ("Chain  Start" has two spaces in spqr.) A = the PQXDH initiator. Index 0
 * of epoch 0 means "no key": libsignal then derives the message keys with
 * no salt, exactly as in v3. Only these KDFs are here; the epoch state
 * machine (ML-KEM-768 chunks, erasure coding) is future work.
 */
import type { CryptoProvider } from '../../crypto/provider.js';
import { ProtocolError } from '../errors.js';

const ZERO_SALT = new Uint8Array(32);
const START_INFO = new TextEncoder().encode('Signal PQ Ratchet V1 Chain  Start');
const ADD_EPOCH_INFO = new TextEncoder().encode('Signal PQ Ratchet V1 Chain Add Epoch');
const NEXT_INFO = new TextEncoder().encode('Signal PQ Ratchet V1 Chain Next');
/** spqr's default `max_jump`: how far ahead of its counter a chain may be asked for a key. */
export const SPQR_MAX_JUMP = 25_000;

/** One direction's chain in one epoch. Secret: never logged. */
export interface SpqrChainDirection {
  /** The counter of the last key produced (0 before the first). */
  readonly ctr: number;
  /** The 32-byte seed of the next key. */
  readonly next: Uint8Array;
}

/** The chains of one epoch and the root for the next. */
export interface SpqrEpochChains {
  readonly nextRoot: Uint8Array;
  readonly a2b: SpqrChainDirection;
  readonly b2a: SpqrChainDirection;
}

function split(okm: Uint8Array): SpqrEpochChains {
  return {
    nextRoot: okm.slice(0, 32),
    a2b: { ctr: 0, next: okm.slice(32, 64) },
    b2a: { ctr: 0, next: okm.slice(64, 96) },
  };
}

/** Epoch 0's chains from the PQXDH PQR key. */
export async function spqrChainStart(
  crypto: CryptoProvider,
  pqrKey: Uint8Array,
): Promise<SpqrEpochChains> {
  return split(await crypto.hkdfSha256(pqrKey, ZERO_SALT, START_INFO, 96));
}

/** The next epoch's chains from the previous next-root and the new epoch secret. */
export async function spqrAddEpoch(
  crypto: CryptoProvider,
  nextRoot: Uint8Array,
  epochSecret: Uint8Array,
): Promise<SpqrEpochChains> {
  return split(await crypto.hkdfSha256(epochSecret, nextRoot, ADD_EPOCH_INFO, 96));
}

/** One step: the key of index `chain.ctr + 1` and the chain after it. */
export async function spqrNextKey(
  crypto: CryptoProvider,
  chain: SpqrChainDirection,
): Promise<{ readonly chain: SpqrChainDirection; readonly key: Uint8Array }> {
  const ctr = chain.ctr + 1;
  if (ctr > 0xffffffff) throw new ProtocolError('invalid-state', 'SPQR chain exhausted');
  const info = new Uint8Array(4 + NEXT_INFO.length);
  new DataView(info.buffer).setUint32(0, ctr, false);
  info.set(NEXT_INFO, 4);
  const okm = await crypto.hkdfSha256(chain.next, ZERO_SALT, info, 64);
  return { chain: { ctr, next: okm.slice(0, 32) }, key: okm.slice(32, 64) };
}

/**
 * The key of index `at` (> `chain.ctr`), walking forward; skipped keys are
 * not kept (that is the state machine's job). 'too-far-in-future' past
 * spqr's jump limit, so a peer cannot make us hash without bound.
 */
export async function spqrKeyAt(
  crypto: CryptoProvider,
  chain: SpqrChainDirection,
  at: number,
): Promise<{ readonly chain: SpqrChainDirection; readonly key: Uint8Array }> {
  if (!Number.isInteger(at) || at <= chain.ctr) {
    throw new ProtocolError('duplicate-message', 'SPQR key index already used');
  }
  if (at - chain.ctr > SPQR_MAX_JUMP) {
    throw new ProtocolError('too-far-in-future', 'SPQR key index too far ahead');
  }
  let step = await spqrNextKey(crypto, chain);
  while (step.chain.ctr < at) step = await spqrNextKey(crypto, step.chain);
  return step;
}
