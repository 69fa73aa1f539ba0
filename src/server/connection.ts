/**
 * One client WebSocket: turns binary messages into requests, answers each
 * with a response carrying the same id, enforces "authenticate first", and —
 * once authenticated — owns the device's delivery.
 *
 * Untrusted input never crashes the server: a frame that does not parse
 * gets a `malformed-frame` error response, and after a few of those the
 * connection is closed (4002) instead of spending work on an abuser.
 *
 * Nothing a client has not read may pile up in server memory: everything
 * sent to a connection counts against its output budget
 * (`maxConnectionOutputBytes`, see output-budget.ts). Past it the server stops reading the
 * connection's requests — the socket is paused, so TCP backpressure holds
 * the client back instead of the server buffering its requests — and its
 * backlog delivery waits, until the output drains to half the budget. A
 * connection that stays over budget for `outputStuckMs`, or reaches twice
 * the budget, is closed (4004). A connection that has not authenticated
 * within `authTimeoutMs` is closed too (4005).
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { Request } from '../gen/quintet/v1/transport_pb.js';
import { WireError } from '../wire/errors.js';
import { decodeFrame, encodeFrame, errorResponseFrame, type ResponseBody } from '../wire/frame.js';
import { decodeHotRequest } from '../wire/hot-frames.js';
import type { DeviceAddress, ServerContext } from './context.js';
import { DeviceDelivery } from './delivery.js';
import type { DeviceEndpoint } from './cluster/device-router.js';
import { responseBytes, toBytes } from './connection-frames.js';
import { preKeysLowPush } from './envelope-frames.js';
import { ServiceError, storeServiceError } from './errors.js';
import { OutputBudget } from './output-budget.js';
import { StoreError, type QueuedEnvelope } from './store/types.js';
import { tcpSocket, type SocketCorker } from './socket-corker.js';

/** WebSocket close codes the server uses (4000–4999 are application codes). */
export const CloseCodes = {
  /** RFC 6455: the server is going away (shutdown). */
  goingAway: 1001,
  /** RFC 6455: message too big (sent by ws when a frame exceeds maxPayload). */
  tooBig: 1009,
  /** The same device connected again; this older connection is closed. */
  replaced: 4001,
  /** Too many frames that did not parse. */
  malformedFrames: 4002,
  /** The device was removed (a `LoggedOut` push precedes this). */
  loggedOut: 4003,
  /** The client did not read what the server sent it: its output budget stayed full. */
  outputStuck: 4004,
  /** The connection did not authenticate within the deadline. */
  authTimeout: 4005,
  /** A storage fault while delivering this device's queue; reconnect to resume. */
  deliveryFailed: 4006,
} as const;

/** What a handler returns: the response body, and work to do after the response is sent. */
export interface HandlerResult {
  readonly body: ResponseBody;
  readonly after?: () => void;
}

/**
 * Runs one request; throws (or rejects with) `ServiceError` to fail it.
 * Handlers that need no store round trip answer synchronously: on the
 * message hot path every promise and microtask per request is measurable.
 */
export type RequestDispatcher = (
  ctx: ServerContext,
  connection: ClientConnection,
  request: Request,
) => HandlerResult | Promise<HandlerResult>;

/** Distinct `LinkApproved` pushes an anonymous connection remembers (see `isRepeatedLinkPush`). */
const MAX_LINK_PUSHES_REMEMBERED = 16;

/** The server side of one WebSocket connection. */
export class ClientConnection implements DeviceEndpoint {
  readonly connectionId: number;
  private authenticated: DeviceAddress | undefined;
  private delivery: DeviceDelivery | undefined;
  private malformed = 0;
  private closed = false;
  /** Heartbeat: set on pong, cleared on each ping round. */
  alive = true;
  private readonly logger: Logger;
  private readonly tcp: Socket | undefined;
  /**
   * Sends that arrived while an earlier send of this connection was still
   * preparing asynchronously (see `holdSends`); undefined when none is.
   */
  private heldSends: Request[] | undefined;
  /** Set by `holdSends` during the current dispatch. */
  private holdAsked = false;
  /** Closes the connection if it has not authenticated in time (cleared once it has). */
  private authTimer: NodeJS.Timeout | undefined;
  private readonly output: OutputBudget;
  /** `LinkApproved` pushes sent while anonymous (see `isRepeatedLinkPush`). */
  private linkPushesSeen: Set<string> | undefined;

  constructor(
    private readonly ctx: ServerContext,
    private readonly socket: WebSocket,
    private readonly dispatch: RequestDispatcher,
    private readonly corker: SocketCorker,
    /** The peer's IP address (registration is rate-limited per address). */
    readonly remoteAddress = '',
  ) {
    // Registered before authentication: a waiting companion is reached by id.
    this.connectionId = ctx.devices.register(this);
    this.logger = ctx.logger.child({ conn: this.connectionId });
    this.tcp = tcpSocket(socket);
    this.output = new OutputBudget(socket, this.tcp, ctx.limits, ctx.metrics, (why) =>
      this.closeStuck(why),
    );
    this.authTimer = setTimeout(() => this.onAuthTimeout(), ctx.limits.authTimeoutMs);
    socket.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    socket.on('pong', () => {
      this.alive = true;
    });
    socket.on('close', () => this.onClose());
    socket.on('error', (error) => {
      // ws already closes the socket (1009 for oversized frames, 1002 for
      // protocol errors); record why.
      this.logger.info({ reason: error.message }, 'websocket error');
    });
  }

  /** The device this connection is authenticated as, if any. */
  get device(): DeviceAddress | undefined {
    return this.authenticated;
  }

  /**
   * Marks the connection as `address`, replacing any older connection of the
   * same device. Delivery starts when `startDelivery` is called (after the
   * authenticate response went out, so the backlog follows it).
   */
  bindDevice(address: DeviceAddress): void {
    if (this.authenticated !== undefined) {
      throw new ServiceError('forbidden', 'connection is already authenticated');
    }
    this.authenticated = address;
    this.ctx.linkWaiters.remove(this.connectionId);
    clearTimeout(this.authTimer);
    this.authTimer = undefined;
    this.ctx.metrics.authenticatedDevices += 1;
    this.delivery = new DeviceDelivery(
      this.ctx,
      address,
      {
        send: (bytes) => this.sendAndWait(bytes),
        sendNow: (bytes) => this.sendBytes(bytes),
        isOpen: () => !this.closed,
        fail: () => this.close(CloseCodes.deliveryFailed, 'delivery failed; reconnect to resume'),
        hasRoom: () => this.output.hasRoom(),
        waitForRoom: () => this.output.waitForRoom(),
      },
      this.logger,
      { trackLive: this.ctx.devices.clustered },
    );
    this.ctx.devices.attach(address, this);
  }

  /**
   * Called by a send handler, during its dispatch, when it must wait for the
   * store before it can queue its envelopes (an uncached device list, a
   * group lookup). Later sends of this connection then wait until this one
   * is answered, so sends are committed and answered in request order — a
   * cached send arriving just after would otherwise be queued first. Sends
   * that need no wait never hold anything (the hot path stays synchronous).
   */
  holdSends(): void {
    this.holdAsked = true;
  }

  /** Begins backlog delivery (see `bindDevice`). */
  startDelivery(): void {
    this.delivery?.start();
  }

  deliver(envelopes: readonly QueuedEnvelope[]): void {
    this.delivery?.offer(envelopes);
  }

  wake(): void {
    this.delivery?.wake();
  }

  deliverRemote(envelopes: readonly QueuedEnvelope[]): void {
    this.delivery?.offerRemote(envelopes);
  }

  /** Tells the device its one-time prekeys are running low. */
  notifyPreKeysLow(remaining: number, kemRemaining = 0): void {
    this.sendBytes(preKeysLowPush(remaining, kemRemaining));
  }

  replace(): void {
    this.close(CloseCodes.replaced, 'replaced by a newer connection of this device');
  }

  sendPush(bytes: Uint8Array): void {
    if (this.authenticated === undefined && this.isRepeatedLinkPush(bytes)) return;
    this.sendBytes(bytes);
  }

  /**
   * An ephemeral envelope (typing): sent only to an authenticated device
   * whose output has room; otherwise dropped, since it is never stored and
   * a late indicator is worse than none (ephemeral.ts).
   */
  sendEphemeral(bytes: Uint8Array): void {
    if (this.authenticated === undefined || this.closed || !this.output.hasRoom()) return;
    this.sendBytes(bytes);
  }

  /**
   * An anonymous connection is only ever pushed `LinkApproved`, and one
   * approved on another node may arrive twice: over the bus and from this
   * node's check of the store (linking/link-waiters.ts). The companion must
   * get it once, so the second copy is dropped. Each copy arrives at most
   * twice, so a key is forgotten once matched.
   */
  private isRepeatedLinkPush(bytes: Uint8Array): boolean {
    const key = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
    this.linkPushesSeen ??= new Set();
    if (this.linkPushesSeen.delete(key)) return true;
    // Bounded: each entry needs an approval by the account's primary.
    if (this.linkPushesSeen.size >= MAX_LINK_PUSHES_REMEMBERED) this.linkPushesSeen.clear();
    this.linkPushesSeen.add(key);
    return false;
  }

  /** Whether the socket is still open (a waiting companion may have gone). */
  get isOpen(): boolean {
    return !this.closed && this.socket.readyState === this.socket.OPEN;
  }

  /** Closes the connection with a code and a reason for people. */
  close(code: number, reason: string): void {
    this.delivery?.stop();
    this.socket.close(code, reason);
  }

  /**
   * Gives a connection that is still unauthenticated `ms` more from now: a
   * companion waiting for its link to be approved (and then completing it)
   * legitimately stays anonymous for longer than `authTimeoutMs`.
   */
  extendAuthDeadline(ms: number): void {
    if (this.authTimer === undefined || this.closed) return;
    clearTimeout(this.authTimer);
    this.authTimer = setTimeout(() => this.onAuthTimeout(), Math.max(ms, 0));
  }

  /** Bytes sent to this connection and not yet taken by the client. */
  get outputBytes(): number {
    return this.socket.bufferedAmount;
  }

  /** Drops the connection without a closing handshake (dead peer). */
  terminate(): void {
    this.socket.terminate();
  }

  /** Sends a ping; the peer's pong sets `alive`. */
  ping(): void {
    // While its requests are not read its pongs are not either; the output
    // deadline decides about such a connection, not the heartbeat.
    if (this.output.paused) {
      this.alive = true;
      return;
    }
    this.alive = false;
    this.socket.ping();
  }

  private sendBytes(bytes: Uint8Array): void {
    if (this.closed || this.socket.readyState !== this.socket.OPEN) return;
    this.output.beforeWrite();
    if (this.tcp !== undefined) this.corker.corkForThisTurn(this.tcp);
    this.socket.send(bytes, { binary: true });
    this.output.afterWrite();
  }

  private sendAndWait(bytes: Uint8Array): Promise<void> {
    if (this.closed || this.socket.readyState !== this.socket.OPEN) return Promise.resolve();
    this.output.beforeWrite();
    if (this.tcp !== undefined) this.corker.corkForThisTurn(this.tcp);
    const sent = new Promise<void>((resolve) => {
      // An error here means the socket died; its close handler cleans up and
      // the envelope stays queued for the next connection.
      this.socket.send(bytes, { binary: true }, () => resolve());
    });
    this.output.afterWrite();
    return sent;
  }

  /**
   * Closes a connection that does not read what it is sent. The closing
   * handshake would queue behind everything unread, so the socket is cut
   * right after the close frame is written.
   */
  private closeStuck(why: string): void {
    if (this.closed) return;
    this.logger.info({ outputBytes: this.socket.bufferedAmount, why }, 'closing stuck connection');
    this.close(CloseCodes.outputStuck, 'output not read');
    this.socket.terminate();
  }

  private onAuthTimeout(): void {
    this.authTimer = undefined;
    if (this.closed || this.authenticated !== undefined) return;
    this.ctx.metrics.authTimeouts += 1;
    this.close(CloseCodes.authTimeout, 'authentication timed out');
  }

  private onMessage(data: unknown, isBinary: boolean): void {
    const bytes = toBytes(data);
    if (!isBinary || bytes === undefined) {
      this.rejectFrame('frames must be binary protobuf');
      return;
    }
    // The hand decoder covers sends and acks; everything else (and anything
    // odd about those) goes through the generated decoder.
    const hot = decodeHotRequest(bytes);
    if (hot !== undefined) {
      this.handle(hot);
      return;
    }
    let request: Request;
    try {
      const frame = decodeFrame(bytes);
      if (frame.kind.case !== 'request') {
        this.rejectFrame('clients send requests only');
        return;
      }
      request = frame.kind.value;
    } catch (error) {
      if (WireError.is(error, 'malformed-frame')) {
        this.rejectFrame(error.message);
        return;
      }
      throw error;
    }
    this.handle(request);
  }

  private rejectFrame(message: string): void {
    this.malformed += 1;
    this.ctx.metrics.framesRejected += 1;
    this.ctx.metrics.error('malformed-frame');
    this.sendBytes(encodeFrame(errorResponseFrame(0n, 'malformed-frame', message)));
    if (this.malformed >= this.ctx.limits.maxMalformedFrames) {
      this.logger.info('closing after repeated malformed frames');
      this.close(CloseCodes.malformedFrames, 'too many malformed frames');
    }
  }

  private handle(request: Request): void {
    const isSend = request.body.case === 'sendMessage' || request.body.case === 'sendGroupMessage';
    if (isSend && this.heldSends !== undefined) {
      this.heldSends.push(request);
      return;
    }
    this.holdAsked = false;
    let outcome: HandlerResult | Promise<HandlerResult>;
    try {
      outcome = this.dispatch(this.ctx, this, request);
    } catch (error) {
      this.sendError(request.id, error, request.body.case);
      return;
    }
    if (outcome instanceof Promise) {
      const holds = isSend && this.holdAsked;
      if (holds) {
        this.heldSends = [];
        // Held sends would otherwise pile up in memory (each up to a frame);
        // stop reading until this one is answered.
        this.output.holdReading();
      }
      outcome.then(
        (result) => {
          this.respond(request.id, result);
          if (holds) this.releaseSends();
        },
        (error: unknown) => {
          this.sendError(request.id, error, request.body.case);
          if (holds) this.releaseSends();
        },
      );
    } else {
      this.respond(request.id, outcome);
    }
  }

  private currentHold(): Request[] | undefined {
    return this.heldSends;
  }

  /** The holding send was answered: runs the sends that waited, in order, until one holds again. */
  private releaseSends(): void {
    const waiting = this.heldSends;
    this.heldSends = undefined;
    if (waiting === undefined) return;
    try {
      this.runHeldSends(waiting);
    } finally {
      // After the loop: a send in it that holds again has taken its own hold.
      this.output.releaseReading();
    }
  }

  /** Handles the sends that waited, in order, until one of them holds again. */
  private runHeldSends(waiting: Request[]): void {
    for (let i = 0; i < waiting.length; i += 1) {
      // Unanswered sends of a closed connection were never queued; the
      // client sends them again after it reconnects.
      if (this.closed) return;
      const next = waiting[i];
      if (next !== undefined) this.handle(next);
      // `handle` may have started a new hold (read through a call: the
      // compiler cannot see that `handle` sets the field).
      const held = this.currentHold();
      if (held !== undefined) {
        held.push(...waiting.slice(i + 1));
        return;
      }
    }
  }

  private respond(id: bigint, result: HandlerResult): void {
    this.sendBytes(responseBytes(id, result.body));
    result.after?.();
  }

  private sendError(id: bigint, error: unknown, requestCase?: string): void {
    // Store outcomes the client can act on are request faults, not `internal`.
    if (error instanceof StoreError) error = storeServiceError(error) ?? error;
    if (error instanceof ServiceError) {
      this.ctx.metrics.error(error.code);
      this.sendBytes(encodeFrame(errorResponseFrame(id, error.code, error.message, error.details)));
      return;
    }
    // Not a request fault: log it (the error carries no keys or content) and
    // answer `internal` without details.
    this.ctx.metrics.error('internal');
    this.logger.error({ err: error, request: requestCase }, 'request failed');
    this.sendBytes(encodeFrame(errorResponseFrame(id, 'internal', 'internal server error')));
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.authTimer);
    this.authTimer = undefined;
    this.output.dispose();
    this.ctx.metrics.connections -= 1;
    this.ctx.challenges.dropConnection(this.connectionId);
    this.ctx.devices.unregister(this.connectionId);
    this.ctx.linkWaiters.remove(this.connectionId);
    this.ctx.links
      .dropConnection({ nodeId: this.ctx.nodeId, connectionId: this.connectionId })
      .catch((error: unknown) => {
        // Its reference then lives until it expires; an approval of it
        // would reach nobody and burn one device id.
        this.logger.warn({ err: error }, 'could not drop the link reference');
      });
    this.delivery?.stop();
    const device = this.authenticated;
    if (device !== undefined) {
      this.ctx.metrics.authenticatedDevices -= 1;
      this.ctx.devices.detach(device, this);
      this.ctx.store.accounts
        .touchDevice(device.account, device.deviceId, this.ctx.clock.now())
        .catch((error: unknown) => {
          this.logger.warn({ err: error }, 'could not record last-seen time');
        });
    }
  }
}
