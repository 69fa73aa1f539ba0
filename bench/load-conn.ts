/**
 * The load generator's Quintet connection (bench/server-load.ts): requests
 * with ids, acks of pushed envelopes once per turn, and a hand reader for
 * the two frames every message brings (a plain success, a pushed envelope)
 * so the instrument's own cost per message stays near the relay client's.
 */
import { WebSocket } from 'ws';
import type { Response } from '../src/gen/quintet/v1/transport_pb.js';
import { decodeFrame, encodeFrame, requestFrame, type RequestBody } from '../src/wire/frame.js';
import { ackRequestBytes } from '../src/wire/hot-frames.js';

export class QuintetConn {
  private nextId = 1n;
  private readonly waiting = new Map<bigint, (r: Response) => void>();
  private acks: Uint8Array[] = [];
  private ackScheduled = false;
  /** Ids of `postBytes` requests whose responses only count errors (plain numbers: no bigint per message). */
  private readonly posted = new Set<number>();
  onEnvelope: (content: Uint8Array) => void = () => undefined;
  onDrained: () => void = () => undefined;
  errors = 0;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) =>
      this.onMessage(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)),
    );
  }

  static open(url: string): Promise<QuintetConn> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      ws.once('open', () => resolve(new QuintetConn(ws)));
      ws.once('error', reject);
    });
  }

  request(body: RequestBody): Promise<Response> {
    const id = this.nextId++;
    const answer = new Promise<Response>((resolve) => this.waiting.set(id, resolve));
    this.ws.send(encodeFrame(requestFrame(id, body)));
    return answer;
  }

  /** Fire-and-forget request whose response only counts errors. */
  post(body: RequestBody): void {
    this.request(body).then(
      (r) => {
        if (r.error !== undefined) this.errors += 1;
      },
      () => {
        this.errors += 1;
      },
    );
  }

  /** Sends a pre-encoded request frame (hot path: sends and acks) and counts error responses. */
  postBytes(id: number, frame: Uint8Array): void {
    this.posted.add(id);
    this.ws.send(frame);
  }

  /** A fresh request id for `postBytes`. */
  takeId(): number {
    return Number(this.nextId++);
  }

  private onMessage(bytes: Uint8Array): void {
    // The load generator is the instrument, not the subject: read pushes and
    // plain successes by hand so its cost per message stays near the relay
    // client's; anything else goes through the generated decoder.
    const hot = peekHot(bytes);
    if (hot?.kind === 'ok' && this.posted.delete(hot.id)) return;
    if (hot?.kind === 'envelope') {
      this.onPushedEnvelope(hot.guid, hot.content);
      return;
    }
    const frame = decodeFrame(bytes);
    if (frame.kind.case === 'response') {
      const response = frame.kind.value;
      if (this.posted.delete(Number(response.id))) {
        if (response.error !== undefined) this.errors += 1;
        return;
      }
      const resolve = this.waiting.get(response.id);
      this.waiting.delete(response.id);
      resolve?.(response);
    } else if (frame.kind.case === 'push') {
      const push = frame.kind.value;
      if (push.kind.case === 'envelope') {
        this.onPushedEnvelope(push.kind.value.serverGuid, push.kind.value.content);
      } else if (push.kind.case === 'queueDrained') {
        this.onDrained();
      }
    }
  }

  private onPushedEnvelope(guid: Uint8Array, content: Uint8Array): void {
    this.acks.push(guid);
    if (!this.ackScheduled) {
      this.ackScheduled = true;
      // A client acks what it has stored; one ack per turn covers every
      // envelope that arrived in it.
      setImmediate(() => {
        this.ackScheduled = false;
        const guids = this.acks;
        this.acks = [];
        const id = this.takeId();
        this.postBytes(id, ackRequestBytes(id, guids));
      });
    }
    this.onEnvelope(content);
  }
}

type Hot =
  | { kind: 'ok'; id: number }
  | { kind: 'envelope'; guid: Uint8Array; content: Uint8Array }
  | undefined;

/** The read position of `varintAt` (module state: no closure per frame). */
let at = 0;

/** The varint at `at` in `b`, advancing `at`; -1 if cut short or too long. */
function varintAt(b: Uint8Array): number {
  let value = 0;
  let scale = 1;
  for (;;) {
    const byte = b[at++];
    if (byte === undefined || scale > 2 ** 49) return -1;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return value;
    scale *= 128;
  }
}

/**
 * Recognises `Frame{response{id, no error}}` and `Frame{push{envelope}}`
 * (taking only guid and content); `undefined` for anything else.
 */
function peekHot(b: Uint8Array): Hot {
  at = 0;
  const outer = b[at++];
  const length = varintAt(b);
  if (length < 0 || at + length !== b.length) return undefined;
  if (outer === 0x12) {
    let id = 0;
    while (at < b.length) {
      const tag = varintAt(b);
      if (tag === 0x08) id = varintAt(b);
      else if (tag === 0x10 || tag === 0x12 || tag < 0)
        return undefined; // error: slow path
      else if ((tag & 7) === 2) {
        // Read the length first: `at += varintAt(b)` would add it to the
        // position from before the length's own bytes.
        const skip = varintAt(b);
        if (skip < 0) return undefined;
        at += skip;
      } else return undefined;
    }
    return id < 0 ? undefined : { kind: 'ok', id };
  }
  if (outer !== 0x1a || b[at++] !== 0x0a) return undefined;
  const envelopeLength = varintAt(b);
  if (envelopeLength < 0) return undefined;
  const end = at + envelopeLength;
  let guid: Uint8Array | undefined;
  let content: Uint8Array | undefined;
  while (at < end) {
    const tag = varintAt(b);
    if ((tag & 7) === 0) {
      varintAt(b);
    } else if ((tag & 7) === 2) {
      const n = varintAt(b);
      if (n < 0) return undefined;
      if (tag === 0x0a) guid = b.subarray(at, at + n);
      if (tag === 0x32) content = b.subarray(at, at + n);
      at += n;
    } else {
      return undefined;
    }
  }
  if (guid === undefined || content === undefined) return undefined;
  return { kind: 'envelope', guid, content };
}
