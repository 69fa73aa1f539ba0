/**
 * Keeps one authenticated `QuintetClient` running against the page's own
 * server. The reconnecting itself — backoff with jitter, which close codes
 * end it, no overlapping clients — is the client core's `Reconnector`, the
 * same one `quintet receive --follow` runs; this adapter only turns its
 * events into a status for the header and callbacks for the app, and
 * retries at once when the browser comes back online.
 */
import type { ClientEvent } from '../../src/client/core/events.js';
import type { QuintetClient } from '../../src/client/core/client.js';
import {
  Reconnector,
  type ReconnectorEvent,
  type StopReason,
} from '../../src/client/core/reconnector.js';
import type { ServerApi } from '../../src/client/core/server-api.js';
import type { DeviceStore } from '../../src/client/core/store/device-store.js';
import { BrowserWsTransport } from '../../src/client/transport/browser-ws-transport.js';
import { BlobClient, cachedBlobCredential } from '../../src/client/transport/blob-client.js';
import { streamCompressor } from '../../src/client/platform/stream-compressor.js';
import { browserContext } from './profile.js';

/**
 * What the header shows: `connecting` the first time, `reconnecting` after
 * the connection was lost (until it is back), `offline` once it stopped for
 * good (replaced by another tab, or refused).
 */
export type ConnectionStatus = 'connecting' | 'online' | 'reconnecting' | 'offline';

/** What a `Connection` reports to the app. */
export interface ConnectionHandlers {
  onStatus(status: ConnectionStatus): void;
  onEvent(event: ClientEvent): void;
  /** A connect or authentication attempt failed; it will be retried. */
  onFailure(error: unknown): void;
  /** The connection stopped for good (not after `stop()`); `error` says why, when known. */
  onStopped(reason: Exclude<StopReason, 'stopped'>, error: unknown): void;
}

/** How often an idle page checks that its connection still answers, ms. */
const KEEP_ALIVE_MS = 30_000;

/** The running connection of the registered device. */
export class Connection {
  readonly #reconnector: Reconnector;
  #everOnline = false;

  constructor(
    store: DeviceStore,
    url: string,
    private readonly handlers: ConnectionHandlers,
  ) {
    this.#reconnector = new Reconnector({
      ctx: browserContext,
      store,
      connect: () => BrowserWsTransport.connect(url),
      history: (_server, client) => ({
        blobs: new BlobClient(
          url,
          cachedBlobCredential(() => client().getBlobCredential()),
        ),
        compressor: streamCompressor,
      }),
      // The browser hides WebSocket pings: probe, so a connection that died
      // silently (sleep, network change) is noticed within about a minute.
      keepAliveMs: KEEP_ALIVE_MS,
    });
    // Coming back online should not wait out a long backoff.
    window.addEventListener('online', () => this.#reconnector.wake());
  }

  /** The started client, when online. */
  get client(): QuintetClient | undefined {
    return this.#reconnector.client;
  }

  /** Server calls outside the client (account lookup), when online. */
  get api(): ServerApi | undefined {
    return this.#reconnector.api;
  }

  /** Runs until `stop`; returns at once (the loop runs in the background). */
  start(): void {
    const events = this.#reconnector.events();
    void this.#reconnector.start();
    void this.#pump(events);
  }

  /** Closes the client and stops reconnecting. */
  async stop(): Promise<void> {
    await this.#reconnector.stop();
  }

  async #pump(events: AsyncIterable<ReconnectorEvent>): Promise<void> {
    for await (const event of events) {
      if (event.type !== 'connection') {
        this.handlers.onEvent(event);
        continue;
      }
      switch (event.state) {
        case 'connecting':
          this.handlers.onStatus(this.#everOnline ? 'reconnecting' : 'connecting');
          break;
        case 'online':
          this.#everOnline = true;
          this.handlers.onStatus('online');
          break;
        case 'waiting':
          if (event.error !== undefined) this.handlers.onFailure(event.error);
          this.handlers.onStatus(this.#everOnline ? 'reconnecting' : 'connecting');
          break;
        case 'stopped':
          this.handlers.onStatus('offline');
          if (event.reason !== 'stopped') this.handlers.onStopped(event.reason, event.error);
          break;
      }
    }
  }
}
