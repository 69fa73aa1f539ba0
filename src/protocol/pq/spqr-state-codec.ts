/**
 * Storage form of a session's SPQR state (Quintet's own layout, protobuf
 * wire format, kept inside the v4 session state):
 *
 *   SpqrState   { 1 negotiation: {1 auth_key, 2 direction (1 A→B, 2 B→A), 3 min_version},
 *                 2 chain: KeyChain, 3 v1: V1State }
 *   KeyChain    { 1 direction, 2 current_epoch, 3 send_epoch, 4 links (repeated
 *                 {1 send: Half, 2 recv: Half}), 5 next_root, 6 max_jump, 7 max_ooo_keys }
 *   Half        { 1 ctr, 2 next (32 bytes or empty once erased), 3 prev (36-byte entries) }
 *   V1State     { 1 kind (1…11, the order of `KINDS`), 2 epoch, 3 auth root key, 4 auth MAC key,
 *                 5 ek, 6 dk, 7 header, 8 encapsulation state, 9 ct1,
 *                 10 sending {1 message, 2 next chunk}, 11 receiving {1 length,
 *                 2 chunks (repeated {1 index, 2 data})} }
 *
 * Decoding checks every length and which fields each kind needs, so a
 * damaged record is 'invalid-state', never a state that fails later.
 */
import { ProtocolError } from '../errors.js';
import { asBytes, ProtoReader, ProtoWriter, type ProtoField } from '../wire.js';
import {
  MLKEM768_CT1_LENGTH,
  MLKEM768_DK_LENGTH,
  MLKEM768_EK_LENGTH,
  MLKEM768_ENCAPS_STATE_LENGTH,
  MLKEM768_HEADER_LENGTH,
} from './mlkem768-incremental.js';
import type { SpqrChainHalf, SpqrDirection, SpqrKeyChain } from './spqr-key-chain.js';
import type { SpqrNegotiation, SpqrRatchetState } from './spqr-ratchet.js';
import type { SpqrReceiving, SpqrSending, SpqrV1Kind, SpqrV1State } from './spqr-states.js';
import { SPQR_CT2_MESSAGE_LENGTH, SPQR_HEADER_MESSAGE_LENGTH } from './spqr-states.js';

const KINDS: readonly SpqrV1Kind[] = [
  'keysUnsampled',
  'keysSampled',
  'headerSent',
  'ct1Received',
  'ekSentCt1Received',
  'noHeaderReceived',
  'headerReceived',
  'ct1Sampled',
  'ekReceivedCt1Sampled',
  'ct1Acknowledged',
  'ct2Sampled',
];

function fail(what: string): never {
  throw new ProtocolError('invalid-state', `malformed SPQR state: ${what}`);
}

function dirCode(d: SpqrDirection): number {
  return d === 'a2b' ? 1 : 2;
}

function dirOf(code: number): SpqrDirection {
  if (code === 1) return 'a2b';
  if (code === 2) return 'b2a';
  return fail('direction');
}

/** The highest field number any SPQR storage message uses. */
const MAX_FIELD = 11;

/**
 * One embedded message's fields: the first of each number (as protobuf
 * readers take singular fields), and every occurrence of the one repeated
 * field the message has, in order. Field numbers above `MAX_FIELD` are
 * skipped. Read on every message a session encrypts or decrypts, so it
 * builds one small array, not a map of lists.
 */
interface Fields {
  readonly r: ProtoReader;
  readonly first: Array<ProtoField | undefined>;
  readonly repeated: ProtoField[];
}

function fieldsOf(bytes: Uint8Array, repeatedField = 0): Fields {
  const r = new ProtoReader(bytes, 'invalid-state');
  const first = new Array<ProtoField | undefined>(MAX_FIELD + 1).fill(undefined);
  const repeated: ProtoField[] = [];
  while (r.more) {
    const field = r.next();
    if (field.field > MAX_FIELD) continue;
    if (first[field.field] === undefined) first[field.field] = field;
    if (field.field === repeatedField) repeated.push(field);
  }
  return { r, first, repeated };
}

function uintField(m: Fields, n: number): number {
  const field = m.first[n];
  if (field === undefined) return 0;
  if (field.wireType !== 0) return m.r.fail(`field ${n} must be a varint`);
  return field.value;
}

/**
 * A bytes field, as a view: `decodeSpqrState` parses its own copy of the
 * stored bytes, so a state never aliases the caller's record.
 */
function bytesField(m: Fields, n: number): Uint8Array | undefined {
  const field = m.first[n];
  return field === undefined ? undefined : asBytes(m.r, field);
}

function need(value: Uint8Array | undefined, length: number, what: string): Uint8Array {
  if (value === undefined || value.length !== length) return fail(what);
  return value;
}

/** Bytes field `n`, which must be there with exactly `length` bytes. */
function needField(m: Fields, n: number, length: number, what: string): Uint8Array {
  return need(bytesField(m, n), length, what);
}

function writeHalf(w: ProtoWriter, h: SpqrChainHalf): void {
  w.uint(1, h.ctr).bytes(2, h.next).bytes(3, h.prev);
}

function readHalf(bytes: Uint8Array): SpqrChainHalf {
  const m = fieldsOf(bytes);
  const next = bytesField(m, 2) ?? new Uint8Array(0);
  const prev = bytesField(m, 3) ?? new Uint8Array(0);
  if ((next.length !== 0 && next.length !== 32) || prev.length % 36 !== 0) fail('chain half');
  const ctr = uintField(m, 1);
  if (ctr > 0xffffffff) fail('chain counter');
  return { ctr, next, prev };
}

function writeChain(w: ProtoWriter, c: SpqrKeyChain): void {
  w.uint(1, dirCode(c.direction)).uint(2, c.currentEpoch).uint(3, c.sendEpoch);
  for (const l of c.links) {
    w.message(4, (lw) => {
      lw.message(1, (hw) => writeHalf(hw, l.send));
      lw.message(2, (hw) => writeHalf(hw, l.recv));
    });
  }
  w.bytes(5, c.nextRoot).uint(6, c.maxJump).uint(7, c.maxOooKeys);
}

function readChain(bytes: Uint8Array): SpqrKeyChain {
  const m = fieldsOf(bytes, 4);
  const links = m.repeated.map((field) => {
    const lm = fieldsOf(asBytes(m.r, field));
    return {
      send: readHalf(bytesField(lm, 1) ?? fail('link')),
      recv: readHalf(bytesField(lm, 2) ?? fail('link')),
    };
  });
  const currentEpoch = uintField(m, 2);
  const sendEpoch = uintField(m, 3);
  if (links.length === 0 || links.length > currentEpoch + 1 || sendEpoch > currentEpoch) {
    fail('chain epochs');
  }
  const maxJump = uintField(m, 6);
  const maxOooKeys = uintField(m, 7);
  if (maxJump === 0 || maxOooKeys === 0) fail('chain parameters');
  return {
    direction: dirOf(uintField(m, 1)),
    currentEpoch,
    sendEpoch,
    links,
    nextRoot: need(bytesField(m, 5), 32, 'next root'),
    maxJump,
    maxOooKeys,
  };
}

function sendingOf(s: SpqrV1State): SpqrSending | undefined {
  switch (s.kind) {
    case 'keysSampled':
      return s.sendingHeader;
    case 'headerSent':
    case 'ct1Received':
      return s.sendingEk;
    case 'ct1Sampled':
    case 'ekReceivedCt1Sampled':
      return s.sendingCt1;
    case 'ct2Sampled':
      return s.sendingCt2;
    default:
      return undefined;
  }
}

function receivingOf(s: SpqrV1State): SpqrReceiving | undefined {
  switch (s.kind) {
    case 'headerSent':
      return s.receivingCt1;
    case 'ekSentCt1Received':
      return s.receivingCt2;
    case 'noHeaderReceived':
      return s.receivingHeader;
    case 'headerReceived':
    case 'ct1Sampled':
    case 'ct1Acknowledged':
      return s.receivingEk;
    default:
      return undefined;
  }
}

function optionalBytes(w: ProtoWriter, field: number, value: Uint8Array | undefined): void {
  if (value !== undefined) w.bytes(field, value);
}

function writeV1(w: ProtoWriter, s: SpqrV1State): void {
  w.uint(1, KINDS.indexOf(s.kind) + 1)
    .uint(2, s.epoch)
    .bytes(3, s.auth.rootKey)
    .bytes(4, s.auth.macKey);
  optionalBytes(w, 5, 'ek' in s ? s.ek : undefined);
  optionalBytes(w, 6, 'dk' in s ? s.dk : undefined);
  optionalBytes(w, 7, 'header' in s ? s.header : undefined);
  optionalBytes(w, 8, 'encapsulation' in s ? s.encapsulation : undefined);
  optionalBytes(w, 9, 'ct1' in s ? s.ct1 : undefined);
  const sending = sendingOf(s);
  if (sending !== undefined)
    w.message(10, (sw) => sw.bytes(1, sending.message).uint(2, sending.next));
  const rec = receivingOf(s);
  if (rec !== undefined) {
    w.message(11, (rw) => {
      rw.uint(1, rec.length);
      for (const c of rec.chunks) rw.message(2, (cw) => cw.uint(1, c.index).bytes(2, c.data));
    });
  }
}

function readSending(bytes: Uint8Array | undefined, length: number): SpqrSending {
  if (bytes === undefined) return fail('sending');
  const m = fieldsOf(bytes);
  const next = uintField(m, 2);
  if (next > 0xffff) fail('chunk index');
  return { message: need(bytesField(m, 1), length, 'sending message'), next };
}

function readReceiving(bytes: Uint8Array | undefined, length: number): SpqrReceiving {
  if (bytes === undefined) return fail('receiving');
  const m = fieldsOf(bytes, 2);
  if (uintField(m, 1) !== length) fail('receiving length');
  const chunks = m.repeated.map((field) => {
    const cm = fieldsOf(asBytes(m.r, field));
    const index = uintField(cm, 1);
    if (index > 0xffff) fail('chunk index');
    return { index, data: need(bytesField(cm, 2), 32, 'chunk') };
  });
  // A decoder keeps at most two points per value (systematic plus interpolation base).
  if (chunks.length > Math.ceil(length / 32) * 2 + 1) fail('too many chunks');
  return { length, chunks };
}

function readV1(bytes: Uint8Array): SpqrV1State {
  const m = fieldsOf(bytes);
  const kind = KINDS[uintField(m, 1) - 1] ?? fail('kind');
  const epoch = uintField(m, 2);
  if (epoch < 1) fail('epoch');
  const auth = {
    rootKey: needField(m, 3, 32, 'auth'),
    macKey: needField(m, 4, 32, 'auth'),
  };
  const base = { epoch, auth };
  // Which fields each kind needs (no per-call closures: this runs per message).
  switch (kind) {
    case 'keysUnsampled':
      return { ...base, kind };
    case 'keysSampled':
      return {
        ...base,
        kind,
        ek: needField(m, 5, MLKEM768_EK_LENGTH, 'ek'),
        dk: needField(m, 6, MLKEM768_DK_LENGTH, 'dk'),
        sendingHeader: readSending(bytesField(m, 10), SPQR_HEADER_MESSAGE_LENGTH),
      };
    case 'headerSent':
      return {
        ...base,
        kind,
        dk: needField(m, 6, MLKEM768_DK_LENGTH, 'dk'),
        sendingEk: readSending(bytesField(m, 10), MLKEM768_EK_LENGTH),
        receivingCt1: readReceiving(bytesField(m, 11), MLKEM768_CT1_LENGTH),
      };
    case 'ct1Received':
      return {
        ...base,
        kind,
        dk: needField(m, 6, MLKEM768_DK_LENGTH, 'dk'),
        ct1: needField(m, 9, MLKEM768_CT1_LENGTH, 'ct1'),
        sendingEk: readSending(bytesField(m, 10), MLKEM768_EK_LENGTH),
      };
    case 'ekSentCt1Received':
      return {
        ...base,
        kind,
        dk: needField(m, 6, MLKEM768_DK_LENGTH, 'dk'),
        ct1: needField(m, 9, MLKEM768_CT1_LENGTH, 'ct1'),
        receivingCt2: readReceiving(bytesField(m, 11), SPQR_CT2_MESSAGE_LENGTH),
      };
    case 'noHeaderReceived':
      return {
        ...base,
        kind,
        receivingHeader: readReceiving(bytesField(m, 11), SPQR_HEADER_MESSAGE_LENGTH),
      };
    case 'headerReceived':
      return {
        ...base,
        kind,
        header: needField(m, 7, MLKEM768_HEADER_LENGTH, 'header'),
        receivingEk: readReceiving(bytesField(m, 11), MLKEM768_EK_LENGTH),
      };
    case 'ct1Sampled':
      return {
        ...base,
        kind,
        header: needField(m, 7, MLKEM768_HEADER_LENGTH, 'header'),
        encapsulation: needField(m, 8, MLKEM768_ENCAPS_STATE_LENGTH, 'encapsulation'),
        ct1: needField(m, 9, MLKEM768_CT1_LENGTH, 'ct1'),
        sendingCt1: readSending(bytesField(m, 10), MLKEM768_CT1_LENGTH),
        receivingEk: readReceiving(bytesField(m, 11), MLKEM768_EK_LENGTH),
      };
    case 'ekReceivedCt1Sampled':
      return {
        ...base,
        kind,
        header: needField(m, 7, MLKEM768_HEADER_LENGTH, 'header'),
        encapsulation: needField(m, 8, MLKEM768_ENCAPS_STATE_LENGTH, 'encapsulation'),
        ek: needField(m, 5, MLKEM768_EK_LENGTH, 'ek'),
        ct1: needField(m, 9, MLKEM768_CT1_LENGTH, 'ct1'),
        sendingCt1: readSending(bytesField(m, 10), MLKEM768_CT1_LENGTH),
      };
    case 'ct1Acknowledged':
      return {
        ...base,
        kind,
        header: needField(m, 7, MLKEM768_HEADER_LENGTH, 'header'),
        encapsulation: needField(m, 8, MLKEM768_ENCAPS_STATE_LENGTH, 'encapsulation'),
        ct1: needField(m, 9, MLKEM768_CT1_LENGTH, 'ct1'),
        receivingEk: readReceiving(bytesField(m, 11), MLKEM768_EK_LENGTH),
      };
    case 'ct2Sampled':
      return {
        ...base,
        kind,
        sendingCt2: readSending(bytesField(m, 10), SPQR_CT2_MESSAGE_LENGTH),
      };
  }
}

/** Writes the storage form of a state's fields (what `encodeSpqrState` returns). */
export function writeSpqrState(w: ProtoWriter, state: SpqrRatchetState): void {
  const n = state.negotiation;
  if (n !== undefined) {
    w.message(1, (nw) =>
      nw.bytes(1, n.authKey).uint(2, dirCode(n.direction)).uint(3, n.minVersion),
    );
  }
  const chain = state.chain;
  if (chain !== undefined) w.message(2, (cw) => writeChain(cw, chain));
  const v1 = state.v1;
  if (v1 !== undefined) w.message(3, (vw) => writeV1(vw, v1));
}

/** The storage bytes of a state. */
export function encodeSpqrState(state: SpqrRatchetState): Uint8Array {
  // Into the shared scratch buffer (zeroed after use, so the keys written
  // do not linger): no fresh 4 KB buffer per message.
  return ProtoWriter.encode((w) => writeSpqrState(w, state));
}

/** Parses storage bytes; 'invalid-state' for anything malformed. */
export function decodeSpqrState(bytes: Uint8Array): SpqrRatchetState {
  // One private copy that every key and buffer of the state is a view of:
  // one allocation per decode instead of one per field (this runs on every
  // message), and nothing the caller later does to `bytes` reaches the state.
  // States are never written in place (spqr-states.ts), so views are safe.
  const m = fieldsOf(bytes.slice());
  let negotiation: SpqrNegotiation | undefined;
  const nb = bytesField(m, 1);
  if (nb !== undefined) {
    const nm = fieldsOf(nb);
    negotiation = {
      authKey: need(bytesField(nm, 1), 32, 'auth key'),
      direction: dirOf(uintField(nm, 2)),
      minVersion: uintField(nm, 3),
    };
  }
  const cb = bytesField(m, 2);
  const vb = bytesField(m, 3);
  const state: SpqrRatchetState = {
    negotiation,
    chain: cb === undefined ? undefined : readChain(cb),
    v1: vb === undefined ? undefined : readV1(vb),
  };
  if (state.negotiation === undefined && state.chain === undefined)
    fail('neither chain nor negotiation');
  return state;
}
