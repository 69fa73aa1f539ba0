/**
 * The socket-independent half of a WebSocket transport: request ids and
 * their matching responses, request timeouts, and the push queue. The Node
 * (`ws`) and browser (`WebSocket`) transports wrap one each and only move
 * bytes, so the two cannot drift apart in how they match or fail requests.
 */
import type { Push, Response } from '../../gen/quintet/v1/transport_pb.js';
import { decodeFrame, encodeFrame, requestFrame, type RequestBody } from '../../wire/frame.js';
import { ClientError } from './errors.js';
import { platformScheduler, type Scheduler } from './scheduler.js';

/**
 * Sends one binary WebSocket message. Reports a failure either by throwing
 * or later through `onError` (the `ws` package reports in a callback).
 */
export type FrameSender = (bytes: Uint8Array, onError: (error: unknown) => void) => void;

interface Pending {
  readonly resolve: (response: Response) => void;
  readonly reject: (error: Error) => void;
  /** Cancels the request's timeout. */
  readonly cancel: () => void;
}

/** Matches responses to requests and buffers pushes for one connection. */
export class FrameChannel {
  readonly #send: FrameSender;
  readonly #requestTimeoutMs: number;
  readonly #schedule: Scheduler;
  readonly #pending = new Map<bigint, Pending>();
  readonly #pushes: Push[] = [];
  #wake: (() => void) | undefined;
  #nextId = 1n;
  #closed = false;

  /**
   * `schedule` runs the request timeouts (default: the platform timer; a
   * host or test with its own clock passes one driven by that clock).
   */
  constructor(
    send: FrameSender,
    requestTimeoutMs: number,
    schedule: Scheduler = platformScheduler,
  ) {
    this.#send = send;
    this.#requestTimeoutMs = requestTimeoutMs;
    this.#schedule = schedule;
  }

  /** True once the connection closed; every later request fails at once. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Sends a request and resolves with its response (or a typed `ClientError`). */
  request(body: RequestBody): Promise<Response> {
    if (this.#closed) {
      return Promise.reject(new ClientError('transport-closed', 'the connection is closed'));
    }
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const cancel = this.#schedule(this.#requestTimeoutMs, () => {
        if (!this.#pending.delete(id)) return;
        reject(new ClientError('timeout', 'the server did not answer in time'));
      });
      this.#pending.set(id, { resolve, reject, cancel });
      const failed = (error: unknown): void => {
        if (!this.#pending.delete(id)) return;
        cancel();
        reject(new ClientError('transport-closed', 'sending the request failed', { cause: error }));
      };
      try {
        this.#send(encodeFrame(requestFrame(id, body)), failed);
      } catch (error) {
        failed(error);
      }
    });
  }

  /** Pushes in arrival order; ends when the connection closes. */
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

  /**
   * Handles one binary message from the server. Returns false when it does
   * not parse: a server we cannot parse is a broken server, so every pending
   * request fails loudly and the caller closes the socket.
   */
  receive(bytes: Uint8Array): boolean {
    let frame;
    try {
      frame = decodeFrame(bytes);
    } catch (error) {
      this.#failAll(
        new ClientError('unexpected-response', 'the server sent a frame that does not parse', {
          cause: error,
        }),
      );
      return false;
    }
    if (frame.kind.case === 'response') {
      const response = frame.kind.value;
      const pending = this.#pending.get(response.id);
      if (pending === undefined) return true;
      this.#pending.delete(response.id);
      pending.cancel();
      pending.resolve(response);
    } else if (frame.kind.case === 'push') {
      this.#pushes.push(frame.kind.value);
      this.#wake?.();
    }
    return true;
  }

  /** The socket closed: fail what is pending and end the push stream. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#failAll(new ClientError('transport-closed', 'the connection closed'));
    this.#wake?.();
  }

  #failAll(error: ClientError): void {
    for (const [id, pending] of this.#pending) {
      pending.cancel();
      pending.reject(error);
      this.#pending.delete(id);
    }
  }
}
