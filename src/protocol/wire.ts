/**
 * A minimal protocol-buffers codec for the session hot path.
 *
 * Every encrypt and decrypt reads and writes a session record and a message,
 * so these formats are encoded by hand: fields are written in field-number
 * order (what prost and protobufjs emit, so libsignal peers see the same
 * bytes), and the reader checks every length against the remaining input so
 * that hostile bytes end in a typed `ProtocolError`, never a `RangeError` or
 * an out-of-bounds read. The `.proto` files under `proto/quintet/protocol/`
 * are the normative description; a test cross-checks this codec against the
 * code `buf generate` makes from them.
 */
import { ProtocolError, type ProtocolErrorCode } from './errors.js';

/** Protocol-buffers wire types (encoding spec, "Message Structure"). */
export const WireType = { varint: 0, fixed64: 1, bytes: 2, fixed32: 5 } as const;

/** Size of the reused encoding buffer: a typical session record fits. */
const SCRATCH_SIZE = 1024;
/** A grown scratch buffer is kept for reuse only up to this size. */
const SCRATCH_MAX = 64 * 1024;
const DETACHED = new Uint8Array(0);

/**
 * The buffer `ProtoWriter.encode` reuses, or undefined while an encoding
 * holds it. Allocating a fresh off-heap buffer for every session record
 * written (twice per message) showed up as ~10% of a 1:1 decrypt in
 * profiles, largely as garbage-collector pressure.
 */
let scratch: Uint8Array | undefined;

/** Appends protobuf fields to a growable buffer. */
export class ProtoWriter {
  #buf: Uint8Array;
  #pos = 0;

  constructor(initialSize = 128) {
    this.#buf = new Uint8Array(initialSize);
  }

  /**
   * Runs `write` on a writer over a reused buffer and returns a copy of the
   * bytes. The writer must not be kept past `write`: it is detached from the
   * buffer afterwards (later writes start a new buffer of their own), and
   * the used part of the buffer is zeroed, so encoded secrets do not linger
   * in it. A nested call simply gets a fresh buffer.
   */
  static encode(write: (w: ProtoWriter) => void): Uint8Array {
    return ProtoWriter.#withScratch(write, (bytes) => bytes.slice());
  }

  /**
   * As `encode`, but the bytes land in a fresh array at offset `before`,
   * with `after` zero bytes behind them: room for a message's version byte
   * and MAC without a second array and copy.
   */
  static encodeFramed(before: number, after: number, write: (w: ProtoWriter) => void): Uint8Array {
    return ProtoWriter.#withScratch(write, (bytes) => {
      const out = new Uint8Array(before + bytes.length + after);
      out.set(bytes, before);
      return out;
    });
  }

  /** Runs `write` on the reused buffer and gives `finish` the bytes written (see `encode`). */
  static #withScratch(
    write: (w: ProtoWriter) => void,
    finish: (bytes: Uint8Array) => Uint8Array,
  ): Uint8Array {
    const w = new ProtoWriter(0);
    w.#buf = scratch ?? new Uint8Array(SCRATCH_SIZE);
    scratch = undefined;
    try {
      write(w);
      return finish(w.#buf.subarray(0, w.#pos));
    } finally {
      const used = w.#buf;
      used.fill(0, 0, w.#pos);
      w.#buf = DETACHED;
      w.#pos = 0;
      if (used.length <= SCRATCH_MAX) scratch = used;
    }
  }

  /** Bytes written so far: where the next field starts. */
  get length(): number {
    return this.#pos;
  }

  #reserve(extra: number): void {
    if (this.#pos + extra <= this.#buf.length) return;
    let size = Math.max(this.#buf.length * 2, 64);
    while (size < this.#pos + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#pos));
    this.#buf = next;
  }

  #varint(value: number): void {
    // Values here are non-negative integers below 2^53 (counters, ids, times).
    this.#reserve(10);
    let v = value;
    while (v >= 0x80) {
      this.#buf[this.#pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.#buf[this.#pos++] = v;
  }

  #tag(field: number, wireType: number): void {
    this.#varint(field * 8 + wireType);
  }

  /** A `uint32`/`uint64` field holding a non-negative safe integer. */
  uint(field: number, value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError('protobuf varint must be a non-negative safe integer');
    }
    this.#tag(field, WireType.varint);
    this.#varint(value);
    return this;
  }

  /** A `fixed64` field holding a non-negative safe integer. */
  fixed64(field: number, value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError('protobuf fixed64 must be a non-negative safe integer');
    }
    this.#tag(field, WireType.fixed64);
    this.#reserve(8);
    const low = value % 0x1_0000_0000;
    const high = Math.floor(value / 0x1_0000_0000);
    for (let i = 0; i < 4; i++) this.#buf[this.#pos++] = (low >>> (8 * i)) & 0xff;
    for (let i = 0; i < 4; i++) this.#buf[this.#pos++] = (high >>> (8 * i)) & 0xff;
    return this;
  }

  /** A `bytes` field (also used for embedded messages). */
  bytes(field: number, value: Uint8Array): this {
    this.#tag(field, WireType.bytes);
    this.#varint(value.length);
    this.#reserve(value.length);
    this.#buf.set(value, this.#pos);
    this.#pos += value.length;
    return this;
  }

  /**
   * An embedded message, written in place: the body goes after room for the
   * longest length prefix (5 bytes covers any 32-bit length), then slides
   * back once its length is known. No temporary buffer per sub-message.
   * `seen`, if given, is shown the message's bytes once written: a view
   * into the writer's buffer, valid only during that call.
   */
  message(field: number, write: (w: ProtoWriter) => void, seen?: (body: Uint8Array) => void): this {
    this.#tag(field, WireType.bytes);
    const lengthAt = this.#pos;
    this.#reserve(5);
    this.#pos += 5;
    const start = this.#pos;
    write(this);
    const length = this.#pos - start;
    let prefix = 1;
    for (let v = length; v >= 0x80; v = Math.floor(v / 0x80)) prefix++;
    this.#buf.copyWithin(lengthAt + prefix, start, this.#pos);
    // The prefix fits in the 5 bytes set aside, so it is written directly
    // (growing the buffer here would copy only up to the prefix).
    let at = lengthAt;
    let v = length;
    while (v >= 0x80) {
      this.#buf[at++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.#buf[at] = v;
    this.#pos = lengthAt + prefix + length;
    if (seen !== undefined) seen(this.#buf.subarray(this.#pos - length, this.#pos));
    return this;
  }

  /** The encoded bytes (a copy; the writer may be discarded). */
  finish(): Uint8Array {
    return this.#buf.slice(0, this.#pos);
  }
}

/** One decoded field: its number, wire type and value. */
export type ProtoField =
  | { readonly field: number; readonly wireType: 0; readonly value: number }
  | { readonly field: number; readonly wireType: 2; readonly value: Uint8Array }
  | { readonly field: number; readonly wireType: 1 | 5; readonly value: number };

/**
 * Reads protobuf fields one at a time. Every failure is a `ProtocolError`
 * with the caller's code: 'invalid-message' for bytes from the network,
 * 'invalid-state' for bytes from local storage.
 */
export class ProtoReader {
  #pos = 0;

  constructor(
    private readonly buf: Uint8Array,
    private readonly code: ProtocolErrorCode,
  ) {}

  #fail(what: string): never {
    throw new ProtocolError(this.code, `malformed protobuf: ${what}`);
  }

  #varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.#pos >= this.buf.length) this.#fail('truncated varint');
      const byte = this.buf[this.#pos++] ?? 0;
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        // Anything past 2^53 cannot be a counter, id or time this code wrote.
        if (!Number.isSafeInteger(result)) this.#fail('varint out of range');
        return result;
      }
      scale *= 0x80;
    }
    this.#fail('varint too long');
  }

  /** True while unread bytes remain. */
  get more(): boolean {
    return this.#pos < this.buf.length;
  }

  /** The next field. Wire types 3 and 4 (groups) are refused. */
  next(): ProtoField {
    const key = this.#varint();
    const field = Math.floor(key / 8);
    const wireType = key % 8;
    if (field === 0) this.#fail('field number 0');
    switch (wireType) {
      case WireType.varint:
        return { field, wireType: 0, value: this.#varint() };
      case WireType.bytes: {
        const length = this.#varint();
        if (length > this.buf.length - this.#pos) this.#fail('length past end');
        const value = this.buf.subarray(this.#pos, this.#pos + length);
        this.#pos += length;
        return { field, wireType: 2, value };
      }
      case WireType.fixed64: {
        if (this.buf.length - this.#pos < 8) this.#fail('truncated fixed64');
        let low = 0;
        let high = 0;
        for (let i = 0; i < 4; i++) low += (this.buf[this.#pos + i] ?? 0) * 2 ** (8 * i);
        for (let i = 0; i < 4; i++) high += (this.buf[this.#pos + 4 + i] ?? 0) * 2 ** (8 * i);
        this.#pos += 8;
        const value = high * 0x1_0000_0000 + low;
        if (!Number.isSafeInteger(value)) this.#fail('fixed64 out of range');
        return { field, wireType: 1, value };
      }
      case WireType.fixed32: {
        if (this.buf.length - this.#pos < 4) this.#fail('truncated fixed32');
        let value = 0;
        for (let i = 0; i < 4; i++) value += (this.buf[this.#pos + i] ?? 0) * 2 ** (8 * i);
        this.#pos += 4;
        return { field, wireType: 5, value };
      }
      default:
        this.#fail(`unsupported wire type ${wireType}`);
    }
  }

  /** Fails with the reader's code: for a field of the wrong wire type or value. */
  fail(what: string): never {
    this.#fail(what);
  }
}

/** The value of a varint field as a `uint32`, or a typed failure. */
export function asUint32(reader: ProtoReader, f: ProtoField): number {
  if (f.wireType !== 0) reader.fail(`field ${f.field} must be a varint`);
  if (f.value > 0xffffffff) reader.fail(`field ${f.field} exceeds uint32`);
  return f.value;
}

/** The value of a length-delimited field, or a typed failure. */
export function asBytes(reader: ProtoReader, f: ProtoField): Uint8Array {
  if (f.wireType !== 2) reader.fail(`field ${f.field} must be length-delimited`);
  return f.value;
}
