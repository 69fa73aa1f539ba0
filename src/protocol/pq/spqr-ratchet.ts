/**
 * The Sparse Post-Quantum Ratchet as a session uses it (crate `spqr`,
 * `src/lib.rs`): one state per session, `send` once per outgoing message and
 * `recv` once per incoming one. Each gives the message's SPQR key — the salt
 * of its Double Ratchet message keys — and the bytes of the v4
 * SignalMessage's `pq_ratchet` field.
 *
 * State = version negotiation (auth key, direction, minimum version; kept
 * until the first message arrives), the key chain (made from the auth key
 * when first needed) and the v1 epoch state machine (`spqr-states.ts`).
 *
 * Versions: Quintet only creates version-1 states with minimum version 1,
 * as libsignal does ("Require that all clients speak SPQR"). A message of a
 * version we do not know (first byte > 1) is ignored as spqr does; an empty
 * field (version 0) is a downgrade and refused: 'invalid-version'.
 *
 * A message's key: the `index`-th key of the sender's chain in epoch
 * `epoch − 1`, after the epoch secret this very step produced (if any) is
 * added. Index 0 of epoch 0 (only from a peer without a chain) is "no key".
 */
import type { CryptoProvider, RandomSource } from '../../crypto/provider.js';
import { ProtocolError } from '../errors.js';
import {
  addSpqrEpoch,
  newSpqrKeyChain,
  spqrRecvKey,
  spqrSendKey,
  type SpqrDirection,
  type SpqrKeyChain,
} from './spqr-key-chain.js';
import { decodeSpqrMessage, encodeSpqrMessage, SPQR_VERSION_1 } from './spqr-message.js';
import {
  spqrInitA,
  spqrInitB,
  spqrV1Recv,
  spqrV1Send,
  type SpqrEpochSecret,
  type SpqrV1State,
} from './spqr-states.js';

export interface SpqrNegotiation {
  readonly authKey: Uint8Array;
  readonly direction: SpqrDirection;
  readonly minVersion: number;
}

/** A session's SPQR state. Secret: never logged. */
export interface SpqrRatchetState {
  readonly negotiation: SpqrNegotiation | undefined;
  readonly chain: SpqrKeyChain | undefined;
  /** Undefined only for a version-0 (no SPQR) state, which Quintet never creates. */
  readonly v1: SpqrV1State | undefined;
}

/**
 * A new session's state from PQXDH's third 32 bytes. `direction` 'a2b' for
 * the PQXDH initiator (Alice), 'b2a' for the responder.
 */
export async function spqrInitialState(
  crypto: CryptoProvider,
  authKey: Uint8Array,
  direction: SpqrDirection,
): Promise<SpqrRatchetState> {
  const v1 =
    direction === 'a2b' ? await spqrInitA(crypto, authKey) : await spqrInitB(crypto, authKey);
  return { negotiation: { authKey, direction, minVersion: SPQR_VERSION_1 }, chain: undefined, v1 };
}

/** Whether negotiation is over (a message has been received) with SPQR on. */
export function spqrIsEstablished(state: SpqrRatchetState): boolean {
  return state.v1 !== undefined;
}

export interface SpqrSendResult {
  readonly state: SpqrRatchetState;
  /** The `pq_ratchet` field. */
  readonly message: Uint8Array;
  /** The message-key salt; undefined means none (v3 derivation). Secret. */
  readonly key: Uint8Array | undefined;
}

/** The chain, made from the negotiation's auth key on first use. */
async function chainOf(crypto: CryptoProvider, state: SpqrRatchetState): Promise<SpqrKeyChain> {
  if (state.chain !== undefined) return state.chain;
  const n = state.negotiation;
  if (n === undefined) throw new ProtocolError('invalid-state', 'SPQR chain not available');
  return newSpqrKeyChain(crypto, n.authKey, n.direction);
}

async function withEpoch(
  crypto: CryptoProvider,
  chain: SpqrKeyChain,
  secret: SpqrEpochSecret | undefined,
): Promise<SpqrKeyChain> {
  return secret === undefined ? chain : addSpqrEpoch(crypto, chain, secret.epoch, secret.secret);
}

/** The next outgoing message's SPQR part (spqr `send`). */
export async function spqrSend(
  crypto: CryptoProvider,
  state: SpqrRatchetState,
  random: RandomSource,
): Promise<SpqrSendResult> {
  if (state.v1 === undefined) return { state, message: new Uint8Array(0), key: undefined };
  const sent = await spqrV1Send(crypto, state.v1, random);
  // A state still negotiating down to version 0 would send without keys; Quintet never makes one.
  const noKeys =
    state.chain === undefined && (state.negotiation?.minVersion ?? SPQR_VERSION_1) < SPQR_VERSION_1;
  const chain0 = noKeys ? undefined : await chainOf(crypto, state);
  let index = 0;
  let key: Uint8Array | undefined;
  let chain: SpqrKeyChain | undefined;
  if (chain0 !== undefined) {
    const out = await spqrSendKey(
      crypto,
      await withEpoch(crypto, chain0, sent.epochSecret),
      sent.payload.epoch - 1,
    );
    chain = out.chain;
    index = out.index;
    key = out.key;
  }
  const message = encodeSpqrMessage({ ...sent.payload, index });
  return { state: { negotiation: state.negotiation, chain, v1: sent.state }, message, key };
}

export interface SpqrRecvResult {
  readonly state: SpqrRatchetState;
  /** The message-key salt; undefined means none. Secret. */
  readonly key: Uint8Array | undefined;
}

/**
 * Processes an incoming `pq_ratchet` field (spqr `recv`). Throws a typed
 * error for a malformed message, a downgrade, a bad MAC or a key that is
 * gone; the input state is never changed.
 */
export async function spqrRecv(
  crypto: CryptoProvider,
  state: SpqrRatchetState,
  bytes: Uint8Array,
): Promise<SpqrRecvResult> {
  const version = bytes.length === 0 ? 0 : (bytes[0] ?? 0);
  // A newer version than ours: ignored, so a future peer can still talk to us.
  if (version > SPQR_VERSION_1) return { state, key: undefined };
  const ours = state.v1 === undefined ? 0 : SPQR_VERSION_1;
  if (version < ours) {
    if (state.negotiation === undefined) {
      throw new ProtocolError('invalid-version', 'SPQR version mismatch after negotiation');
    }
    // Quintet states always have minimum version 1: no downgrade is allowed.
    throw new ProtocolError('invalid-version', 'SPQR below the minimum version');
  }
  if (state.v1 === undefined) return { state, key: undefined };
  const msg = decodeSpqrMessage(bytes);
  if (msg === undefined) throw new ProtocolError('invalid-message', 'SPQR message missing');
  const received = await spqrV1Recv(crypto, state.v1, {
    epoch: msg.epoch,
    type: msg.type,
    chunk: msg.chunk,
  });
  let chain = await withEpoch(crypto, await chainOf(crypto, state), received.epochSecret);
  let key: Uint8Array | undefined;
  if (!(msg.epoch === 1 && msg.index === 0)) {
    const out = await spqrRecvKey(crypto, chain, msg.epoch - 1, msg.index);
    chain = out.chain;
    key = out.key;
  }
  return { state: { negotiation: undefined, chain, v1: received.state }, key };
}
