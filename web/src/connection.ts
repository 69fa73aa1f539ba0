/**
 * Keeps one authenticated `QuintetClient` running against the page's own
 * server, reconnecting with capped exponential backoff after a drop. The
 * core never reconnects by itself (see the transports), so this is the
 * app's job; everything above sees only a status and the client's events.
 */
import { QuintetClient } from '../../src/client/core/client.js';
import type { ClientEvent } from '../../src/client/core/events.js';
import { ServerApi } from '../../src/client/core/server-api.js';
import type { DeviceStore } from '../../src/client/core/store/device-store.js';
import { BrowserWsTransport } from '../../src/client/transport/browser-ws-transport.js';
import { browserContext } from './profile.js';

/** What the header shows. */
export type ConnectionStatus = 'connecting' | 'online' | 'offline';

/** What a `Connection` reports to the app. */
export interface ConnectionHandlers {
  onStatus(status: ConnectionStatus): void;
  onEvent(event: ClientEvent): void;
  /** A connect or authentication attempt failed; it will be retried. */
  onFailure(error: unknown): void;
}

const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 30_000;

/** The running connection of the registered device. */
export class Connection {
  #client: QuintetClient | undefined;
  #transport: BrowserWsTransport | undefined;
  #stopped = false;
  #retryMs = FIRST_RETRY_MS;
  #wakeRetry: (() => void) | undefined;

  constructor(
    private readonly store: DeviceStore,
    private readonly url: string,
    private readonly handlers: ConnectionHandlers,
  ) {
    // Coming back online should not wait out a long backoff.
    window.addEventListener('online', () => this.#wakeRetry?.());
  }

  /** The started client, when online. */
  get client(): QuintetClient | undefined {
    return this.#client;
  }

  /** Server calls outside the client (account lookup), when online. */
  get api(): ServerApi | undefined {
    return this.#client === undefined || this.#transport === undefined
      ? undefined
      : new ServerApi(this.#transport);
  }

  /** Runs until `stop`; returns at once (the loop runs in the background). */
  start(): void {
    void this.#loop();
  }

  /** Closes the client and stops reconnecting. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wakeRetry?.();
    await this.#client?.close();
  }

  async #loop(): Promise<void> {
    while (!this.#stopped) {
      this.handlers.onStatus('connecting');
      try {
        await this.#runOnce();
        this.#retryMs = FIRST_RETRY_MS;
      } catch (error) {
        this.handlers.onFailure(error);
      }
      this.#client = undefined;
      this.#transport = undefined;
      if (this.#stopped) break;
      this.handlers.onStatus('offline');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.#retryMs);
        this.#wakeRetry = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wakeRetry = undefined;
      this.#retryMs = Math.min(this.#retryMs * 2, MAX_RETRY_MS);
    }
  }

  /** One connection's life: connect, authenticate, pump events until it drops. */
  async #runOnce(): Promise<void> {
    const transport = await BrowserWsTransport.connect(this.url);
    const client = new QuintetClient({ ctx: browserContext, store: this.store, transport });
    // Subscribe before start, so envelopes queued on the server are not missed.
    const events = client.events();
    try {
      await client.start();
    } catch (error) {
      await transport.close();
      throw error;
    }
    this.#transport = transport;
    this.#client = client;
    this.handlers.onStatus('online');
    for await (const event of events) {
      this.handlers.onEvent(event);
      if (event.type === 'disconnected') break;
    }
  }
}
