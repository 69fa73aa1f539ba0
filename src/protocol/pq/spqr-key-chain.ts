/**
 * SPQR's key chain across epochs (crate `spqr`, `src/chain.rs` `Chain`):
 * one send and one receive direction per epoch, the epochs still needed,
 * and the keys skipped over for out-of-order messages. The KDFs are in
 * `spqr-chain.ts`.
 *
 * - `links` holds epochs `currentEpoch − links.length + 1 … currentEpoch`.
 * - Sending moves `sendEpoch` forward only; when it moves, all but one epoch
 *   before it are dropped and the older epochs' send seeds erased.
 * - Receiving key `at` of an epoch: ahead of the counter by more than
 *   `maxJump` is refused; skipped keys within `maxOooKeys` of `at` are kept
 *   (as 4-byte BE index ‖ 32-byte key entries, spqr's `KeyHistory` layout);
 *   once the history holds `maxOooKeys × 11/10 + 1` entries, those older
 *   than `ctr − maxOooKeys` are dropped; a key is handed out once.
 *
 * Pure: every function returns a new chain and leaves its input unchanged.
 */
import type { CryptoProvider } from '../../crypto/provider.js';
import { concatBytes } from '../bytes.js';
import { ProtocolError } from '../errors.js';
import {
  spqrAddEpoch,
  spqrChainStart,
  spqrNextKey,
  type SpqrChainDirection,
} from './spqr-chain.js';

export type SpqrDirection = 'a2b' | 'b2a';

export const SPQR_DEFAULT_MAX_JUMP = 25_000;
export const SPQR_DEFAULT_MAX_OOO_KEYS = 2_000;
const ENTRY = 36;

/** One direction of one epoch. `next` is empty once erased. Secret. */
export interface SpqrChainHalf {
  readonly ctr: number;
  readonly next: Uint8Array;
  /** Skipped keys: 36-byte entries index (u32 BE) ‖ key. */
  readonly prev: Uint8Array;
}

export interface SpqrChainLink {
  readonly send: SpqrChainHalf;
  readonly recv: SpqrChainHalf;
}

/** The whole chain. Secret: never logged. */
export interface SpqrKeyChain {
  readonly direction: SpqrDirection;
  readonly currentEpoch: number;
  readonly sendEpoch: number;
  readonly links: readonly SpqrChainLink[];
  readonly nextRoot: Uint8Array;
  readonly maxJump: number;
  readonly maxOooKeys: number;
}

function link(
  chains: { a2b: SpqrChainDirection; b2a: SpqrChainDirection },
  dir: SpqrDirection,
): SpqrChainLink {
  const mine = dir === 'a2b' ? chains.a2b : chains.b2a;
  const theirs = dir === 'a2b' ? chains.b2a : chains.a2b;
  return {
    send: { ctr: 0, next: mine.next, prev: new Uint8Array(0) },
    recv: { ctr: 0, next: theirs.next, prev: new Uint8Array(0) },
  };
}

/** A new chain at epoch 0 from PQXDH's PQR key. */
export async function newSpqrKeyChain(
  crypto: CryptoProvider,
  authKey: Uint8Array,
  direction: SpqrDirection,
): Promise<SpqrKeyChain> {
  const start = await spqrChainStart(crypto, authKey);
  return {
    direction,
    currentEpoch: 0,
    sendEpoch: 0,
    links: [link(start, direction)],
    nextRoot: start.nextRoot,
    maxJump: SPQR_DEFAULT_MAX_JUMP,
    maxOooKeys: SPQR_DEFAULT_MAX_OOO_KEYS,
  };
}

/** Adds epoch `epoch` (must be `currentEpoch + 1`). */
export async function addSpqrEpoch(
  crypto: CryptoProvider,
  chain: SpqrKeyChain,
  epoch: number,
  secret: Uint8Array,
): Promise<SpqrKeyChain> {
  if (epoch !== chain.currentEpoch + 1) {
    throw new ProtocolError('invalid-state', 'SPQR epoch added out of order');
  }
  const next = await spqrAddEpoch(crypto, chain.nextRoot, secret);
  return {
    ...chain,
    currentEpoch: epoch,
    nextRoot: next.nextRoot,
    links: [...chain.links, link(next, chain.direction)],
  };
}

function epochIndex(chain: SpqrKeyChain, epoch: number): number {
  const back = chain.currentEpoch - epoch;
  if (epoch > chain.currentEpoch || back >= chain.links.length) {
    throw new ProtocolError('invalid-message', `SPQR key epoch ${epoch} not available`);
  }
  return chain.links.length - 1 - back;
}

async function step(
  crypto: CryptoProvider,
  half: SpqrChainHalf,
): Promise<{ ctr: number; next: Uint8Array; key: Uint8Array }> {
  if (half.next.length !== 32) throw new ProtocolError('invalid-state', 'SPQR chain erased');
  const out = await spqrNextKey(crypto, { ctr: half.ctr, next: half.next });
  return { ctr: out.chain.ctr, next: out.chain.next, key: out.key };
}

/** The next send key of `epoch` and its index (spqr `Chain::send_key`). */
export async function spqrSendKey(
  crypto: CryptoProvider,
  chain: SpqrKeyChain,
  epoch: number,
): Promise<{ readonly chain: SpqrKeyChain; readonly index: number; readonly key: Uint8Array }> {
  if (epoch < chain.sendEpoch) {
    throw new ProtocolError('invalid-state', 'SPQR send epoch decreased');
  }
  let idx = epochIndex(chain, epoch);
  let links = [...chain.links];
  if (chain.sendEpoch !== epoch) {
    // Keep one epoch before the new send epoch; erase the older send seeds.
    while (idx > 1) {
      links.shift();
      idx--;
    }
    links = links.map((l, i) =>
      i < idx ? { ...l, send: { ...l.send, next: new Uint8Array(0) } } : l,
    );
  }
  const current = links[idx];
  if (current === undefined) throw new ProtocolError('invalid-state', 'SPQR chain link missing');
  const s = await step(crypto, current.send);
  links[idx] = { ...current, send: { ctr: s.ctr, next: s.next, prev: current.send.prev } };
  return { chain: { ...chain, sendEpoch: epoch, links }, index: s.ctr, key: s.key };
}

function entryIndex(prev: Uint8Array, at: number): number {
  return new DataView(prev.buffer, prev.byteOffset + at, 4).getUint32(0, false);
}

/** Swap-removes the entry at byte offset `at` (spqr `KeyHistory::remove`). */
function removeEntry(prev: Uint8Array, at: number): Uint8Array {
  const out = prev.slice();
  const last = out.length - ENTRY;
  if (at < last) out.copyWithin(at, last);
  return out.slice(0, last);
}

function gc(prev: Uint8Array, ctr: number, maxOoo: number): Uint8Array {
  const trimSize = Math.floor((maxOoo * 11) / 10) + 1;
  if (prev.length < trimSize * ENTRY) return prev;
  const horizon = ctr - maxOoo;
  let out = prev;
  let i = 0;
  while (i < out.length) {
    if (entryIndex(out, i) < horizon) out = removeEntry(out, i);
    else i += ENTRY;
  }
  return out;
}

async function halfKey(
  crypto: CryptoProvider,
  half: SpqrChainHalf,
  at: number,
  chain: SpqrKeyChain,
): Promise<{ readonly half: SpqrChainHalf; readonly key: Uint8Array }> {
  if (at < half.ctr) {
    if (at + chain.maxOooKeys < half.ctr) {
      throw new ProtocolError('duplicate-message', `SPQR key ${at} trimmed`);
    }
    for (let i = 0; i < half.prev.length; i += ENTRY) {
      if (entryIndex(half.prev, i) === at) {
        const key = half.prev.slice(i + 4, i + ENTRY);
        return { half: { ...half, prev: removeEntry(half.prev, i) }, key };
      }
    }
    throw new ProtocolError('duplicate-message', `SPQR key ${at} already used`);
  }
  if (at === half.ctr) throw new ProtocolError('duplicate-message', `SPQR key ${at} already used`);
  if (at - half.ctr > chain.maxJump) {
    throw new ProtocolError('too-far-in-future', 'SPQR key index too far ahead');
  }
  let prev = at > half.ctr + chain.maxOooKeys ? new Uint8Array(0) : half.prev;
  let cur = { ctr: half.ctr, next: half.next };
  const kept: Uint8Array[] = [prev];
  while (at > cur.ctr + 1) {
    const s = await step(crypto, { ...cur, prev });
    cur = { ctr: s.ctr, next: s.next };
    if (cur.ctr + chain.maxOooKeys >= at) {
      const entry = new Uint8Array(ENTRY);
      new DataView(entry.buffer).setUint32(0, cur.ctr, false);
      entry.set(s.key, 4);
      kept.push(entry);
    }
  }
  // In order (nothing skipped), the history is shared, not copied: chains
  // are never written in place, and it can hold 2,000 keys (72 KB).
  prev = gc(kept.length === 1 ? prev : concatBytes(...kept), cur.ctr, chain.maxOooKeys);
  const last = await step(crypto, { ...cur, prev });
  return { half: { ctr: last.ctr, next: last.next, prev }, key: last.key };
}

/** The receive key of `index` in `epoch` (spqr `Chain::recv_key`). */
export async function spqrRecvKey(
  crypto: CryptoProvider,
  chain: SpqrKeyChain,
  epoch: number,
  index: number,
): Promise<{ readonly chain: SpqrKeyChain; readonly key: Uint8Array }> {
  const idx = epochIndex(chain, epoch);
  const current = chain.links[idx];
  if (current === undefined) throw new ProtocolError('invalid-state', 'SPQR chain link missing');
  const { half, key } = await halfKey(crypto, current.recv, index, chain);
  const links = [...chain.links];
  links[idx] = { ...current, recv: half };
  return { chain: { ...chain, links }, key };
}
