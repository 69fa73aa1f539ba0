/**
 * In-process SDK devices for the cluster's load tests: the client core (the
 * same `QuintetClient` and `Reconnector` the CLI and the browser use) with
 * in-memory stores, over real WebSockets to the node processes. Two CLI
 * processes per message would not fit 2,000 messages on two cores.
 *
 * A `FailoverDevice` keeps one connection up through the client core's
 * `Reconnector` with a server list (its home node first), so when a node
 * dies its devices move to a surviving one, as `--server a,b,c` does for the
 * CLI, and a send cut off by the drop goes again under the same message id.
 */
import { nodeCrypto } from '../../src/crypto/node.js';
import { systemClock } from '../../src/crypto/provider.js';
import type { ProtocolContext } from '../../src/protocol/context.js';
import { decodeLinkCode } from '../../src/protocol/adv/index.js';
import { authenticateDevice, registerAccount } from '../../src/client/core/account-setup.js';
import type { QuintetClient } from '../../src/client/core/client.js';
import { approveCompanion } from '../../src/client/core/linking/approve.js';
import { linkCompanion, storeLinkedDevice } from '../../src/client/core/linking/companion.js';
import { Reconnector, type ReconnectorEvent } from '../../src/client/core/reconnector.js';
import { ServerApi } from '../../src/client/core/server-api.js';
import { createDeviceStore, type DeviceStore } from '../../src/client/core/store/device-store.js';
import type { Transport } from '../../src/client/core/transport.js';
import { MemoryBackend } from '../../src/client/core/store/memory-backend.js';
import { WsTransport } from '../../src/client/transport/ws-transport.js';

/** The real crypto with the system clock. */
export const ctx: ProtocolContext = {
  crypto: nodeCrypto,
  random: (n) => nodeCrypto.randomBytes(n),
  clock: systemClock,
};

/** A registered or linked device: its account and its keys. */
export interface SdkDevice {
  readonly account: string;
  readonly deviceId: number;
  readonly store: DeviceStore;
}

/** Registers `account` on the node at `url`; this device is its primary. */
export async function registerSdkDevice(url: string, account: string): Promise<SdkDevice> {
  const store = createDeviceStore(new MemoryBackend());
  const transport = await WsTransport.connect(url);
  try {
    await registerAccount(ctx, store, new ServerApi(transport), { account, serverUrl: url });
  } finally {
    await transport.close();
  }
  return { account, deviceId: 1, store };
}

/** Runs `fn` with an authenticated API for `device` on the node at `url`. */
export async function withApi<T>(
  url: string,
  device: SdkDevice,
  fn: (api: ServerApi) => Promise<T>,
): Promise<T> {
  const transport = await WsTransport.connect(url);
  try {
    const api = new ServerApi(transport);
    await authenticateDevice(ctx, device.store, api);
    return await fn(api);
  } finally {
    await transport.close();
  }
}

/**
 * Links a new companion of `primary`: the companion waits on the node at
 * `companionUrl`, the primary approves through the node at `primaryUrl`.
 */
export async function linkSdkDevice(
  companionUrl: string,
  primaryUrl: string,
  primary: SdkDevice,
  deviceName: string,
): Promise<SdkDevice> {
  const transport = await WsTransport.connect(companionUrl);
  try {
    let approval: Promise<unknown> = Promise.resolve();
    const linked = await linkCompanion(ctx, transport, {
      serverUrl: companionUrl,
      deviceName,
      platform: 'cli',
      timeoutMs: 20_000,
      onCode: (offer) => {
        approval = withApi(primaryUrl, primary, (api) =>
          approveCompanion(ctx, primary.store, api, decodeLinkCode(offer.text)),
        );
      },
    });
    await approval;
    const store = createDeviceStore(new MemoryBackend());
    await storeLinkedDevice(store, linked);
    return { account: primary.account, deviceId: linked.account.deviceId, store };
  } finally {
    await transport.close();
  }
}

/** A message a device showed, with when it arrived here. */
export interface Shown {
  readonly from: string;
  readonly text: string;
  readonly at: number;
}

/** One device kept online across node failures; see the module comment. */
export class FailoverDevice {
  readonly device: SdkDevice;
  readonly label: string;
  /** Every incoming message shown, in order. */
  readonly shown: Shown[] = [];
  /** Every event of every connection, in order. */
  readonly seen: ReconnectorEvent[] = [];
  /** The node URL of each connection that went online, in order. */
  readonly connectedTo: string[] = [];
  readonly #reconnector: Reconnector;
  #waiters: Array<() => void> = [];
  #finished: Promise<unknown> | undefined;
  #pump: Promise<void> | undefined;

  /**
   * `urls`: the node URLs this device may use, its home node first; `wrap`
   * lets a test watch or alter each connection.
   */
  constructor(
    label: string,
    device: SdkDevice,
    urls: readonly string[],
    wrap: (transport: Transport) => Transport = (transport) => transport,
  ) {
    this.label = label;
    this.device = device;
    this.#reconnector = new Reconnector({
      ctx,
      store: device.store,
      // The client core's own failover: round robin over the list.
      servers: urls,
      connect: async (server) =>
        wrap(await WsTransport.connect(server ?? '', { connectTimeoutMs: 3_000 })),
      // Short waits: a failed-over device should be back within a second or two.
      backoff: { baseDelayMs: 200, maxDelayMs: 2_000 },
    });
  }

  /** Starts the connection loop and the event pump. */
  start(): void {
    const events = this.#reconnector.events();
    this.#pump = (async () => {
      for await (const event of events) this.#onEvent(event);
    })();
    this.#finished = this.#reconnector.start();
  }

  #onEvent(event: ReconnectorEvent): void {
    this.seen.push(event);
    if (event.type === 'message' && !event.message.outgoing) {
      this.shown.push({ from: event.message.sender, text: event.message.text, at: Date.now() });
    } else if (event.type === 'connection' && event.state === 'online') {
      this.connectedTo.push(this.#reconnector.server ?? '');
    }
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** The node URL of the current (or last) connection. */
  get url(): string {
    return this.connectedTo.at(-1) ?? '';
  }

  /**
   * Sends a text through the reconnector: a send cut off with its connection
   * goes again on the next one under the same message id (shown once).
   */
  async sendText(to: string, text: string): Promise<void> {
    await this.#reconnector.sendText(to, text);
  }

  /** The client of the current connection, waiting while the device reconnects. */
  async client(timeoutMs = 60_000): Promise<QuintetClient> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const client = this.#reconnector.client;
      if (client !== undefined) return client;
      if (Date.now() > deadline) throw new Error(`${this.label} did not come online`);
      await this.changed(Math.min(500, deadline - Date.now()));
    }
  }

  /** Resolves on the next event of this device, or after `ms`. */
  changed(ms: number): Promise<void> {
    return new Promise((done) => {
      const timer = setTimeout(done, ms);
      this.#waiters.push(() => {
        clearTimeout(timer);
        done();
      });
    });
  }

  /** Waits until `check` holds (`timeoutMs` only guards against a hang). */
  async until(what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) {
        const types = this.seen.map((e) => (e.type === 'connection' ? e.state : e.type));
        throw new Error(`${this.label}: timed out waiting for ${what}; saw ${types.join(', ')}`);
      }
      await this.changed(Math.min(500, deadline - Date.now()));
    }
  }

  /** Stops reconnecting and closes the connection. */
  async stop(): Promise<void> {
    await this.#reconnector.stop();
    await this.#finished;
    await this.#pump;
  }
}
