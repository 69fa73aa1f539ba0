/**
 * The transport contract the client core talks through. The core never opens
 * sockets: a Node implementation (src/client/transport/ws-transport.ts), a
 * browser one, or an in-memory fake in tests is passed in.
 */
import type { Push, Response } from '../../gen/quintet/v1/transport_pb.js';
import type { RequestBody } from '../../wire/frame.js';

/** One connection to a Quintet server. */
export interface Transport {
  /**
   * Sends one request and resolves with its response (successful or carrying
   * `error`). Rejects with `ClientError('transport-closed' | 'timeout')` when
   * no response can arrive.
   */
  request(body: RequestBody): Promise<Response>;
  /** Pushes from the server, in arrival order; ends when the connection closes. */
  readonly pushes: AsyncIterable<Push>;
  /** Closes the connection; pending requests reject, `pushes` ends. */
  close(): Promise<void>;
  /**
   * The WebSocket close code once the connection closed (1006: it dropped
   * without a close frame); undefined while open. Whether to reconnect
   * depends on it (reconnect-policy.ts). Optional: a transport that cannot
   * know it (a test fake) leaves it out, which reads as a transient drop.
   */
  readonly closeCode?: number | undefined;
}
