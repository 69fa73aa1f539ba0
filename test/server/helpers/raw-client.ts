/**
 * A minimal test client speaking raw frames, so server tests exercise the
 * wire protocol directly (including bytes no real client would send).
 */
import { WebSocket } from 'ws';
import type { Push, Response } from '../../../src/gen/quintet/v1/transport_pb.js';
import {
  decodeFrame,
  encodeFrame,
  requestFrame,
  type RequestBody,
} from '../../../src/wire/frame.js';

/** How a connection ended. */
export interface CloseInfo {
  readonly code: number;
  readonly reason: string;
}

/** A raw protocol client for tests. */
export class RawClient {
  private nextId = 1n;
  private readonly waiting = new Map<bigint, (response: Response) => void>();
  /** Responses with id 0 (to frames that did not parse). */
  readonly unsolicited: Response[] = [];
  private readonly pushes: Push[] = [];
  private pushWaiter: (() => void) | undefined;
  readonly closed: Promise<CloseInfo>;

  private constructor(readonly socket: WebSocket) {
    socket.binaryType = 'nodebuffer';
    socket.on('message', (data: Buffer) => {
      const frame = decodeFrame(new Uint8Array(data));
      if (frame.kind.case === 'response') {
        const response = frame.kind.value;
        const resolve = this.waiting.get(response.id);
        if (resolve === undefined) this.unsolicited.push(response);
        else {
          this.waiting.delete(response.id);
          resolve(response);
        }
      } else if (frame.kind.case === 'push') {
        this.pushes.push(frame.kind.value);
        this.pushWaiter?.();
      }
    });
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
  }

  /** Opens a connection to `url` (ws://…). */
  static connect(url: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url);
      socket.once('open', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Sends a request and resolves with its response (success or error). */
  request(body: RequestBody): Promise<Response> {
    const id = this.nextId++;
    const answer = new Promise<Response>((resolve) => this.waiting.set(id, resolve));
    this.socket.send(encodeFrame(requestFrame(id, body)));
    return withTimeout(answer, 5000, 'response');
  }

  /** Sends arbitrary bytes as one binary message. */
  sendRaw(bytes: Uint8Array | string): void {
    this.socket.send(bytes);
  }

  /** The next push (in arrival order), waiting up to `timeoutMs`. */
  async nextPush(timeoutMs = 5000): Promise<Push> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const push = this.pushes.shift();
      if (push !== undefined) return push;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no push arrived');
      await withTimeout(
        new Promise<void>((resolve) => {
          this.pushWaiter = resolve;
        }),
        left,
        'push',
      ).catch(() => undefined);
      this.pushWaiter = undefined;
    }
  }

  /** Pushes received and not yet taken. */
  pendingPushes(): readonly Push[] {
    return this.pushes;
  }

  /** Waits `ms` and asserts nothing else was pushed in the meantime (returns what was). */
  async drainPushesFor(ms: number): Promise<Push[]> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.pushes.splice(0);
  }

  close(): void {
    this.socket.close();
  }
}

/** Rejects if `promise` does not settle within `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
