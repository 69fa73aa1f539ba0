/**
 * Keeps the registered device running against the page's own server, as a
 * `QuintetDevice` from the SDK (src/sdk) — the same one `quintet receive
 * --follow` and any bot run: backoff with jitter, which close codes end it,
 * no overlapping clients, probes of an idle connection. This adapter only
 * turns its events into a status for the header and callbacks for the app,
 * and retries at once when the browser comes back online.
 */
import {
  browserPlatform,
  postQuantumEnabled,
  QuintetDevice,
  type ClientEvent,
  type DeviceStore,
  type QuintetClient,
  type QuintetEvent,
  type ServerApi,
  type StopReason,
} from '../../src/sdk/browser.js';

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

/** The running connection of the registered device. */
export class Connection {
  #device: QuintetDevice | undefined;
  #opening: Promise<QuintetDevice | undefined> | undefined;
  #stopping = false;
  #everOnline = false;

  constructor(
    private readonly store: DeviceStore,
    private readonly url: string,
    private readonly handlers: ConnectionHandlers,
  ) {}

  /** The running device, once opened. */
  get device(): QuintetDevice | undefined {
    return this.#device;
  }

  /** The started client, when online. */
  get client(): QuintetClient | undefined {
    return this.#device?.client;
  }

  /** Server calls outside the client (account lookup), when online. */
  get api(): ServerApi | undefined {
    return this.#device?.api;
  }

  /** Runs until `stop`; returns at once (the device runs in the background). */
  start(): void {
    this.#opening ??= this.#open();
  }

  /** Closes the device and stops reconnecting (the store stays open: the app owns it). */
  async stop(): Promise<void> {
    this.#stopping = true;
    const device = await this.#opening;
    await device?.close();
  }

  async #open(): Promise<QuintetDevice | undefined> {
    let device: QuintetDevice;
    try {
      device = await QuintetDevice.open({
        store: this.store,
        platform: browserPlatform,
        servers: this.url,
        ownsStore: false,
        // The device setting (devices pane; on unless turned off), read at
        // each page load: a change applies from the next one.
        postQuantum: await postQuantumEnabled(this.store.settings),
      });
    } catch (error) {
      this.handlers.onStatus('offline');
      this.handlers.onStopped('failed', error);
      return undefined;
    }
    this.#device = device;
    // Coming back online should not wait out a long backoff.
    window.addEventListener('online', () => device.wake());
    void this.#pump(device.events);
    if (this.#stopping) await device.close();
    return device;
  }

  async #pump(events: AsyncIterable<QuintetEvent>): Promise<void> {
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
