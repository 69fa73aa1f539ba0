/**
 * The Node transport: one WebSocket (the `ws` package) carrying one `Frame`
 * per binary message. Request matching and the push queue live in the pure
 * `FrameChannel`; this file only moves bytes. Pushes are buffered until the
 * client reads them, so nothing the server sends between `connect` and the
 * first read is lost.
 *
 * No automatic reconnect here: one transport is one connection. The
 * reconnecting loop (client/core/reconnector.ts) opens a new `WsTransport`
 * per attempt and decides from `closeCode` whether to.
 */
import WebSocket from 'ws';
import type { Push, Response } from '../../gen/quintet/v1/transport_pb.js';
import type { RequestBody } from '../../wire/frame.js';
import { ClientError } from '../core/errors.js';
import { FrameChannel } from '../core/frame-channel.js';
import { platformScheduler, type Scheduler } from '../core/scheduler.js';
import { websocketUrl } from '../core/server-url.js';
import type { Transport } from '../core/transport.js';

export { websocketUrl };

/** Options of `WsTransport.connect`. */
export interface WsTransportOptions {
  /** How long to wait for the connection, ms. */
  readonly connectTimeoutMs?: number;
  /** How long to wait for each response, ms. */
  readonly requestTimeoutMs?: number;
  /**
   * Drop the connection (close code 1006) when nothing at all — no frame,
   * no ping — arrived during a whole interval of this many ms (so it is
   * noticed after one to two intervals). The server pings every 30 s, so
   * silence means the network died without telling either side (a NAT
   * forgot the mapping, Wi-Fi changed): TCP alone would wait for many
   * minutes, and a follower would sit there receiving nothing. Default
   * `DEFAULT_IDLE_TIMEOUT_MS`; 0 disables.
   */
  readonly idleTimeoutMs?: number;
  /**
   * The timer of the connect and request timeouts, the idle check and the
   * closing-handshake wait (default: the platform timer). A host or test
   * with its own clock passes one driven by that clock.
   */
  readonly schedule?: Scheduler | undefined;
}

/** Two server heartbeat intervals (30 s): one late ping is not a dead network. */
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;

/** A `Transport` over one WebSocket. */
export class WsTransport implements Transport {
  readonly #socket: WebSocket;
  readonly #channel: FrameChannel;
  #closeCode: number | undefined;
  readonly #schedule: Scheduler;
  /** Cancels the pending idle check. */
  #cancelIdle: () => void = () => undefined;

  private constructor(
    socket: WebSocket,
    requestTimeoutMs: number,
    idleTimeoutMs: number,
    schedule: Scheduler,
  ) {
    this.#socket = socket;
    this.#schedule = schedule;
    this.#channel = new FrameChannel(
      (bytes, onError) =>
        socket.send(bytes, (error) => {
          if (error !== undefined && error !== null) onError(error);
        }),
      requestTimeoutMs,
      schedule,
    );
    socket.on('message', (data, isBinary) => {
      // Text messages are not part of the protocol.
      if (!isBinary) return;
      const bytes = new Uint8Array(Array.isArray(data) ? Buffer.concat(data) : data);
      if (!this.#channel.receive(bytes)) socket.terminate();
    });
    socket.on('close', (code) => {
      this.#cancelIdle();
      this.#closeCode = code;
      this.#channel.close();
    });
    if (idleTimeoutMs > 0) {
      // A flag per frame and one timer per interval: no timer churn on the hot path.
      let heard = false;
      const hear = (): void => {
        heard = true;
      };
      socket.on('ping', hear);
      socket.on('pong', hear);
      socket.on('message', hear);
      // One check per interval, each scheduling the next. No `unref` is
      // needed for a process to end once its work is done: the open socket
      // keeps it alive anyway, and 'close' cancels the pending check.
      const check = (): void => {
        // terminate() closes without a handshake: the peer is not listening.
        if (!heard) socket.terminate();
        heard = false;
        this.#cancelIdle = schedule(idleTimeoutMs, check);
      };
      this.#cancelIdle = schedule(idleTimeoutMs, check);
    }
    // 'close' follows every 'error'; the failure is reported there.
    socket.on('error', () => undefined);
  }

  /** Connects; rejects with `ClientError('connect-failed')` when the server cannot be reached. */
  static connect(serverUrl: string, options: WsTransportOptions = {}): Promise<WsTransport> {
    const url = websocketUrl(serverUrl);
    const schedule = options.schedule ?? platformScheduler;
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url);
      socket.binaryType = 'nodebuffer';
      let cancelTimeout = (): void => undefined;
      const onError = (error: Error): void => {
        cancelTimeout();
        socket.removeAllListeners();
        socket.on('error', () => undefined);
        socket.terminate();
        reject(
          new ClientError('connect-failed', `cannot reach the server at ${url}`, { cause: error }),
        );
      };
      socket.once('error', onError);
      // The connect timeout runs on `schedule` (not the `ws` package's own
      // handshake timer), so a test's clock decides when it fires.
      cancelTimeout = schedule(options.connectTimeoutMs ?? 10_000, () =>
        onError(new Error('the server did not accept the connection in time')),
      );
      socket.once('open', () => {
        cancelTimeout();
        socket.off('error', onError);
        resolve(
          new WsTransport(
            socket,
            options.requestTimeoutMs ?? 30_000,
            options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
            schedule,
          ),
        );
      });
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
    await new Promise<void>((resolve) => {
      // A peer that never completes the closing handshake must not hang us.
      const cancel = this.#schedule(2_000, () => {
        this.#socket.terminate();
        resolve();
      });
      this.#socket.once('close', () => {
        // Cancelled, so a finished process does not wait out the 2 s.
        cancel();
        resolve();
      });
      this.#socket.close(1000);
    });
    this.#channel.close();
  }
}
