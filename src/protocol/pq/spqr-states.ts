/**
 * SPQR's epoch state machine, version 1 "chunked" (crate `spqr`,
 * `src/v1/chunked/states.rs`, `send_ek.rs`, `send_ct.rs` and the unchunked
 * steps under them). Each epoch one side streams an ML-KEM-768 header and
 * key, the other answers with a ciphertext; the two swap roles every epoch.
 *
 *   key side (A starts here, epoch 1)          ciphertext side (B starts here)
 *   keysUnsampled --send: sample keys-->        noHeaderReceived --header decoded, MAC ok-->
 *   keysSampled   (header chunks)               headerReceived --send: encapsulate1 (epoch secret)-->
 *     --first ct1 chunk-->                      ct1Sampled     (ct1 chunks; collects ek chunks)
 *   headerSent    (ek chunks; collects ct1)       --ek decoded--> ekReceivedCt1Sampled (ct1 chunks)
 *     --ct1 decoded-->                            --ack seen  --> ct1Acknowledged (sends none)
 *   ct1Received   (ek chunk + ct1 ack)            --both      --> ct2Sampled (ct2‖MAC chunks)
 *     --first ct2 chunk-->                      ct2Sampled --message of epoch + 1--> keysUnsampled
 *   ekSentCt1Received (ct1 acks)
 *     --ct2 decoded, MAC ok: epoch secret--> noHeaderReceived (epoch + 1)
 *
 * The epoch secret is `HKDF(salt = 32 × 0, ikm = ML-KEM secret, info =
 * "Signal_PQCKA_V1_MLKEM768:SCKA Key" ‖ epoch (u64 BE), 32)`; the
 * authenticator is updated with it before the ciphertext MAC. Header and
 * ciphertext travel with their MACs appended (96 and 160 bytes). A message
 * of a later epoch than the state's is refused ('invalid-message'), one of
 * an earlier epoch changes nothing. Every function here is pure: states are
 * plain values, never mutated; errors leave the caller's state as it was.
 */
import type { CryptoProvider, RandomSource } from '../../crypto/provider.js';
import { concatBytes } from '../bytes.js';
import { ProtocolError } from '../errors.js';
import {
  decapsulateSplit,
  ekMatchesHeader,
  encapsulate1,
  encapsulate2,
  generateSplitKeyPair,
  MLKEM768_CT1_LENGTH,
  MLKEM768_CT2_LENGTH,
  MLKEM768_EK_LENGTH,
  MLKEM768_HEADER_LENGTH,
} from './mlkem768-incremental.js';
import {
  macCiphertext,
  macHeader,
  SPQR_MAC_LENGTH,
  startAuthenticator,
  updateAuthenticator,
  type SpqrAuthenticator,
} from './spqr-authenticator.js';
import { encodeChunk, SpqrChunkDecoder } from './spqr-erasure.js';
import type { SpqrChunk } from './spqr-message.js';
import { SpqrMessageType } from './spqr-message.js';
import { bytesEqual } from '../bytes.js';

const SCKA_KEY_INFO = new TextEncoder().encode('Signal_PQCKA_V1_MLKEM768:SCKA Key');
const ZERO_SALT = new Uint8Array(32);
export const SPQR_HEADER_MESSAGE_LENGTH = MLKEM768_HEADER_LENGTH + SPQR_MAC_LENGTH;
export const SPQR_CT2_MESSAGE_LENGTH = MLKEM768_CT2_LENGTH + SPQR_MAC_LENGTH;

/** A message being streamed: the bytes and the index of the next chunk (wraps at 2^16). */
export interface SpqrSending {
  readonly message: Uint8Array;
  readonly next: number;
}

/** A message being collected: its length and the chunks that mattered so far. */
export interface SpqrReceiving {
  readonly length: number;
  readonly chunks: readonly SpqrChunk[];
}

interface Base {
  readonly epoch: number;
  readonly auth: SpqrAuthenticator;
}

/** The state of one side. Secret (keys, encapsulation state): never logged. */
export type SpqrV1State =
  | (Base & { readonly kind: 'keysUnsampled' })
  | (Base & {
      readonly kind: 'keysSampled';
      readonly ek: Uint8Array;
      readonly dk: Uint8Array;
      readonly sendingHeader: SpqrSending;
    })
  | (Base & {
      readonly kind: 'headerSent';
      readonly dk: Uint8Array;
      readonly sendingEk: SpqrSending;
      readonly receivingCt1: SpqrReceiving;
    })
  | (Base & {
      readonly kind: 'ct1Received';
      readonly dk: Uint8Array;
      readonly ct1: Uint8Array;
      readonly sendingEk: SpqrSending;
    })
  | (Base & {
      readonly kind: 'ekSentCt1Received';
      readonly dk: Uint8Array;
      readonly ct1: Uint8Array;
      readonly receivingCt2: SpqrReceiving;
    })
  | (Base & { readonly kind: 'noHeaderReceived'; readonly receivingHeader: SpqrReceiving })
  | (Base & {
      readonly kind: 'headerReceived';
      readonly header: Uint8Array;
      readonly receivingEk: SpqrReceiving;
    })
  | (Base & {
      readonly kind: 'ct1Sampled';
      readonly header: Uint8Array;
      readonly encapsulation: Uint8Array;
      readonly ct1: Uint8Array;
      readonly sendingCt1: SpqrSending;
      readonly receivingEk: SpqrReceiving;
    })
  | (Base & {
      readonly kind: 'ekReceivedCt1Sampled';
      readonly header: Uint8Array;
      readonly encapsulation: Uint8Array;
      readonly ek: Uint8Array;
      readonly ct1: Uint8Array;
      readonly sendingCt1: SpqrSending;
    })
  | (Base & {
      readonly kind: 'ct1Acknowledged';
      readonly header: Uint8Array;
      readonly encapsulation: Uint8Array;
      readonly ct1: Uint8Array;
      readonly receivingEk: SpqrReceiving;
    })
  | (Base & { readonly kind: 'ct2Sampled'; readonly sendingCt2: SpqrSending });

export type SpqrV1Kind = SpqrV1State['kind'];

/** What one message of this machine says (before the chain index is added). */
export interface SpqrPayload {
  readonly epoch: number;
  readonly type: SpqrMessageType;
  readonly chunk: SpqrChunk | undefined;
}

/** An epoch secret to add to the chain. Secret. */
export interface SpqrEpochSecret {
  readonly epoch: number;
  readonly secret: Uint8Array;
}

function receiving(length: number): SpqrReceiving {
  return { length, chunks: [] };
}

/** Adds a chunk; returns the new collection and the message once it decodes. */
function collect(
  r: SpqrReceiving,
  chunk: SpqrChunk,
): { readonly receiving: SpqrReceiving; readonly decoded: Uint8Array | undefined } {
  const decoder = new SpqrChunkDecoder(r.length);
  for (const c of r.chunks) decoder.add(c);
  const kept = decoder.add(chunk);
  return {
    receiving: kept ? { length: r.length, chunks: [...r.chunks, chunk] } : r,
    decoded: decoder.decoded(),
  };
}

function nextChunk(s: SpqrSending): { readonly sending: SpqrSending; readonly chunk: SpqrChunk } {
  return {
    chunk: encodeChunk(s.message, s.next),
    sending: { message: s.message, next: (s.next + 1) & 0xffff },
  };
}

function epochBytes(epoch: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(epoch), false);
  return out;
}

function sckaKey(crypto: CryptoProvider, secret: Uint8Array, epoch: number): Promise<Uint8Array> {
  return crypto.hkdfSha256(secret, ZERO_SALT, concatBytes(SCKA_KEY_INFO, epochBytes(epoch)), 32);
}

/** The state of the initiator (A, PQXDH's Alice) of a new session. */
export async function spqrInitA(crypto: CryptoProvider, authKey: Uint8Array): Promise<SpqrV1State> {
  return { kind: 'keysUnsampled', epoch: 1, auth: await startAuthenticator(crypto, authKey) };
}

/** The state of the responder (B). */
export async function spqrInitB(crypto: CryptoProvider, authKey: Uint8Array): Promise<SpqrV1State> {
  return {
    kind: 'noHeaderReceived',
    epoch: 1,
    auth: await startAuthenticator(crypto, authKey),
    receivingHeader: receiving(SPQR_HEADER_MESSAGE_LENGTH),
  };
}

export interface SpqrV1Send {
  readonly state: SpqrV1State;
  readonly payload: SpqrPayload;
  readonly epochSecret: SpqrEpochSecret | undefined;
}

function payload(epoch: number, type: SpqrMessageType, chunk?: SpqrChunk): SpqrPayload {
  return { epoch, type, chunk };
}

/** The next message's payload and the state after it (spqr `States::send`). */
export async function spqrV1Send(
  crypto: CryptoProvider,
  state: SpqrV1State,
  random: RandomSource,
): Promise<SpqrV1Send> {
  const { epoch } = state;
  switch (state.kind) {
    case 'keysUnsampled': {
      const keys = generateSplitKeyPair(random);
      const mac = await macHeader(crypto, state.auth, epoch, keys.header);
      const { sending, chunk } = nextChunk({ message: concatBytes(keys.header, mac), next: 0 });
      return {
        state: { ...state, kind: 'keysSampled', ek: keys.ek, dk: keys.dk, sendingHeader: sending },
        payload: payload(epoch, SpqrMessageType.header, chunk),
        epochSecret: undefined,
      };
    }
    case 'keysSampled': {
      const { sending, chunk } = nextChunk(state.sendingHeader);
      return {
        state: { ...state, sendingHeader: sending },
        payload: payload(epoch, SpqrMessageType.header, chunk),
        epochSecret: undefined,
      };
    }
    case 'headerSent': {
      const { sending, chunk } = nextChunk(state.sendingEk);
      return {
        state: { ...state, sendingEk: sending },
        payload: payload(epoch, SpqrMessageType.encapsulationKey, chunk),
        epochSecret: undefined,
      };
    }
    case 'ct1Received': {
      const { sending, chunk } = nextChunk(state.sendingEk);
      return {
        state: { ...state, sendingEk: sending },
        payload: payload(epoch, SpqrMessageType.encapsulationKeyCt1Ack, chunk),
        epochSecret: undefined,
      };
    }
    case 'ekSentCt1Received':
      return { state, payload: payload(epoch, SpqrMessageType.ct1Ack), epochSecret: undefined };
    case 'noHeaderReceived':
      return { state, payload: payload(epoch, SpqrMessageType.none), epochSecret: undefined };
    case 'headerReceived': {
      const first = encapsulate1(state.header, random);
      const secret = await sckaKey(crypto, first.sharedSecret, epoch);
      first.sharedSecret.fill(0);
      const auth = await updateAuthenticator(crypto, state.auth, epoch, secret);
      const { sending, chunk } = nextChunk({ message: first.ct1, next: 0 });
      return {
        state: {
          kind: 'ct1Sampled',
          epoch,
          auth,
          header: state.header,
          encapsulation: first.state,
          ct1: first.ct1,
          sendingCt1: sending,
          receivingEk: state.receivingEk,
        },
        payload: payload(epoch, SpqrMessageType.ct1, chunk),
        epochSecret: { epoch, secret },
      };
    }
    case 'ct1Sampled':
    case 'ekReceivedCt1Sampled': {
      const { sending, chunk } = nextChunk(state.sendingCt1);
      return {
        state: { ...state, sendingCt1: sending },
        payload: payload(epoch, SpqrMessageType.ct1, chunk),
        epochSecret: undefined,
      };
    }
    case 'ct1Acknowledged':
      return { state, payload: payload(epoch, SpqrMessageType.none), epochSecret: undefined };
    case 'ct2Sampled': {
      const { sending, chunk } = nextChunk(state.sendingCt2);
      return {
        state: { ...state, sendingCt2: sending },
        payload: payload(epoch, SpqrMessageType.ct2, chunk),
        epochSecret: undefined,
      };
    }
  }
}

export interface SpqrV1Recv {
  readonly state: SpqrV1State;
  readonly epochSecret: SpqrEpochSecret | undefined;
}

function epochOutOfRange(epoch: number): ProtocolError {
  return new ProtocolError('invalid-message', `SPQR epoch ${epoch} out of range`);
}

/** ct2 ‖ MAC to stream, once the key is in and ct1 acknowledged (spqr `send_ct2`). */
async function sampleCt2(
  crypto: CryptoProvider,
  s: {
    epoch: number;
    auth: SpqrAuthenticator;
    header: Uint8Array;
    encapsulation: Uint8Array;
    ct1: Uint8Array;
  },
  ek: Uint8Array,
): Promise<SpqrV1State> {
  const ct2 = encapsulate2(ek, s.header, s.encapsulation);
  const mac = await macCiphertext(crypto, s.auth, s.epoch, concatBytes(s.ct1, ct2));
  return {
    kind: 'ct2Sampled',
    epoch: s.epoch,
    auth: s.auth,
    sendingCt2: { message: concatBytes(ct2, mac), next: 0 },
  };
}

function checkEk(ek: Uint8Array, header: Uint8Array): void {
  if (!ekMatchesHeader(ek, header)) {
    throw new ProtocolError('invalid-message', 'SPQR encapsulation key does not match its header');
  }
}

/** The state after receiving a message's payload (spqr `States::recv`). */
export async function spqrV1Recv(
  crypto: CryptoProvider,
  state: SpqrV1State,
  msg: SpqrPayload,
): Promise<SpqrV1Recv> {
  const unchanged: SpqrV1Recv = { state, epochSecret: undefined };
  if (msg.epoch > state.epoch) {
    if (state.kind === 'ct2Sampled' && msg.epoch === state.epoch + 1) {
      return {
        state: { kind: 'keysUnsampled', epoch: msg.epoch, auth: state.auth },
        epochSecret: undefined,
      };
    }
    throw epochOutOfRange(msg.epoch);
  }
  if (msg.epoch < state.epoch) return unchanged;
  const chunk = msg.chunk;
  switch (state.kind) {
    case 'keysUnsampled':
    case 'headerReceived':
    case 'ct2Sampled':
      return unchanged;
    case 'keysSampled': {
      if (msg.type !== SpqrMessageType.ct1 || chunk === undefined) return unchanged;
      const { receiving: receivingCt1 } = collect(receiving(MLKEM768_CT1_LENGTH), chunk);
      return {
        state: {
          kind: 'headerSent',
          epoch: state.epoch,
          auth: state.auth,
          dk: state.dk,
          sendingEk: { message: state.ek, next: 0 },
          receivingCt1,
        },
        epochSecret: undefined,
      };
    }
    case 'headerSent': {
      if (msg.type !== SpqrMessageType.ct1 || chunk === undefined) return unchanged;
      const { receiving: receivingCt1, decoded } = collect(state.receivingCt1, chunk);
      if (decoded === undefined)
        return { state: { ...state, receivingCt1 }, epochSecret: undefined };
      return {
        state: {
          kind: 'ct1Received',
          epoch: state.epoch,
          auth: state.auth,
          dk: state.dk,
          ct1: decoded,
          sendingEk: state.sendingEk,
        },
        epochSecret: undefined,
      };
    }
    case 'ct1Received': {
      if (msg.type !== SpqrMessageType.ct2 || chunk === undefined) return unchanged;
      const { receiving: receivingCt2 } = collect(receiving(SPQR_CT2_MESSAGE_LENGTH), chunk);
      return {
        state: {
          kind: 'ekSentCt1Received',
          epoch: state.epoch,
          auth: state.auth,
          dk: state.dk,
          ct1: state.ct1,
          receivingCt2,
        },
        epochSecret: undefined,
      };
    }
    case 'ekSentCt1Received': {
      if (msg.type !== SpqrMessageType.ct2 || chunk === undefined) return unchanged;
      const { receiving: receivingCt2, decoded } = collect(state.receivingCt2, chunk);
      if (decoded === undefined)
        return { state: { ...state, receivingCt2 }, epochSecret: undefined };
      const ct2 = decoded.subarray(0, MLKEM768_CT2_LENGTH);
      const mac = decoded.subarray(MLKEM768_CT2_LENGTH);
      const shared = decapsulateSplit(state.dk, state.ct1, ct2);
      const secret = await sckaKey(crypto, shared, state.epoch);
      shared.fill(0);
      const auth = await updateAuthenticator(crypto, state.auth, state.epoch, secret);
      const expected = await macCiphertext(crypto, auth, state.epoch, concatBytes(state.ct1, ct2));
      if (!bytesEqual(expected, mac)) {
        throw new ProtocolError('bad-mac', 'SPQR ciphertext MAC does not verify');
      }
      return {
        state: {
          kind: 'noHeaderReceived',
          epoch: state.epoch + 1,
          auth,
          receivingHeader: receiving(SPQR_HEADER_MESSAGE_LENGTH),
        },
        epochSecret: { epoch: state.epoch, secret },
      };
    }
    case 'noHeaderReceived': {
      if (msg.type !== SpqrMessageType.header || chunk === undefined) return unchanged;
      const { receiving: receivingHeader, decoded } = collect(state.receivingHeader, chunk);
      if (decoded === undefined) {
        return { state: { ...state, receivingHeader }, epochSecret: undefined };
      }
      const header = decoded.slice(0, MLKEM768_HEADER_LENGTH);
      const expected = await macHeader(crypto, state.auth, state.epoch, header);
      if (!bytesEqual(expected, decoded.subarray(MLKEM768_HEADER_LENGTH))) {
        throw new ProtocolError('bad-mac', 'SPQR header MAC does not verify');
      }
      return {
        state: {
          kind: 'headerReceived',
          epoch: state.epoch,
          auth: state.auth,
          header,
          receivingEk: receiving(MLKEM768_EK_LENGTH),
        },
        epochSecret: undefined,
      };
    }
    case 'ct1Sampled': {
      const ack = msg.type === SpqrMessageType.encapsulationKeyCt1Ack;
      if (!(ack || msg.type === SpqrMessageType.encapsulationKey) || chunk === undefined) {
        return unchanged;
      }
      const { receiving: receivingEk, decoded } = collect(state.receivingEk, chunk);
      if (decoded !== undefined) {
        checkEk(decoded, state.header);
        if (ack) return { state: await sampleCt2(crypto, state, decoded), epochSecret: undefined };
        return {
          state: {
            kind: 'ekReceivedCt1Sampled',
            epoch: state.epoch,
            auth: state.auth,
            header: state.header,
            encapsulation: state.encapsulation,
            ek: decoded,
            ct1: state.ct1,
            sendingCt1: state.sendingCt1,
          },
          epochSecret: undefined,
        };
      }
      if (ack) {
        return {
          state: {
            kind: 'ct1Acknowledged',
            epoch: state.epoch,
            auth: state.auth,
            header: state.header,
            encapsulation: state.encapsulation,
            ct1: state.ct1,
            receivingEk,
          },
          epochSecret: undefined,
        };
      }
      return { state: { ...state, receivingEk }, epochSecret: undefined };
    }
    case 'ekReceivedCt1Sampled':
      if (
        msg.type === SpqrMessageType.ct1Ack ||
        msg.type === SpqrMessageType.encapsulationKeyCt1Ack
      ) {
        return { state: await sampleCt2(crypto, state, state.ek), epochSecret: undefined };
      }
      return unchanged;
    case 'ct1Acknowledged': {
      const isEk =
        msg.type === SpqrMessageType.encapsulationKey ||
        msg.type === SpqrMessageType.encapsulationKeyCt1Ack;
      if (!isEk || chunk === undefined) return unchanged;
      const { receiving: receivingEk, decoded } = collect(state.receivingEk, chunk);
      if (decoded === undefined)
        return { state: { ...state, receivingEk }, epochSecret: undefined };
      checkEk(decoded, state.header);
      return { state: await sampleCt2(crypto, state, decoded), epochSecret: undefined };
    }
  }
}
