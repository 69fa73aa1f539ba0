/**
 * Fixtures of the SDK surface tests: the real server in-process (in-memory
 * store, port 0), devices made through the SDK itself on in-memory stores,
 * and a reader that waits for a typed event.
 */
import { createDeviceStore } from '../../src/client/core/store/device-store.js';
import { MemoryBackend } from '../../src/client/core/store/memory-backend.js';
import { startServer, type RunningServer } from '../../src/server/main.js';
import {
  nodePlatform,
  QuintetDevice,
  registerDevice,
  type DeviceStore,
  type OpenOptions,
  type QuintetEvent,
} from '../../src/sdk/index.js';

/** The real server, in memory, with no per-address registration limit. */
export function sdkServer(): Promise<RunningServer> {
  return startServer({
    port: 0,
    memory: true,
    logLevel: 'silent',
    limits: { registrationBurst: 1_000_000 },
  });
}

/** An empty in-memory device store. */
export function memoryStore(): DeviceStore {
  return createDeviceStore(new MemoryBackend());
}

/** Registers `account` on `servers` and opens it, connected. */
export async function registeredDevice(
  account: string,
  servers: string | readonly string[],
  options: Partial<OpenOptions> = {},
): Promise<QuintetDevice> {
  const made = await registerDevice({
    store: memoryStore(),
    platform: nodePlatform,
    servers,
    account,
  });
  const device = await QuintetDevice.open({
    store: made.store,
    platform: nodePlatform,
    ...options,
  });
  await device.ready();
  return device;
}

/** Reads `events` until one matches `match`; fails after `timeoutMs`. */
export async function nextEvent<T extends QuintetEvent>(
  events: AsyncIterator<QuintetEvent>,
  match: (event: QuintetEvent) => event is T,
  timeoutMs = 10_000,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error('no matching event in time')), timeoutMs);
  });
  try {
    for (;;) {
      const next = await Promise.race([events.next(), timeout]);
      if (next.done === true) throw new Error('the event stream ended');
      if (match(next.value)) return next.value;
    }
  } finally {
    clearTimeout(timer);
  }
}
