/**
 * The browser transport: the same contract as ws-transport.ts (one binary
 * `Frame` per WebSocket message, requests matched to responses by id,
 * pushes buffered until read) over the browser's `WebSocket`.
 *
 * It cannot share code with the Node transport: that file imports the `ws`
 * package, which must not reach the browser bundle. No automatic reconnect
 * here either; the app opens a new transport after a `disconnected` event.
 */
import type { Push, Response } from '../../gen/quintet/v1/transport_pb.js';
import { decodeFrame, encodeFrame, requestFrame, type RequestBody } from '../../wire/frame.js';
import { WEBSOCKET_PATH } from '../../wire/limits.js';
import { ClientError } from '../core/errors.js';
import type { Transport } from '../core/transport.js';

/** Options of `BrowserWsTransport.connect`. */
export interface BrowserWsTransportOptions {
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
 * The WebSocket URL of the server a page was loaded from (`https://host` →
 * `wss://host/v1/websocket`): the app talks to its own origin, so a page
 * served over TLS never opens a plaintext socket.
 */
export function websocketUrlForOrigin(origin: string): string {
  let url: URL;
  try {
    url = new URL(origin);
  } catch (error) {
    throw new ClientError('invalid-argument', 'the server URL does not parse', { cause: error });
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  else if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new ClientError('invalid-argument', 'the server URL must be http(s) or ws(s)');
  }
  url.pathname = WEBSOCKET_PATH;
  url.search = '';
  url.hash = '';
  return url.toString();
}

/** A `Transport` over one browser `WebSocket`. */
export class BrowserWsTransport implements Transport {
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
    socket.onmessage = (event: MessageEvent<unknown>) => this.#onMessage(event.data);
    // 'close' follows every 'error'; the failure is reported there.
    socket.onerror = null;
    socket.onclose = () => this.#onClose();
  }

  /** Connects to `url` (ws: or wss:); rejects with `ClientError('connect-failed')`. */
  static connect(
    url: string,
    options: BrowserWsTransportOptions = {},
  ): Promise<BrowserWsTransport> {
    return new Promise((resolve, reject) => {
      let socket: WebSocket;
      try {
        socket = new WebSocket(url);
      } catch (error) {
        reject(new ClientError('connect-failed', 'the server URL was refused', { cause: error }));
        return;
      }
      socket.binaryType = 'arraybuffer';
      const fail = (reason: string): void => {
        clearTimeout(timer);
        socket.onopen = socket.onerror = socket.onclose = null;
        socket.close();
        reject(new ClientError('connect-failed', reason));
      };
      const timer = setTimeout(
        () => fail('the server did not accept the connection in time'),
        options.connectTimeoutMs ?? 10_000,
      );
      // The browser hides why a WebSocket failed (by design), so there is no cause to attach.
      socket.onerror = () => fail('cannot reach the server');
      socket.onclose = () => fail('the server closed the connection while connecting');
      socket.onopen = () => {
        clearTimeout(timer);
        socket.onopen = socket.onerror = socket.onclose = null;
        resolve(new BrowserWsTransport(socket, options.requestTimeoutMs ?? 30_000));
      };
    });
  }

  request(body: RequestBody): Promise<Response> {
    if (this.#closed || this.#socket.readyState !== WebSocket.OPEN) {
      return Promise.reject(new ClientError('transport-closed', 'the connection is closed'));
    }
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new ClientError('timeout', 'the server did not answer in time'));
      }, this.#requestTimeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      try {
        this.#socket.send(encodeFrame(requestFrame(id, body)));
      } catch (error) {
        this.#pending.delete(id);
        clearTimeout(timer);
        reject(new ClientError('transport-closed', 'sending the request failed', { cause: error }));
      }
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
    if (this.#socket.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2_000);
        this.#socket.addEventListener('close', () => {
          clearTimeout(timer);
          resolve();
        });
        this.#socket.close(1000);
      });
    }
    this.#onClose();
  }

  #onMessage(data: unknown): void {
    // Text messages are not part of the protocol; ignore them like the Node transport.
    if (!(data instanceof ArrayBuffer)) return;
    let frame;
    try {
      frame = decodeFrame(new Uint8Array(data));
    } catch (error) {
      // A server we cannot parse is a broken server: fail everything loudly.
      this.#failAll(
        new ClientError('unexpected-response', 'the server sent a frame that does not parse', {
          cause: error,
        }),
      );
      this.#socket.close(1002);
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
