/**
 * A device that stays connected: opens a connection, authenticates a fresh
 * `QuintetClient` on it, forwards its events, and when the connection ends
 * for a transient reason (server restart 1001, a drop 1006, stuck output
 * 4004, failed delivery 4006, a connect or login that failed on the way)
 * waits a backoff delay (reconnect-policy.ts) and does it again. On login
 * the server re-delivers everything still queued, so delivery resumes where
 * it stopped; an envelope whose ack was lost in the drop comes again and the
 * receiver's processed mark makes it a no-op, so nothing is shown twice.
 *
 * It stops for good on a close that says reconnecting is wrong — 4001 (a
 * newer connection of this device took over; reconnecting would evict it in
 * turn, and the two would take turns forever) and 4003 (logged out) — and on
 * a login the server refuses for good (`device-removed`, unknown device,
 * bad signature).
 *
 * Connections never overlap: the next client starts only after the previous
 * one has finished every envelope it received (its `close()` waits), so the
 * two never race on the same session or processed mark.
 *
 * Several servers (`servers`, e.g. the nodes of a cluster): each ended
 * connection or failed attempt moves to the next URL, round robin, after the
 * same jittered backoff (failover-policy.ts). A node sharing the cluster's
 * database holds the same queue, so logging in there re-delivers whatever
 * the lost node had not seen acked, and the processed mark again makes the
 * redeliveries no-ops. `sendText` here survives the switch: a send cut off
 * by the drop is sent again on the next connection under the same message
 * id, which the recipient shows once (receiver.ts drops a known id).
 */
import type { Attachment } from './attachments/pointer.js';
import type { ProtocolContext } from '../../protocol/context.js';
import type { ChatRules } from './chat/chat-rules.js';
import type { HistoryServices } from './history/importer.js';
import { QuintetClient } from './client.js';
import { ClientError } from './errors.js';
import { EventStream } from './event-stream.js';
import { errorCode, type ClientEvent } from './events.js';
import { MESSAGE_ID_LENGTH } from './content.js';
import { FailoverPolicy } from './failover-policy.js';
import type { SentText } from './outbox.js';
import { closeDisposition, unitRandom, type ReconnectPolicyOptions } from './reconnect-policy.js';
import { platformScheduler, sleepOn, type Scheduler } from './scheduler.js';
import { ServerApi } from './server-api.js';
import type { DeviceStore } from './store/device-store.js';
import type { Transport } from './transport.js';

export type { Scheduler } from './scheduler.js';

/** What a `Reconnector` needs. */
export interface ReconnectorOptions {
  readonly ctx: ProtocolContext;
  readonly store: DeviceStore;
  /**
   * Opens one new connection (called once per attempt) to `server`, the
   * entry of `servers` whose turn it is; undefined without `servers` (the
   * caller knows its one server).
   */
  readonly connect: (server: string | undefined) => Promise<Transport>;
  /**
   * The server URLs to rotate over (see the module comment); the first
   * attempt uses the first. Default: the one server `connect` knows.
   */
  readonly servers?: readonly string[];
  /** Passed to every `QuintetClient` (default true). */
  readonly receive?: boolean;
  /**
   * History sync services for each client, given the attempt's server and
   * the client itself (for its blob credential).
   */
  readonly history?: (server: string | undefined, client: () => QuintetClient) => HistoryServices;
  /** Passed to every `QuintetClient`: the chat windows (default DEFAULT_CHAT_RULES). */
  readonly chatRules?: ChatRules;
  /** Post-quantum sessions (as `ClientOptions.postQuantum`; default true). */
  readonly postQuantum?: boolean;
  /** Backoff tunables; the jitter's random source defaults to `ctx.random`. */
  readonly backoff?: Partial<ReconnectPolicyOptions>;
  /**
   * The timer of the backoff waits, the keep-alive probes and each client's
   * rate-limit waits (default: the platform timer); tests inject their own.
   * The transports `connect` opens should run on it too.
   */
  readonly schedule?: Scheduler;
  /**
   * Stop instead of retrying when the very first attempt fails (a command
   * run by hand should say at once that the server cannot be reached, not
   * wait silently). Default false: keep trying, as an app does.
   */
  readonly failFast?: boolean;
  /**
   * Probe an online connection every this many ms with a cheap request
   * (`PreKeyStatus`), and drop it when the probe times out. For transports
   * that cannot see the server's WebSocket pings (the browser's): without
   * it, a network that died silently (a laptop waking from sleep, a NAT
   * that forgot the mapping) leaves the page "online" and deaf until TCP
   * gives up, many minutes later. Default 0: no probes (the Node transport
   * watches pings itself).
   */
  readonly keepAliveMs?: number;
}

/** Why a `Reconnector` stopped for good. */
export type StopReason =
  /** `stop()` was called. */
  | 'stopped'
  /** Close 4001: a newer connection of this same device replaced this one. */
  | 'replaced'
  /** Close 4003, a `LoggedOut` push, or a `device-removed` refusal at login. */
  | 'logged-out'
  /**
   * The server refused the login for good (unknown account or device, bad
   * signature), a local failure (store), or — with `failFast` — the first
   * attempt failed. `error` says which.
   */
  | 'failed';

/** The connection's state changed; the CLI prints it, the browser shows it. */
export type ConnectionStateEvent =
  | {
      readonly type: 'connection';
      readonly state: 'connecting';
      readonly attempt: number;
      /** The URL this attempt uses (with `servers`). */
      readonly server?: string | undefined;
    }
  | { readonly type: 'connection'; readonly state: 'online' }
  | {
      readonly type: 'connection';
      readonly state: 'waiting';
      /** Until the next attempt, ms. */
      readonly delayMs: number;
      /** Why the last connection or attempt ended: a `ClientErrorCode` or `closed`. */
      readonly cause: string;
      /** With `cause: 'closed'`: the WebSocket close code, when known. */
      readonly closeCode?: number | undefined;
      /** Otherwise: the error of the failed connect or login. */
      readonly error?: unknown;
      /** With several `servers`: the URL the next attempt uses. */
      readonly server?: string | undefined;
    }
  | {
      readonly type: 'connection';
      readonly state: 'stopped';
      readonly reason: StopReason;
      /** For `failed` and a refused login: what failed. */
      readonly error?: unknown;
    };

/** Everything `Reconnector.events()` yields: every client's events plus state changes. */
export type ReconnectorEvent = ClientEvent | ConnectionStateEvent;

/** The outcome of one connection attempt. */
type Attempt =
  | {
      readonly kind: 'retry';
      readonly cause: string;
      readonly closeCode?: number | undefined;
      readonly error?: unknown;
    }
  | { readonly kind: 'stop'; readonly reason: StopReason; readonly error?: unknown };

/**
 * Server refusals at login that no retry can fix. `device-removed` is a
 * logout; the others mean this profile does not match the server's records.
 */
const FINAL_LOGIN_REFUSALS = new Set([
  'device-removed',
  'unknown-account',
  'unknown-device',
  'invalid-signature',
  'forbidden',
]);

/** One device's self-healing connection; see the module comment. */
export class Reconnector {
  readonly #options: ReconnectorOptions;
  readonly #policy: FailoverPolicy;
  readonly #schedule: Scheduler;
  readonly #events = new EventStream<ReconnectorEvent>();
  #current: { client: QuintetClient; api: ServerApi } | undefined;
  /** The transport of the attempt in progress, closed by `stop()`. */
  #attemptTransport: Transport | undefined;
  #stopping = false;
  /** The loop ended (stopped for good). */
  #ended = false;
  #wake: (() => void) | undefined;
  #finished: Promise<StopReason> | undefined;
  /** Woken whenever `#current` changes or the loop stops (see `#nextClient`). */
  readonly #clientWaiters = new Set<() => void>();
  /** The last send timestamp handed out (see `sendText`). */
  #lastTimestamp = 0;

  constructor(options: ReconnectorOptions) {
    this.#options = options;
    const servers = options.servers;
    if (servers?.length === 0) throw new RangeError('reconnector: empty server list');
    this.#policy = new FailoverPolicy({
      random: unitRandom(options.ctx.random),
      ...options.backoff,
      // '' stands for the one server `connect` knows; it is passed as undefined.
      servers: servers ?? [''],
    });
    this.#schedule = options.schedule ?? platformScheduler;
  }

  /** A new subscription to every event from now on; subscribe before `start`. */
  events(): AsyncIterable<ReconnectorEvent> {
    return this.#events.subscribe();
  }

  /** The authenticated client of the current connection; undefined while (re)connecting. */
  get client(): QuintetClient | undefined {
    return this.#current?.client;
  }

  /** Server calls outside the client (account lookup) on the current connection. */
  get api(): ServerApi | undefined {
    return this.#current?.api;
  }

  /** The URL of the current (or next) connection; undefined without `servers`. */
  get server(): string | undefined {
    return this.#options.servers === undefined ? undefined : this.#policy.server;
  }

  /**
   * Sends a text message like `QuintetClient.sendText`, on whichever
   * connection is up, and survives losing it: when the connection drops
   * while the send is in flight, the server may or may not have queued it
   * (the answer was lost with the connection), so it is sent again on the
   * next connection — possibly to another server — with the same message id
   * and timestamp. A recipient that got both copies stores and shows it once
   * (receiver.ts skips a message id it already has; the own-device copy
   * likewise), and a retry request names the same (destination, timestamp).
   * Waits for a connection while there is none; rejects with
   * `ClientError('closed')` once stopped, and with the send's own error for
   * anything but a lost connection.
   */
  async sendText(to: string, text: string, attachment?: Attachment): Promise<SentText> {
    const prepared = { id: this.#options.ctx.random(MESSAGE_ID_LENGTH), timestamp: this.#stamp() };
    let failed: QuintetClient | undefined;
    // A bound against a server that drops every connection mid-send forever.
    const tries = this.#policy.servers.length + 3;
    for (let attempt = 1; ; attempt++) {
      const client = await this.#nextClient(failed);
      try {
        return await client.sendText(to, text, prepared, attachment);
      } catch (error) {
        const lost =
          ClientError.is(error, 'transport-closed') ||
          ClientError.is(error, 'closed') ||
          ClientError.is(error, 'timeout');
        if (!lost || attempt >= tries || this.#stopping) throw error;
        // A timeout may leave the connection up: the next try may use it again.
        failed = ClientError.is(error, 'timeout') ? undefined : client;
      }
    }
  }

  /**
   * A send timestamp strictly increasing across this device's connections:
   * a message re-sent on a later connection keeps its first timestamp, and
   * a new one must not collide with it.
   */
  #stamp(): number {
    this.#lastTimestamp = Math.max(this.#options.ctx.clock.now(), this.#lastTimestamp + 1);
    return this.#lastTimestamp;
  }

  /** The online client, once there is one other than `not`; rejects once stopped. */
  async #nextClient(not: QuintetClient | undefined): Promise<QuintetClient> {
    for (;;) {
      if (this.#stopping || this.#ended) {
        throw new ClientError('closed', 'the connection was stopped');
      }
      const client = this.#current?.client;
      if (client !== undefined && client !== not) return client;
      await new Promise<void>((resolve) => this.#clientWaiters.add(resolve));
    }
  }

  #clientChanged(): void {
    const waiters = [...this.#clientWaiters];
    this.#clientWaiters.clear();
    for (const wake of waiters) wake();
  }

  /**
   * Starts the loop in the background. The returned promise resolves with
   * the reason once it stopped for good (after the `stopped` event).
   */
  start(): Promise<StopReason> {
    this.#finished ??= this.#run();
    return this.#finished;
  }

  /** Skips the current backoff wait and starts the backoff over (the network came back). */
  wake(): void {
    this.#policy.reset();
    this.#wake?.();
  }

  /** Closes the current connection, stops reconnecting, and waits for the loop to end. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#clientChanged();
    this.#wake?.();
    await Promise.all([this.#current?.client.close(), this.#attemptTransport?.close()]);
    await this.#finished;
  }

  async #run(): Promise<StopReason> {
    let attempt = 0;
    let everOnline = false;
    let outcome: Attempt = { kind: 'retry', cause: 'start' };
    for (;;) {
      if (this.#stopping) {
        outcome = { kind: 'stop', reason: 'stopped' };
        break;
      }
      attempt += 1;
      const server = this.server;
      this.#events.emit(
        server === undefined
          ? { type: 'connection', state: 'connecting', attempt }
          : { type: 'connection', state: 'connecting', attempt, server },
      );
      try {
        outcome = await this.#attempt(server);
      } catch (error) {
        // A local failure (the store, a bug): retrying would fail the same way.
        outcome = { kind: 'stop', reason: 'failed', error };
      }
      if (outcome.kind === 'stop') break;
      if (outcome.cause === 'closed') everOnline = true;
      // Fail fast only once every server was tried (a list's first node may be the one down).
      const firstPass = !everOnline && attempt >= this.#policy.servers.length;
      if (this.#options.failFast === true && firstPass && outcome.cause !== 'closed') {
        outcome = { kind: 'stop', reason: 'failed', error: outcome.error };
        break;
      }
      if (this.#stopping) continue;
      const next = this.#policy.failed();
      const delayMs = next.delayMs;
      this.#events.emit({
        type: 'connection',
        state: 'waiting',
        delayMs,
        cause: outcome.cause,
        closeCode: outcome.closeCode,
        error: outcome.error,
        server: this.#policy.servers.length > 1 ? next.server : undefined,
      });
      await this.#sleep(delayMs);
    }
    const stopped: ConnectionStateEvent =
      outcome.error === undefined
        ? { type: 'connection', state: 'stopped', reason: outcome.reason }
        : { type: 'connection', state: 'stopped', reason: outcome.reason, error: outcome.error };
    this.#ended = true;
    this.#clientChanged();
    this.#events.emit(stopped);
    this.#events.close();
    return outcome.reason;
  }

  /** One connection's life: connect, log in, forward events until it ends. */
  async #attempt(server: string | undefined): Promise<Attempt> {
    const { ctx, store } = this.#options;
    let transport: Transport;
    try {
      transport = await this.#options.connect(server);
    } catch (error) {
      if (!ClientError.is(error)) throw error;
      return { kind: 'retry', cause: error.code, error };
    }
    if (this.#stopping) {
      await transport.close();
      return { kind: 'stop', reason: 'stopped' };
    }
    this.#attemptTransport = transport;
    const history = this.#options.history;
    const client: QuintetClient = new QuintetClient({
      ctx,
      store,
      transport,
      receive: this.#options.receive,
      // Rate-limit waits inside the client run on the same injected timer.
      sleep: sleepOn(this.#schedule),
      ...(this.#options.chatRules === undefined ? {} : { chatRules: this.#options.chatRules }),
      ...(this.#options.postQuantum === undefined
        ? {}
        : { postQuantum: this.#options.postQuantum }),
      ...(history === undefined ? {} : { history: history(server, () => client) }),
    });
    // Subscribe before start, so envelopes queued on the server are not missed.
    const events = client.events();
    try {
      await client.start();
    } catch (error) {
      // Read the close code before closing, which would overwrite it.
      const closeCode = transport.closeCode;
      await client.close();
      this.#attemptTransport = undefined;
      return this.#afterFailedLogin(error, closeCode);
    }
    this.#attemptTransport = undefined;
    this.#current = { client, api: new ServerApi(transport) };
    if (this.#stopping) {
      await client.close();
      this.#current = undefined;
      return { kind: 'stop', reason: 'stopped' };
    }
    this.#policy.connected(ctx.clock.now());
    this.#clientChanged();
    this.#events.emit({ type: 'connection', state: 'online' });
    const stopProbing = this.#keepAlive(this.#current.api, transport);
    let closeCode: number | undefined;
    let loggedOut = false;
    for await (const event of events) {
      this.#events.emit(event);
      if (event.type === 'logged-out') loggedOut = true;
      if (event.type === 'disconnected') {
        closeCode = event.closeCode;
        break;
      }
    }
    stopProbing();
    this.#current = undefined;
    this.#clientChanged();
    this.#policy.disconnected(ctx.clock.now());
    // Waits for every envelope already received to be stored and acked (or
    // left for redelivery), so the next client cannot race it.
    await client.close();
    if (this.#stopping) return { kind: 'stop', reason: 'stopped' };
    if (loggedOut) return { kind: 'stop', reason: 'logged-out' };
    const disposition = closeDisposition(closeCode);
    if (disposition !== 'reconnect') return { kind: 'stop', reason: disposition };
    return { kind: 'retry', cause: 'closed', closeCode };
  }

  #afterFailedLogin(error: unknown, closeCode: number | undefined): Attempt {
    if (this.#stopping) return { kind: 'stop', reason: 'stopped' };
    const disposition = closeDisposition(closeCode);
    if (disposition !== 'reconnect') return { kind: 'stop', reason: disposition };
    if (!ClientError.is(error)) return { kind: 'stop', reason: 'failed', error };
    if (error.code === 'server-error' && FINAL_LOGIN_REFUSALS.has(error.serverCode ?? '')) {
      const reason = error.serverCode === 'device-removed' ? 'logged-out' : 'failed';
      return { kind: 'stop', reason, error };
    }
    return { kind: 'retry', cause: errorCode(error), error };
  }

  /**
   * Sends a probe every `keepAliveMs` while the connection is up; closes the
   * transport when one gets no answer in time (its `timeout`), which ends the
   * connection and lets the loop reconnect. Returns the function that stops
   * probing.
   */
  #keepAlive(api: ServerApi, transport: Transport): () => void {
    const every = this.#options.keepAliveMs ?? 0;
    if (every <= 0) return () => undefined;
    let stopped = false;
    let cancel: () => void = () => undefined;
    const probe = (): void => {
      api.preKeyStatus().then(
        () => {
          if (!stopped) cancel = this.#schedule(every, probe);
        },
        (error: unknown) => {
          if (stopped) return;
          if (ClientError.is(error, 'timeout')) {
            // The answer never came: the connection is dead without knowing it.
            void transport.close();
            return;
          }
          // A refusal (rate limit, server fault) still proves the connection lives.
          if (ClientError.is(error, 'server-error')) cancel = this.#schedule(every, probe);
        },
      );
    };
    cancel = this.#schedule(every, probe);
    return () => {
      stopped = true;
      cancel();
    };
  }

  /** Waits `ms`, or less if `wake()` or `stop()` is called. */
  async #sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const cancel = this.#schedule(ms, resolve);
      this.#wake = () => {
        cancel();
        resolve();
      };
    });
    this.#wake = undefined;
  }
}
