/**
 * Hand-written codec for the frames on the message hot path: the
 * `SendMessageRequest` and `AckRequest` a server reads, the responses to
 * them, and the `Push.envelope` it writes. Profiling the server under load
 * put protobuf-es' reflection-driven `fromBinary`/`toBinary`/`create` at
 * ~15 % of CPU per delivered message; these do the same in straight-line
 * code.
 *
 * The generated types stay the interface: decoding yields the same
 * `Request` object `fromBinary` would, and every encoder's bytes equal
 * `toBinary`'s (test/server/hot-frames.test.ts checks both against the
 * generated code). The decoder is a fast path, not a second parser:
 * anything it does not fully understand — another request type, an unknown
 * or repeated field, an odd wire type, a number beyond 2^53, bad UTF-8 —
 * makes it return `undefined`, and the caller falls back to `decodeFrame`,
 * which decides (and rejects malformed input) exactly as before. So a field
 * added to the schema later costs speed, never correctness.
 */
import type {
  AckRequest,
  OutgoingEnvelope,
  Request,
  SendMessageRequest,
} from '../gen/quintet/v1/transport_pb.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const utf8 = new TextEncoder();

/** Field 22 (send_message) and 23 (ack) of Request and Response, wire type 2. */
const SEND_MESSAGE_TAG = (22 << 3) | 2;
const ACK_TAG = (23 << 3) | 2;

/** Raised inside the decoder to leave the fast path; never escapes this module. */
class Unhandled extends Error {}
const UNHANDLED = new Unhandled();

class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  /** A varint as a number; bails beyond 2^49 (7 bytes), which no hot field needs. */
  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 7; i++) {
      if (this.pos >= this.end) throw UNHANDLED;
      const byte = this.buf[this.pos++] ?? 0;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
    throw UNHANDLED;
  }

  /** A uint32 (or a non-negative int32 enum) value. */
  uint32(): number {
    const value = this.varint();
    if (value > 0xffffffff) throw UNHANDLED;
    return value;
  }

  /** The [start, end) of a length-delimited field's payload. */
  delimited(): number {
    const length = this.varint();
    const start = this.pos;
    if (start + length > this.end) throw UNHANDLED;
    this.pos = start + length;
    return start;
  }

  bytes(): Uint8Array {
    const start = this.delimited();
    // A view, as protobuf-es' reader returns.
    return this.buf.subarray(start, this.pos);
  }

  string(): string {
    const bytes = this.bytes();
    // Account names are short ASCII: skip TextDecoder's call overhead.
    if (bytes.length <= 64) {
      let ascii = '';
      for (const byte of bytes) {
        if (byte >= 0x80) {
          ascii = '';
          break;
        }
        ascii += String.fromCharCode(byte);
      }
      if (ascii.length === bytes.length) return ascii;
    }
    try {
      return strictUtf8.decode(bytes);
    } catch {
      // Invalid UTF-8: let `decodeFrame` reject it with its usual error.
      throw UNHANDLED;
    }
  }
}

function outgoingEnvelope(r: Reader, end: number): OutgoingEnvelope {
  const inner = new Reader(r.buf, r.pos, end);
  let deviceId = 0;
  let registrationId = 0;
  let type = 0;
  let content: Uint8Array = new Uint8Array(0);
  let seen = 0;
  while (inner.pos < end) {
    const tag = inner.varint();
    const bit = 1 << (tag >>> 3);
    if (seen & bit) throw UNHANDLED;
    seen |= bit;
    if (tag === 0x08) deviceId = inner.uint32();
    else if (tag === 0x10) registrationId = inner.uint32();
    else if (tag === 0x18) {
      type = inner.uint32();
      // Negative int32 enums arrive as 10-byte varints; above 2^31 would be one.
      if (type > 0x7fffffff) throw UNHANDLED;
    } else if (tag === 0x22) content = inner.bytes();
    else throw UNHANDLED;
  }
  return { $typeName: 'quintet.v1.OutgoingEnvelope', deviceId, registrationId, type, content };
}

function sendMessage(r: Reader, end: number): SendMessageRequest {
  let destination = '';
  let timestamp = 0n;
  let seenDestination = false;
  let seenTimestamp = false;
  const envelopes: OutgoingEnvelope[] = [];
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === 0x0a && !seenDestination) {
      seenDestination = true;
      destination = r.string();
    } else if (tag === 0x12) {
      const start = r.delimited();
      const stop = r.pos;
      r.pos = start;
      envelopes.push(outgoingEnvelope(r, stop));
      r.pos = stop;
    } else if (tag === 0x18 && !seenTimestamp) {
      seenTimestamp = true;
      timestamp = BigInt(r.varint());
    } else {
      // refused_devices, sender_device_identity, anything newer: slow path.
      throw UNHANDLED;
    }
  }
  return {
    $typeName: 'quintet.v1.SendMessageRequest',
    destination,
    envelopes,
    timestamp,
    refusedDevices: [],
    senderDeviceIdentity: new Uint8Array(0),
    ephemeral: false,
  };
}

function ack(r: Reader, end: number): AckRequest {
  const serverGuids: Uint8Array[] = [];
  while (r.pos < end) {
    if (r.varint() !== 0x0a) throw UNHANDLED;
    serverGuids.push(r.bytes());
  }
  return { $typeName: 'quintet.v1.AckRequest', serverGuids };
}

function request(r: Reader, end: number): Request {
  let id = 0n;
  let seenId = false;
  let body: Request['body'] | undefined;
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === 0x08 && !seenId) {
      seenId = true;
      id = BigInt(r.varint());
    } else if ((tag === SEND_MESSAGE_TAG || tag === ACK_TAG) && body === undefined) {
      const start = r.delimited();
      const stop = r.pos;
      r.pos = start;
      body =
        tag === SEND_MESSAGE_TAG
          ? { case: 'sendMessage', value: sendMessage(r, stop) }
          : { case: 'ack', value: ack(r, stop) };
      r.pos = stop;
    } else {
      throw UNHANDLED;
    }
  }
  if (body === undefined) throw UNHANDLED;
  return { $typeName: 'quintet.v1.Request', id, body };
}

/**
 * Decodes `Frame{request{send_message | ack}}`; `undefined` for every other
 * frame and for anything unusual (the caller then uses `decodeFrame`).
 */
export function decodeHotRequest(bytes: Uint8Array): Request | undefined {
  try {
    const r = new Reader(bytes, 0, bytes.length);
    if (r.varint() !== 0x0a) return undefined;
    const start = r.delimited();
    if (r.pos !== bytes.length) return undefined;
    r.pos = start;
    return request(r, bytes.length);
  } catch (error) {
    if (error === UNHANDLED) return undefined;
    throw error;
  }
}

// ------------------------------------------------------------------ encoding

/**
 * Allocates an encoder's output. The server passes Node's pooled
 * `Buffer.allocUnsafe`, which carves small buffers out of a shared slab:
 * a fresh `Uint8Array` per frame is a backing store of its own, and
 * tracking thousands of those per second was a visible share of the
 * server's garbage-collection time. The contents may be uninitialised:
 * every encoder here writes each byte of its output, and `finish` checks.
 */
export type FrameAllocator = (length: number) => Uint8Array;

const newBytes: FrameAllocator = (length) => new Uint8Array(length);

/** Returns the written buffer after checking that every byte was written. */
function finish(w: Writer): Uint8Array {
  // An unwritten byte of an `allocUnsafe` buffer could hold earlier
  // memory contents; a length mismatch is a bug, never sent.
  if (w.pos !== w.buf.length) throw new Error('frame encoder left bytes unwritten');
  return w.buf;
}

/** The byte length of `value` in UTF-8 if it is all ASCII, else -1. */
function asciiLength(value: string): number {
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) >= 0x80) return -1;
  }
  return value.length;
}

function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size += 1;
  }
  return size;
}

class Writer {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  varint(value: number): void {
    while (value >= 0x80) {
      this.buf[this.pos++] = (value & 0x7f) | 0x80;
      value = Math.floor(value / 128);
    }
    this.buf[this.pos++] = value;
  }

  bytes(value: Uint8Array): void {
    this.varint(value.length);
    this.buf.set(value, this.pos);
    this.pos += value.length;
  }

  /** An ASCII string's bytes (see `asciiLength`), with no intermediate array. */
  ascii(tag: number, value: string): void {
    if (value.length === 0) return;
    this.varint(tag);
    this.varint(value.length);
    for (let i = 0; i < value.length; i++) this.buf[this.pos++] = value.charCodeAt(i);
  }

  /** A length-delimited field, omitted when empty (proto3 implicit presence). */
  bytesField(tag: number, value: Uint8Array): void {
    if (value.length === 0) return;
    this.varint(tag);
    this.bytes(value);
  }

  /** A varint field, omitted when zero. */
  varintField(tag: number, value: number): void {
    if (value === 0) return;
    this.varint(tag);
    this.varint(value);
  }
}

/** Whether `value` is a uint64 this encoder writes (0..2^53); others take `toBinary`. */
function plainUint(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

/** The largest request id the hand encoders write (2^53 - 1); larger ones take `toBinary`. */
const MAX_PLAIN_ID = BigInt(Number.MAX_SAFE_INTEGER);

/** `Frame{response{id, <field>{...}}}` whose body message is `body` (already encoded). */
function responseFrame(
  id: bigint,
  fieldTag: number,
  body: Uint8Array,
  alloc: FrameAllocator,
): Uint8Array | undefined {
  // Compared as bigints, not converted back: no allocation per response.
  if (id < 0n || id > MAX_PLAIN_ID) return undefined;
  const idNum = Number(id);
  const idPart = idNum === 0 ? 0 : 1 + varintSize(idNum);
  const responseLength = idPart + 2 + varintSize(body.length) + body.length;
  const w = new Writer(alloc(1 + varintSize(responseLength) + responseLength));
  w.varint(0x12);
  w.varint(responseLength);
  if (idNum !== 0) {
    w.varint(0x08);
    w.varint(idNum);
  }
  w.varint(fieldTag);
  w.bytes(body);
  return finish(w);
}

const QUEUED_ONLY = Uint8Array.of(0x08, 0x01);
const EMPTY = new Uint8Array(0);

/** The encoded `Frame{response{id, send_message{queued_only}}}`; `undefined` if id > 2^53. */
export function sendMessageResponseBytes(
  id: bigint,
  queuedOnly: boolean,
  alloc: FrameAllocator = newBytes,
): Uint8Array | undefined {
  return responseFrame(id, SEND_MESSAGE_TAG, queuedOnly ? QUEUED_ONLY : EMPTY, alloc);
}

/** The encoded `Frame{response{id, ack{}}}`; `undefined` if id > 2^53. */
export function ackResponseBytes(
  id: bigint,
  alloc: FrameAllocator = newBytes,
): Uint8Array | undefined {
  return responseFrame(id, ACK_TAG, EMPTY, alloc);
}

/** The fields of a pushed `Envelope`. */
export interface EnvelopeFields {
  readonly guid: Uint8Array;
  readonly source: string;
  readonly sourceDevice: number;
  readonly destinationDevice: number;
  readonly type: number;
  readonly content: Uint8Array;
  readonly timestamp: number;
  readonly serverTimestamp: number;
  readonly sourceDeviceIdentity?: Uint8Array;
  /** SENDER_KEY envelopes: the group (field 10). */
  readonly groupId?: Uint8Array;
}

function bytesField(length: number): number {
  return length === 0 ? 0 : 1 + varintSize(length) + length;
}
function varintField(value: number): number {
  return value === 0 ? 0 : 1 + varintSize(value);
}

/**
 * The encoded `Frame{push{envelope{...}}}`, fields in schema order and
 * zero values omitted, as `toBinary` writes them; `undefined` for values it
 * does not write (negative or beyond 2^53), which `toBinary` then handles.
 */
export function envelopePushBytes(
  e: EnvelopeFields,
  alloc: FrameAllocator = newBytes,
): Uint8Array | undefined {
  const { timestamp, serverTimestamp } = e;
  if (
    !plainUint(timestamp) ||
    !plainUint(serverTimestamp) ||
    !plainUint(e.sourceDevice) ||
    e.sourceDevice > 0xffffffff ||
    !plainUint(e.destinationDevice) ||
    e.destinationDevice > 0xffffffff ||
    !plainUint(e.type) ||
    e.type > 0x7fffffff
  ) {
    return undefined;
  }
  // Account names are ASCII: written straight into the frame.
  const sourceAscii = asciiLength(e.source);
  const source = sourceAscii < 0 ? utf8.encode(e.source) : EMPTY;
  const identity = e.sourceDeviceIdentity ?? EMPTY;
  const groupId = e.groupId ?? EMPTY;
  const envelopeLength =
    bytesField(e.guid.length) +
    bytesField(sourceAscii < 0 ? source.length : sourceAscii) +
    varintField(e.sourceDevice) +
    varintField(e.destinationDevice) +
    varintField(e.type) +
    bytesField(e.content.length) +
    varintField(timestamp) +
    varintField(serverTimestamp) +
    bytesField(identity.length) +
    bytesField(groupId.length);
  const pushLength = 1 + varintSize(envelopeLength) + envelopeLength;
  const w = new Writer(alloc(1 + varintSize(pushLength) + pushLength));
  w.varint(0x1a);
  w.varint(pushLength);
  w.varint(0x0a);
  w.varint(envelopeLength);
  // Straight-line on purpose: no per-call closures on this path.
  w.bytesField(0x0a, e.guid);
  if (sourceAscii < 0) w.bytesField(0x12, source);
  else w.ascii(0x12, e.source);
  w.varintField(0x18, e.sourceDevice);
  w.varintField(0x20, e.destinationDevice);
  w.varintField(0x28, e.type);
  w.bytesField(0x32, e.content);
  w.varintField(0x38, timestamp);
  w.varintField(0x40, serverTimestamp);
  w.bytesField(0x4a, identity);
  w.bytesField(0x52, groupId);
  return finish(w);
}

// ------------------------------------------------------------ client side

/** One envelope of a send, as `sendMessageRequestBytes` takes it. */
export interface OutgoingFields {
  readonly deviceId: number;
  readonly registrationId: number;
  readonly type: number;
  readonly content: Uint8Array;
}

function outgoingLength(e: OutgoingFields): number {
  return (
    varintField(e.deviceId) +
    varintField(e.registrationId) +
    varintField(e.type) +
    bytesField(e.content.length)
  );
}

/** `Frame{request{id, <field>{...}}}` around an already measured body. */
function requestHeader(id: number, fieldTag: number, bodyLength: number): Writer {
  const requestLength = varintField(id) + 2 + varintSize(bodyLength) + bodyLength;
  const w = new Writer(new Uint8Array(1 + varintSize(requestLength) + requestLength));
  w.varint(0x0a);
  w.varint(requestLength);
  w.varintField(0x08, id);
  w.varint(fieldTag);
  w.varint(bodyLength);
  return w;
}

/**
 * The encoded `Frame{request{id, send_message{destination, envelopes,
 * timestamp}}}`, as `toBinary` writes it (ids and timestamps up to 2^53).
 */
export function sendMessageRequestBytes(
  id: number,
  destination: string,
  timestamp: number,
  envelopes: readonly OutgoingFields[],
): Uint8Array {
  const name = utf8.encode(destination);
  let bodyLength = bytesField(name.length) + varintField(timestamp);
  for (const e of envelopes) bodyLength += 1 + varintSize(outgoingLength(e)) + outgoingLength(e);
  const w = requestHeader(id, SEND_MESSAGE_TAG, bodyLength);
  w.bytesField(0x0a, name);
  for (const e of envelopes) {
    w.varint(0x12);
    w.varint(outgoingLength(e));
    w.varintField(0x08, e.deviceId);
    w.varintField(0x10, e.registrationId);
    w.varintField(0x18, e.type);
    w.bytesField(0x22, e.content);
  }
  w.varintField(0x18, timestamp);
  return w.buf;
}

/** The encoded `Frame{request{id, ack{server_guids}}}`. */
export function ackRequestBytes(id: number, guids: readonly Uint8Array[]): Uint8Array {
  let bodyLength = 0;
  for (const guid of guids) bodyLength += 1 + varintSize(guid.length) + guid.length;
  const w = requestHeader(id, ACK_TAG, bodyLength);
  for (const guid of guids) {
    w.varint(0x0a);
    w.bytes(guid);
  }
  return w.buf;
}
