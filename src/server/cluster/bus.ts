/**
 * The connection to NATS: the doorbell between nodes. Core subjects only
 * (no JetStream): a message published while a node is away is simply lost,
 * which costs latency and never a message, because PostgreSQL holds every
 * envelope and each node re-reads queues (on connect, on a wake, and by the
 * degraded-mode sweep while the bus is down).
 *
 * The first connection is retried here until it succeeds (the node serves,
 * degraded, meanwhile); after it, the NATS client reconnects by itself and
 * reports it through `status()`. Subscriptions made before the first
 * connection are remembered and made once it is up.
 */
import {
  connect,
  RequestError,
  type Msg,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { decodeBusMessage, encodeBusMessage, type BusMessage } from './bus-frames.js';

/** Where the bus stands, for /healthz, /metrics and degraded mode. */
export type BusState = 'connecting' | 'connected' | 'disconnected' | 'closed';

/** Counters the node exports on /metrics. */
export interface BusStats {
  reconnects: number;
  messagesIn: number;
  messagesOut: number;
  messagesDropped: number;
}

/** Receives one decoded message; `reply` answers a request. */
export type BusHandler = (
  message: BusMessage,
  reply: ((answer: BusMessage) => void) | undefined,
) => void;

/** A subscription that survives the bus not being connected yet. */
export interface BusSubscription {
  unsubscribe(): void;
}

/** What a request came back with. */
export type BusAnswer =
  | { readonly outcome: 'answer'; readonly message: BusMessage }
  | { readonly outcome: 'no-responders' }
  /** Timed out, or the bus is down: nobody can tell. */
  | { readonly outcome: 'unknown' };

/** Options of `ClusterBus`. */
export interface ClusterBusOptions {
  readonly url: string;
  readonly nodeId: string;
  readonly logger: Logger;
  /** Called on every state change (degraded mode starts and ends here). */
  readonly onState: (state: BusState, previous: BusState) => void;
  /** Delay between attempts at the first connection, ms (default 1000). */
  readonly retryMs?: number;
}

/** Shows a NATS URL without any password in it (for logs). */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}

interface Registered {
  readonly subject: string;
  readonly handler: BusHandler;
  live: Subscription | undefined;
  active: boolean;
}

/** The node's NATS connection. */
export class ClusterBus {
  readonly stats: BusStats = { reconnects: 0, messagesIn: 0, messagesOut: 0, messagesDropped: 0 };
  private nc: NatsConnection | undefined;
  private current: BusState = 'connecting';
  private retryTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private readonly registered = new Set<Registered>();

  constructor(private readonly options: ClusterBusOptions) {}

  get state(): BusState {
    return this.current;
  }

  /** Whether messages published now reach the other nodes (as far as we know). */
  get connected(): boolean {
    return this.current === 'connected';
  }

  /** Starts connecting; does not wait for it (the node serves degraded meanwhile). */
  start(): void {
    void this.attempt();
  }

  private async attempt(): Promise<void> {
    if (this.closing) return;
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: this.options.url,
        name: this.options.nodeId,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        // A bus that hangs without closing the socket is noticed within
        // ~6 s, so degraded mode (and its sweep) starts soon after.
        pingInterval: 2000,
        maxPingOut: 2,
      });
    } catch (error) {
      if (this.closing) return;
      this.options.logger.warn(
        { err: error, bus: redactUrl(this.options.url) },
        'cannot reach the bus; serving degraded and retrying',
      );
      this.retryTimer = setTimeout(() => void this.attempt(), this.options.retryMs ?? 1000);
      return;
    }
    if (this.closing) {
      await nc.close();
      return;
    }
    this.nc = nc;
    for (const entry of this.registered) this.bind(entry);
    void this.watch(nc);
    this.setState('connected');
  }

  private async watch(nc: NatsConnection): Promise<void> {
    try {
      for await (const status of nc.status()) {
        if (status.type === 'disconnect') this.setState('disconnected');
        else if (status.type === 'reconnect') {
          this.stats.reconnects += 1;
          this.setState('connected');
        }
      }
    } catch (error) {
      this.options.logger.error({ err: error }, 'bus status stream failed');
    }
    const closed = await nc.closed();
    if (closed instanceof Error)
      this.options.logger.error({ err: closed }, 'bus connection closed');
    this.setState('closed');
  }

  private setState(state: BusState): void {
    const previous = this.current;
    if (previous === state) return;
    this.current = state;
    this.options.onState(state, previous);
  }

  /** Listens on `subject` (now, or once the bus is up). */
  subscribe(subject: string, handler: BusHandler): BusSubscription {
    const entry: Registered = { subject, handler, live: undefined, active: true };
    this.registered.add(entry);
    if (this.nc !== undefined) this.bind(entry);
    return {
      unsubscribe: () => {
        entry.active = false;
        this.registered.delete(entry);
        if (entry.live !== undefined && !entry.live.isClosed()) entry.live.unsubscribe();
        entry.live = undefined;
      },
    };
  }

  private bind(entry: Registered): void {
    const nc = this.nc;
    if (nc === undefined || !entry.active || entry.live !== undefined) return;
    entry.live = nc.subscribe(entry.subject, {
      callback: (error, msg) => {
        if (error !== null) {
          this.options.logger.warn(
            { err: error, subject: entry.subject },
            'bus subscription error',
          );
          return;
        }
        this.receive(entry, msg);
      },
    });
  }

  private receive(entry: Registered, msg: Msg): void {
    this.stats.messagesIn += 1;
    let message: BusMessage;
    try {
      message = decodeBusMessage(msg.data);
    } catch (error) {
      this.stats.messagesDropped += 1;
      this.options.logger.warn(
        { err: error, subject: msg.subject, bytes: msg.data.length },
        'dropped a malformed bus message',
      );
      return;
    }
    const reply =
      msg.reply === undefined || msg.reply === ''
        ? undefined
        : (answer: BusMessage) => {
            this.stats.messagesOut += 1;
            msg.respond(encodeBusMessage(answer));
          };
    try {
      entry.handler(message, reply);
    } catch (error) {
      // A handler bug must not take the subscription (or the process) down.
      this.stats.messagesDropped += 1;
      this.options.logger.error({ err: error, kind: message.kind }, 'bus message handler failed');
    }
  }

  /** Publishes; dropped (and counted) while there was never a connection. */
  publish(subject: string, message: BusMessage): void {
    this.publishRaw(subject, encodeBusMessage(message));
  }

  /** Publishes bytes as they are (tests use it to send malformed messages). */
  publishRaw(subject: string, bytes: Uint8Array): void {
    const nc = this.nc;
    if (nc === undefined || nc.isClosed()) {
      this.stats.messagesDropped += 1;
      return;
    }
    try {
      nc.publish(subject, bytes);
      this.stats.messagesOut += 1;
    } catch (error) {
      this.stats.messagesDropped += 1;
      this.options.logger.warn({ err: error, subject }, 'bus publish failed');
    }
  }

  /** Asks whoever listens on `subject`; the first answer wins. */
  async request(subject: string, message: BusMessage, timeoutMs: number): Promise<BusAnswer> {
    const nc = this.nc;
    if (nc === undefined || !this.connected) return { outcome: 'unknown' };
    this.stats.messagesOut += 1;
    let msg: Msg;
    try {
      msg = await nc.request(subject, encodeBusMessage(message), { timeout: timeoutMs });
    } catch (error) {
      if (error instanceof RequestError && error.isNoResponders()) {
        return { outcome: 'no-responders' };
      }
      this.options.logger.debug({ err: error, subject }, 'bus request got no answer');
      return { outcome: 'unknown' };
    }
    this.stats.messagesIn += 1;
    try {
      return { outcome: 'answer', message: decodeBusMessage(msg.data) };
    } catch (error) {
      this.stats.messagesDropped += 1;
      this.options.logger.warn({ err: error, subject }, 'dropped a malformed bus answer');
      return { outcome: 'unknown' };
    }
  }

  /**
   * Resolves once the NATS server has processed everything this node sent
   * so far (a PING answered), so a subscription just made is visible to
   * every other node's publishes and requests; after `timeoutMs` at the
   * latest when given (a hung server must not hold a login), and at once
   * without a bus. A failed flush (the connection dropped) resolves too:
   * the reconnect path re-reads every queue anyway.
   */
  async settled(timeoutMs = Number.POSITIVE_INFINITY): Promise<void> {
    const nc = this.nc;
    if (nc === undefined || !this.connected) return;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      if (Number.isFinite(timeoutMs)) timer = setTimeout(resolve, timeoutMs);
    });
    try {
      await Promise.race([nc.flush(), late]);
    } catch (error) {
      this.options.logger.debug({ err: error }, 'bus flush failed');
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the connection (publishes already made are flushed first). */
  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.retryTimer);
    const nc = this.nc;
    this.nc = undefined;
    if (nc !== undefined && !nc.isClosed()) {
      // Draining waits for the server; with the bus down (or slow) that
      // must not hold up shutdown: doorbells lost here cost latency only.
      const drained = (this.connected ? nc.drain() : Promise.resolve()).catch((error: unknown) => {
        this.options.logger.warn({ err: error }, 'bus drain failed; closing');
      });
      const timeout = new Promise<void>((resolve) => setTimeout(resolve, 2000).unref());
      await Promise.race([drained, timeout]);
      if (!nc.isClosed()) await nc.close();
    }
    this.setState('closed');
  }
}
