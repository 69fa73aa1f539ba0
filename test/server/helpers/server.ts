/** Starts an in-process server for a test: in-memory store, silent logs, a clock the test moves. */
import { pino } from 'pino';
import type { Clock } from '../../../src/crypto/provider.js';
import type { ServerLimits } from '../../../src/server/config.js';
import { startServer, type RunningServer } from '../../../src/server/main.js';
import { createMemoryStore } from '../../../src/server/store/memory.js';
import type { ServerStore } from '../../../src/server/store/types.js';

/** A clock that only moves when told. */
export class ManualClock implements Clock {
  constructor(private time = 1_700_000_000_000) {}
  now(): number {
    return this.time;
  }
  advance(ms: number): void {
    this.time += ms;
  }
}

/** A running test server with its store and clock. */
export interface TestServer {
  readonly server: RunningServer;
  readonly store: ServerStore;
  readonly clock: ManualClock;
  readonly wsUrl: string;
  close(): Promise<void>;
}

/** Options of `startTestServer`. */
export interface TestServerOptions {
  readonly limits?: Partial<ServerLimits>;
  readonly registrationToken?: string;
  readonly staticDir?: string;
  readonly allowReregistration?: boolean;
}

/**
 * Limits tests run with unless they say otherwise: tests register many
 * accounts from 127.0.0.1, so the per-address registration limit is lifted
 * (test/server/connection-limits.test.ts checks the production default).
 */
export const TEST_LIMITS: Partial<ServerLimits> = { registrationBurst: 1_000_000 };

/** Starts a server on a free loopback port. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const store = createMemoryStore();
  const clock = new ManualClock();
  const server = await startServer({
    port: 0,
    store,
    clock,
    logger: pino({ level: 'silent' }),
    ...options,
    limits: { ...TEST_LIMITS, ...options.limits },
  });
  // The server's own view of the store: writes through it keep its caches coherent.
  return { server, store: server.store, clock, wsUrl: server.wsUrl, close: () => server.close() };
}
