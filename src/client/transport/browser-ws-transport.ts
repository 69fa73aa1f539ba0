/**
 * The browser transport: the same contract as ws-transport.ts over the
 * browser's `WebSocket`. Request matching and the push queue are the shared
 * pure `FrameChannel`; this file only moves bytes (the Node transport imports
 * the `ws` package, which must not reach the browser bundle). No automatic
 * reconnect here: the reconnecting loop (client/core/reconnector.ts) opens a
 * new transport per attempt and decides from `closeCode` whether to.
 */
import type { Push, Response } from '../../gen/quintet/v1/transport_pb.js';
import type { RequestBody } from '../../wire/frame.js';
import { ClientError } from '../core/errors.js';
import { FrameChannel } from '../core/frame-channel.js';
import { platformScheduler, type Scheduler } from '../core/scheduler.js';
import { websocketUrl } from '../core/server-url.js';
import type { Transport } from '../core/transport.js';

/** Options of `BrowserWsTransport.connect`. */
export interface BrowserWsTransportOptions {
  /** How long to wait for the connection, ms. */
  readonly connectTimeoutMs?: number;
  /** How long to wait for each response, ms. */
  readonly requestTimeoutMs?: number;
  /**
   * The timer of the connect and request timeouts and the closing-handshake
   * wait (default: the platform timer). A host or test with its own clock
   * passes one driven by that clock.
   */
  readonly schedule?: Scheduler | undefined;
}

/**
 * The WebSocket URL of the server a page was loaded from (`https://host` →
 * `wss://host/v1/websocket`): the app talks to its own origin, so a page
 * served over TLS never opens a plaintext socket.
 */
export function websocketUrlForOrigin(origin: string): string {
  return websocketUrl(origin);
}

/** A `Transport` over one browser `WebSocket`. */
export class BrowserWsTransport implements Transport {
  readonly #socket: WebSocket;
  readonly #channel: FrameChannel;
  readonly #schedule: Scheduler;
  #closeCode: number | undefined;

  private constructor(socket: WebSocket, requestTimeoutMs: number, schedule: Scheduler) {
    this.#socket = socket;
    this.#schedule = schedule;
    this.#channel = new FrameChannel(
      (bytes) => {
        if (socket.readyState !== WebSocket.OPEN) throw new Error('socket not open');
        socket.send(bytes);
      },
      requestTimeoutMs,
      schedule,
    );
    socket.onmessage = (event: MessageEvent<unknown>) => {
      // Text messages are not part of the protocol.
      if (!(event.data instanceof ArrayBuffer)) return;
      if (!this.#channel.receive(new Uint8Array(event.data))) socket.close(1002);
    };
    // 'close' follows every 'error'; the failure is reported there.
    socket.onerror = null;
    socket.onclose = (event: CloseEvent) => {
      this.#closeCode = event.code;
      this.#channel.close();
    };
  }

  /** Connects to `url` (ws: or wss:); rejects with `ClientError('connect-failed')`. */
  static connect(
    url: string,
    options: BrowserWsTransportOptions = {},
  ): Promise<BrowserWsTransport> {
    const schedule = options.schedule ?? platformScheduler;
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
        cancelTimeout();
        socket.onopen = socket.onerror = socket.onclose = null;
        socket.close();
        reject(new ClientError('connect-failed', reason));
      };
      const cancelTimeout = schedule(options.connectTimeoutMs ?? 10_000, () =>
        fail('the server did not accept the connection in time'),
      );
      // The browser hides why a WebSocket failed (by design), so there is no cause to attach.
      socket.onerror = () => fail('cannot reach the server');
      socket.onclose = () => fail('the server closed the connection while connecting');
      socket.onopen = () => {
        cancelTimeout();
        socket.onopen = socket.onerror = socket.onclose = null;
        resolve(new BrowserWsTransport(socket, options.requestTimeoutMs ?? 30_000, schedule));
      };
    });
  }

  /** The close code once closed (1006 for a drop without a close frame). */
  get closeCode(): number | undefined {
    return this.#closeCode;
  }

  request(body: RequestBody): Promise<Response> {
    return this.#channel.request(body);
  }

  get pushes(): AsyncIterable<Push> {
    return this.#channel.pushes;
  }

  async close(): Promise<void> {
    if (this.#channel.closed) return;
    if (this.#socket.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        const cancel = this.#schedule(2_000, resolve);
        this.#socket.addEventListener('close', () => {
          cancel();
          resolve();
        });
        this.#socket.close(1000);
      });
    }
    this.#channel.close();
  }
}
