/**
 * The bytes of a bus message: a small explicit layout rather than protobuf,
 * because there are few kinds and every field is a string, a number or a
 * blob. Layout: version (1 byte), kind (1 byte), origin node id (string),
 * then the kind's fields. Strings are a u16 length plus UTF-8; blobs a u32
 * length plus bytes; numbers are u32 or float64 big-endian.
 *
 * Anything on the bus may have been written by another version of the
 * server or by anyone able to publish on the subjects: every read is
 * bounds-checked and a bad message raises `BusFrameError`, which the bus
 * logs and drops (it never reaches a connection).
 */

import type { QueuedEnvelope } from '../store/types.js';

/** Layout version; a message of another version is dropped. */
export const BUS_FRAME_VERSION = 1;

/** The largest blob accepted (a push frame is far smaller). */
const MAX_BLOB_BYTES = 1 << 20;

/** A bus message, decoded. */
export type BusMessage =
  /** Envelopes were queued for the device: read its queue from the cursor. */
  | { readonly kind: 'wake'; readonly origin: string }
  /**
   * Envelopes just committed for the device, carried so the node holding
   * it can push them without reading the store. Only a doorbell with a
   * parcel: the store still has them, and the holder reads from its cursor
   * instead whenever what arrives does not follow what it has seen. Whoever
   * can publish here could already push any bytes to the device (`push`),
   * so carrying envelopes opens nothing new.
   */
  | {
      readonly kind: 'envelopes';
      readonly origin: string;
      readonly envelopes: readonly QueuedEnvelope[];
    }
  /** A newer connection of the device attached on `origin` (see device-router.ts). */
  | {
      readonly kind: 'takeover';
      readonly origin: string;
      readonly attachedAt: number;
      readonly connectionId: number;
    }
  /** Send these push-frame bytes to the device. */
  | { readonly kind: 'push'; readonly origin: string; readonly bytes: Uint8Array }
  /**
   * An ephemeral envelope's push frame (typing): sent only if the device is
   * connected here and its output has room; never stored or queued.
   */
  | { readonly kind: 'ephemeral'; readonly origin: string; readonly bytes: Uint8Array }
  /** Send `push` (may be empty) then close with `code`/`reason`. */
  | {
      readonly kind: 'disconnect';
      readonly origin: string;
      readonly push: Uint8Array;
      readonly code: number;
      readonly reason: string;
    }
  /** Is the device connected here? Answered with `presence`. */
  | { readonly kind: 'presence-query'; readonly origin: string }
  | { readonly kind: 'presence'; readonly origin: string; readonly connected: boolean }
  /** An operation on one connection (linking hand-off); `extendMs` < 0 means none. */
  | {
      readonly kind: 'connection-op';
      readonly origin: string;
      readonly connectionId: number;
      readonly push: Uint8Array;
      readonly extendMs: number;
    }
  /** The account's device list changed: drop it from caches; `announce` also pushes `DeviceListChanged`. */
  | {
      readonly kind: 'list-changed';
      readonly origin: string;
      readonly account: string;
      readonly announce: boolean;
      /** The device that made the change (not told), deviceId 0 when none. */
      readonly exceptDeviceId: number;
    };

/** The kinds on the wire. */
const KIND_CODES = {
  wake: 1,
  takeover: 2,
  push: 3,
  disconnect: 4,
  'presence-query': 5,
  presence: 6,
  'connection-op': 7,
  'list-changed': 8,
  envelopes: 9,
  ephemeral: 10,
} as const satisfies Record<BusMessage['kind'], number>;

/** A bus message that does not parse. */
export class BusFrameError extends Error {
  readonly code = 'malformed-bus-message';
  constructor(message: string) {
    super(message);
    this.name = 'BusFrameError';
  }
}

/** One of each for the process: building them per string showed in profiles. */
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** Writes into one growing buffer (a wake is encoded for every cross-node message). */
class Writer {
  private bytes: Uint8Array;
  private view: DataView;
  private at = 0;

  constructor(capacity: number) {
    this.bytes = new Uint8Array(capacity);
    this.view = new DataView(this.bytes.buffer);
  }

  u8(value: number): this {
    this.room(1);
    this.bytes[this.at] = value & 0xff;
    this.at += 1;
    return this;
  }

  u32(value: number): this {
    this.room(4);
    this.view.setUint32(this.at, value >>> 0);
    this.at += 4;
    return this;
  }

  f64(value: number): this {
    this.room(8);
    this.view.setFloat64(this.at, value);
    this.at += 8;
    return this;
  }

  str(value: string): this {
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    this.room(2 + value.length * 3);
    const { written } = utf8Encoder.encodeInto(value, this.bytes.subarray(this.at + 2));
    if (written > 0xffff) throw new RangeError('bus string too long');
    this.view.setUint16(this.at, written);
    this.at += 2 + written;
    return this;
  }

  blob(value: Uint8Array): this {
    this.u32(value.length);
    this.room(value.length);
    this.bytes.set(value, this.at);
    this.at += value.length;
    return this;
  }

  finish(): Uint8Array {
    return this.bytes.subarray(0, this.at);
  }

  private room(count: number): void {
    if (this.at + count <= this.bytes.length) return;
    const bigger = new Uint8Array(Math.max(this.bytes.length * 2, this.at + count));
    bigger.set(this.bytes.subarray(0, this.at));
    this.bytes = bigger;
    this.view = new DataView(bigger.buffer);
  }
}

class Reader {
  private at = 0;
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  u8(): number {
    this.need(1);
    const value = this.view.getUint8(this.at);
    this.at += 1;
    return value;
  }

  u32(): number {
    this.need(4);
    const value = this.view.getUint32(this.at);
    this.at += 4;
    return value;
  }

  f64(): number {
    this.need(8);
    const value = this.view.getFloat64(this.at);
    this.at += 8;
    return value;
  }

  str(): string {
    this.need(2);
    const length = this.view.getUint16(this.at);
    this.at += 2;
    this.need(length);
    const slice = this.bytes.subarray(this.at, this.at + length);
    this.at += length;
    try {
      return utf8Decoder.decode(slice);
    } catch {
      throw new BusFrameError('string is not UTF-8');
    }
  }

  blob(): Uint8Array {
    const length = this.u32();
    if (length > MAX_BLOB_BYTES) throw new BusFrameError('blob too large');
    this.need(length);
    // A copy: the NATS client may reuse its read buffer.
    const value = this.bytes.slice(this.at, this.at + length);
    this.at += length;
    return value;
  }

  end(): void {
    if (this.at !== this.bytes.length) throw new BusFrameError('trailing bytes');
  }

  private need(count: number): void {
    if (this.at + count > this.bytes.length) throw new BusFrameError('truncated');
  }
}

/** Encodes a bus message. */
export function encodeBusMessage(message: BusMessage): Uint8Array {
  // Sized for the common message at once: envelopes are most of the traffic.
  let capacity = 128;
  if (message.kind === 'envelopes') {
    for (const e of message.envelopes) capacity += 128 + e.content.length;
  }
  const w = new Writer(capacity)
    .u8(BUS_FRAME_VERSION)
    .u8(KIND_CODES[message.kind])
    .str(message.origin);
  switch (message.kind) {
    case 'wake':
    case 'presence-query':
      break;
    case 'takeover':
      w.f64(message.attachedAt).u32(message.connectionId);
      break;
    case 'push':
    case 'ephemeral':
      w.blob(message.bytes);
      break;
    case 'disconnect':
      w.blob(message.push).u32(message.code).str(message.reason);
      break;
    case 'presence':
      w.u8(message.connected ? 1 : 0);
      break;
    case 'connection-op':
      w.u32(message.connectionId).blob(message.push).f64(message.extendMs);
      break;
    case 'list-changed':
      w.str(message.account)
        .u8(message.announce ? 1 : 0)
        .u32(message.exceptDeviceId);
      break;
    case 'envelopes':
      w.u32(message.envelopes.length);
      for (const e of message.envelopes) writeEnvelope(w, e);
      break;
  }
  return w.finish();
}

/** Decodes a bus message; throws `BusFrameError` on anything malformed. */
export function decodeBusMessage(bytes: Uint8Array): BusMessage {
  const r = new Reader(bytes);
  const version = r.u8();
  if (version !== BUS_FRAME_VERSION) throw new BusFrameError(`unknown version ${version}`);
  const code = r.u8();
  const origin = r.str();
  let message: BusMessage;
  switch (code) {
    case KIND_CODES.wake:
      message = { kind: 'wake', origin };
      break;
    case KIND_CODES['presence-query']:
      message = { kind: 'presence-query', origin };
      break;
    case KIND_CODES.takeover: {
      const attachedAt = r.f64();
      if (!Number.isFinite(attachedAt)) throw new BusFrameError('attach time is not finite');
      message = { kind: 'takeover', origin, attachedAt, connectionId: r.u32() };
      break;
    }
    case KIND_CODES.push:
      message = { kind: 'push', origin, bytes: r.blob() };
      break;
    case KIND_CODES.ephemeral:
      message = { kind: 'ephemeral', origin, bytes: r.blob() };
      break;
    case KIND_CODES.disconnect:
      message = { kind: 'disconnect', origin, push: r.blob(), code: r.u32(), reason: r.str() };
      break;
    case KIND_CODES.presence:
      message = { kind: 'presence', origin, connected: flag(r.u8()) };
      break;
    case KIND_CODES['connection-op']: {
      const connectionId = r.u32();
      const push = r.blob();
      const extendMs = r.f64();
      if (Number.isNaN(extendMs)) throw new BusFrameError('extension is not a number');
      message = { kind: 'connection-op', origin, connectionId, push, extendMs };
      break;
    }
    case KIND_CODES['list-changed']:
      message = {
        kind: 'list-changed',
        origin,
        account: r.str(),
        announce: flag(r.u8()),
        exceptDeviceId: r.u32(),
      };
      break;
    case KIND_CODES.envelopes: {
      const count = r.u32();
      // Each envelope takes well over 16 bytes: a larger count is a lie.
      if (count > bytes.length / 16) throw new BusFrameError('envelope count too large');
      const envelopes: QueuedEnvelope[] = [];
      for (let i = 0; i < count; i += 1) envelopes.push(readEnvelope(r));
      message = { kind: 'envelopes', origin, envelopes };
      break;
    }
    default:
      throw new BusFrameError(`unknown kind ${code}`);
  }
  r.end();
  return message;
}

const HAS_IDENTITY = 1;
const HAS_GROUP = 2;

function writeEnvelope(w: Writer, e: QueuedEnvelope): void {
  w.blob(e.guid)
    .str(e.destination)
    .u32(e.destinationDevice)
    .str(e.source)
    .u32(e.sourceDevice)
    .u32(e.type)
    .blob(e.content)
    .f64(e.timestamp)
    .f64(e.serverTimestamp)
    .u8(
      (e.sourceDeviceIdentity === undefined ? 0 : HAS_IDENTITY) |
        (e.groupId === undefined ? 0 : HAS_GROUP),
    );
  if (e.sourceDeviceIdentity !== undefined) w.blob(e.sourceDeviceIdentity);
  if (e.groupId !== undefined) w.blob(e.groupId);
}

function readEnvelope(r: Reader): QueuedEnvelope {
  const guid = r.blob();
  const destination = r.str();
  const destinationDevice = r.u32();
  const source = r.str();
  const sourceDevice = r.u32();
  const type = r.u32();
  const content = r.blob();
  const timestamp = r.f64();
  const serverTimestamp = r.f64();
  if (!Number.isSafeInteger(timestamp) || !Number.isSafeInteger(serverTimestamp)) {
    throw new BusFrameError('envelope time is not an integer');
  }
  const flags = r.u8();
  if (flags > (HAS_IDENTITY | HAS_GROUP)) throw new BusFrameError('unknown envelope flags');
  const base = {
    guid,
    destination,
    destinationDevice,
    source,
    sourceDevice,
    type,
    content,
    timestamp,
    serverTimestamp,
  };
  if (flags === 0) return base;
  const identity = (flags & HAS_IDENTITY) === 0 ? undefined : r.blob();
  const groupId = (flags & HAS_GROUP) === 0 ? undefined : r.blob();
  return {
    ...base,
    ...(identity === undefined ? {} : { sourceDeviceIdentity: identity }),
    ...(groupId === undefined ? {} : { groupId }),
  };
}

function flag(value: number): boolean {
  if (value > 1) throw new BusFrameError('flag is not 0 or 1');
  return value === 1;
}
