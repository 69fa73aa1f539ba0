/**
 * Test fixtures: registered devices on a `FakeServer` with in-memory stores,
 * and helpers to wait for typed events.
 */
import { nodeCrypto } from '../../../src/crypto/node.js';
import { systemClock } from '../../../src/crypto/provider.js';
import type { ProtocolContext } from '../../../src/protocol/context.js';
import { registerAccount } from '../../../src/client/core/account-setup.js';
import { QuintetClient } from '../../../src/client/core/client.js';
import type { ClientEvent } from '../../../src/client/core/events.js';
import { ServerApi } from '../../../src/client/core/server-api.js';
import {
  createDeviceStore,
  type DeviceStore,
} from '../../../src/client/core/store/device-store.js';
import type { KeyValueBackend } from '../../../src/client/core/store/kv.js';
import { MemoryBackend } from '../../../src/client/core/store/memory-backend.js';
import type { FakeServer } from './fake-server.js';

/** The real crypto with the system clock. */
export const ctx: ProtocolContext = {
  crypto: nodeCrypto,
  random: (n) => nodeCrypto.randomBytes(n),
  clock: systemClock,
};

/** A registered device: its store and backend, and a way to go online. */
export interface TestDevice {
  readonly name: string;
  readonly backend: KeyValueBackend;
  readonly store: DeviceStore;
  /** Connects a new client; its event subscription starts before `start()`. */
  online(): Promise<{ client: QuintetClient; events: EventQueue }>;
}

/** Registers `name` on the fake server with a fresh in-memory store. */
export async function registerDevice(
  server: FakeServer,
  name: string,
  backend: KeyValueBackend = new MemoryBackend(),
): Promise<TestDevice> {
  const store = createDeviceStore(backend);
  const connection = server.connect();
  await registerAccount(ctx, store, new ServerApi(connection), {
    account: name,
    serverUrl: 'fake://',
  });
  await connection.close();
  return {
    name,
    backend,
    store,
    async online() {
      const client = new QuintetClient({ ctx, store, transport: server.connect() });
      const events = new EventQueue(client.events());
      await client.start();
      return { client, events };
    },
  };
}

/** Pulls events one at a time with a timeout, so a missing event fails the test instead of hanging. */
export class EventQueue {
  readonly #iterator: AsyncIterator<ClientEvent>;
  readonly seen: ClientEvent[] = [];

  constructor(events: AsyncIterable<ClientEvent>) {
    this.#iterator = events[Symbol.asyncIterator]();
  }

  /** The next event matching `type`, skipping others (which are kept in `seen`). */
  async next<T extends ClientEvent['type']>(
    type: T,
    timeoutMs = 5_000,
  ): Promise<Extract<ClientEvent, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`timed out waiting for a ${type} event`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const result = await Promise.race([
        this.#iterator.next(),
        new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), remaining);
        }),
      ]);
      clearTimeout(timer);
      if (result === 'timeout') {
        throw new Error(
          `timed out waiting for a ${type} event (saw: ${this.seen.map((e) => e.type).join(', ')})`,
        );
      }
      if (result.done === true) throw new Error(`event stream ended before a ${type} event`);
      this.seen.push(result.value);
      if (result.value.type === type) return result.value as Extract<ClientEvent, { type: T }>;
    }
  }
}
