/**
 * The Node transport: one WebSocket (the `ws` package) carrying one `Frame`
 * per binary message. Requests get increasing ids and are matched to their
 * responses; pushes are buffered until the client reads them, so nothing the
 * server sends between `connect` and the first read is lost.
 *
 * No automatic reconnect: the CLI runs one connection per command, and an
 * application decides itself when to open a new `WsTransport`.
 */
import WebSocket from 'ws';
import type { Push, Response } from '../../gen/quintet/v1/transport_pb.js';
import { decodeFrame, encodeFrame, requestFrame, type RequestBody } from '../../wire/frame.js';
import { WEBSOCKET_PATH } from '../../wire/limits.js';
import { ClientError } from '../core/errors.js';
import type { Transport } from '../core/transport.js';

/** Options of `WsTransport.connect`. */
export interface WsTransportOptions {
  /** How long to wait for the connection, ms. */
  readonly connectTimeoutMs?: number;
  /** How long to wait for each response, ms. */
  readonly requestTimeoutMs?: number;
}

interface Pending {
  readonly resolve: (response: Response) => void;
  readonly reject: (error: Error) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/**
 * Turns a server URL as users write it (`http://host:8080`, `ws://…`) into
 * the WebSocket URL. Throws `ClientError('invalid-argument')` for anything else.
 */
export function websocketUrl(serverUrl: string): string {
  let url: URL;
  try {
    url = new URL(serverUrl);
  } catch (error) {
    throw new ClientError('invalid-argument', 'the server URL does not parse', { cause: error });
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  else if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new ClientError('invalid-argument', 'the server URL must be http(s) or ws(s)');
  }
  if (url.pathname === '/' || url.pathname === '') url.pathname = WEBSOCKET_PATH;
  return url.toString();
}

/** A `Transport` over one WebSocket. */
export class WsTransport implements Transport {
  readonly #socket: WebSocket;
  readonly #pending = new Map<bigint, Pending>();
  readonly #pushes: Push[] = [];
  readonly #requestTimeoutMs: number;
  #wake: (() => void) | undefined;
  #nextId = 1n;
  #closed = false;

  private constructor(socket: WebSocket, requestTimeoutMs: number) {
    this.#socket = socket;
    this.#requestTimeoutMs = requestTimeoutMs;
    socket.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    socket.on('close', () => this.#onClose());
    // 'close' follows every 'error'; the failure is reported there.
    socket.on('error', () => undefined);
  }

  /** Connects; rejects with `ClientError('connect-failed')` when the server cannot be reached. */
  static connect(serverUrl: string, options: WsTransportOptions = {}): Promise<WsTransport> {
    const url = websocketUrl(serverUrl);
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { handshakeTimeout: options.connectTimeoutMs ?? 10_000 });
      socket.binaryType = 'nodebuffer';
      const onError = (error: Error): void => {
        socket.removeAllListeners();
        socket.on('error', () => undefined);
        socket.terminate();
        reject(
          new ClientError('connect-failed', `cannot reach the server at ${url}`, { cause: error }),
        );
      };
      socket.once('error', onError);
      socket.once('open', () => {
        socket.off('error', onError);
        resolve(new WsTransport(socket, options.requestTimeoutMs ?? 30_000));
      });
    });
  }

  request(body: RequestBody): Promise<Response> {
    if (this.#closed) {
      return Promise.reject(new ClientError('transport-closed', 'the connection is closed'));
    }
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new ClientError('timeout', 'the server did not answer in time'));
      }, this.#requestTimeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#socket.send(encodeFrame(requestFrame(id, body)), (error) => {
        if (error === undefined || error === null) return;
        const pending = this.#pending.get(id);
        if (pending === undefined) return;
        this.#pending.delete(id);
        clearTimeout(pending.timer);
        reject(new ClientError('transport-closed', 'sending the request failed', { cause: error }));
      });
    });
  }

  get pushes(): AsyncIterable<Push> {
    const next = async (): Promise<IteratorResult<Push>> => {
      for (;;) {
        const push = this.#pushes.shift();
        if (push !== undefined) return { value: push, done: false };
        if (this.#closed) return { value: undefined, done: true };
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
        this.#wake = undefined;
      }
    };
    return { [Symbol.asyncIterator]: () => ({ next }) };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await new Promise<void>((resolve) => {
      this.#socket.once('close', () => resolve());
      this.#socket.close(1000);
      // A peer that never completes the closing handshake must not hang us.
      setTimeout(() => {
        this.#socket.terminate();
        resolve();
      }, 2_000).unref();
    });
    this.#onClose();
  }

  #onMessage(data: WebSocket.RawData, isBinary: boolean): void {
    if (!isBinary) return;
    const bytes = new Uint8Array(Array.isArray(data) ? Buffer.concat(data) : data);
    let frame;
    try {
      frame = decodeFrame(bytes);
    } catch {
      // A server we cannot parse is a broken server: fail everything loudly.
      this.#failAll(
        new ClientError('unexpected-response', 'the server sent a frame that does not parse'),
      );
      this.#socket.terminate();
      return;
    }
    if (frame.kind.case === 'response') {
      const response = frame.kind.value;
      const pending = this.#pending.get(response.id);
      if (pending === undefined) return;
      this.#pending.delete(response.id);
      clearTimeout(pending.timer);
      pending.resolve(response);
    } else if (frame.kind.case === 'push') {
      this.#pushes.push(frame.kind.value);
      this.#wake?.();
    }
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#failAll(new ClientError('transport-closed', 'the connection closed'));
    this.#wake?.();
  }

  #failAll(error: ClientError): void {
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(error);
      this.#pending.delete(id);
    }
  }
}
