/**
 * The wire form of one SPQR (Sparse Post-Quantum Ratchet) message, the bytes
 * a v4 SignalMessage carries in its `pq_ratchet` field (crate `spqr`,
 * `src/v1/chunked/states/serialize.rs` `Message::serialize`):
 *
 *   empty                      → version 0: no SPQR on this message
 *   0x01 ‖ epoch (varint, ≥ 1) ‖ index (varint, uint32) ‖ type (1 byte)
 *        [‖ chunk index (varint, ≤ 65535) ‖ chunk data (32 bytes)]
 *
 *   type: 0 none, 1 header chunk, 2 encapsulation-key chunk,
 *         3 encapsulation-key chunk + ct1 acknowledgement, 4 ct1 acknowledgement,
 *         5 ct1 chunk, 6 ct2 chunk (types 1, 2, 3, 5, 6 carry a chunk)
 *
 * `index` is the position of this message's key in the SPQR chain of the
 * epoch before `epoch`. Trailing bytes after the message are allowed and
 * ignored (spqr keeps them for future versions). Only the codec is here; the
 * state machine that produces and consumes chunks is future work.
 */
import { ProtocolError } from '../errors.js';

export const SPQR_VERSION_1 = 1;
export const SPQR_CHUNK_LENGTH = 32;
const MAX_VARINT_BYTES = 10;
const MAX_CHUNK_INDEX = 0xffff;

export const SpqrMessageType = {
  none: 0,
  header: 1,
  encapsulationKey: 2,
  encapsulationKeyCt1Ack: 3,
  ct1Ack: 4,
  ct1: 5,
  ct2: 6,
} as const;
export type SpqrMessageType = (typeof SpqrMessageType)[keyof typeof SpqrMessageType];

const WITH_CHUNK: ReadonlySet<number> = new Set([1, 2, 3, 5, 6]);

/** One erasure-coded chunk: its index in the code and 32 bytes. */
export interface SpqrChunk {
  readonly index: number;
  readonly data: Uint8Array;
}

/** A version-1 SPQR message. */
export interface SpqrMessage {
  readonly epoch: number;
  readonly index: number;
  readonly type: SpqrMessageType;
  readonly chunk: SpqrChunk | undefined;
}

function pushVarint(out: number[], value: number): void {
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

/** Encodes a version-1 message. Throws `RangeError` for values the format cannot hold. */
export function encodeSpqrMessage(message: SpqrMessage): Uint8Array {
  if (!Number.isSafeInteger(message.epoch) || message.epoch < 1) {
    throw new RangeError('SPQR epoch must be a positive safe integer');
  }
  if (!Number.isInteger(message.index) || message.index < 0 || message.index > 0xffffffff) {
    throw new RangeError('SPQR index must be a uint32');
  }
  const out: number[] = [SPQR_VERSION_1];
  pushVarint(out, message.epoch);
  pushVarint(out, message.index);
  out.push(message.type);
  if (WITH_CHUNK.has(message.type)) {
    const chunk = message.chunk;
    if (chunk === undefined || chunk.data.length !== SPQR_CHUNK_LENGTH) {
      throw new RangeError('this SPQR message type carries one 32-byte chunk');
    }
    if (!Number.isInteger(chunk.index) || chunk.index < 0 || chunk.index > MAX_CHUNK_INDEX) {
      throw new RangeError('SPQR chunk index must be in 0..65535');
    }
    pushVarint(out, chunk.index);
    const bytes = new Uint8Array(out.length + SPQR_CHUNK_LENGTH);
    bytes.set(out);
    bytes.set(chunk.data, out.length);
    return bytes;
  }
  return Uint8Array.from(out);
}

/** A cursor over untrusted bytes: every failure is 'invalid-message'. */
class Cursor {
  at = 0;
  constructor(readonly bytes: Uint8Array) {}

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      const byte = this.bytes[this.at];
      if (byte === undefined) throw new ProtocolError('invalid-message', 'SPQR message truncated');
      this.at++;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        // Epochs and indexes beyond 2^53 cannot come from an honest chain.
        if (!Number.isSafeInteger(value)) {
          throw new ProtocolError('invalid-message', 'SPQR varint out of range');
        }
        return value;
      }
      scale *= 0x80;
    }
    throw new ProtocolError('invalid-message', 'SPQR varint too long');
  }

  byte(): number {
    const byte = this.bytes[this.at];
    if (byte === undefined) throw new ProtocolError('invalid-message', 'SPQR message truncated');
    this.at++;
    return byte;
  }
}

/**
 * Parses a `pq_ratchet` field. Returns undefined for the empty field (no
 * SPQR, "version 0"); throws 'invalid-message' for anything malformed and
 * 'invalid-version' for a version other than 1.
 */
export function decodeSpqrMessage(bytes: Uint8Array): SpqrMessage | undefined {
  if (bytes.length === 0) return undefined;
  if (bytes[0] !== SPQR_VERSION_1) {
    throw new ProtocolError('invalid-version', `unsupported SPQR version ${bytes[0] ?? 0}`);
  }
  const c = new Cursor(bytes);
  c.at = 1;
  const epoch = c.varint();
  if (epoch === 0) throw new ProtocolError('invalid-message', 'SPQR epoch 0');
  const index = c.varint();
  if (index > 0xffffffff) throw new ProtocolError('invalid-message', 'SPQR index exceeds uint32');
  const type = c.byte();
  if (type > SpqrMessageType.ct2) {
    throw new ProtocolError('invalid-message', `unknown SPQR message type ${type}`);
  }
  let chunk: SpqrChunk | undefined;
  if (WITH_CHUNK.has(type)) {
    const chunkIndex = c.varint();
    if (chunkIndex > MAX_CHUNK_INDEX) {
      throw new ProtocolError('invalid-message', 'SPQR chunk index exceeds 65535');
    }
    if (bytes.length - c.at < SPQR_CHUNK_LENGTH) {
      throw new ProtocolError('invalid-message', 'SPQR chunk truncated');
    }
    chunk = { index: chunkIndex, data: bytes.slice(c.at, c.at + SPQR_CHUNK_LENGTH) };
  }
  return { epoch, index, type: type as SpqrMessageType, chunk };
}
