/** The server limits every benchmark server process runs with. */
import type { ServerLimits } from '../src/server/config.js';

// The benchmarks open thousands of connections and register thousands of
// accounts (bench/server.ts: 10,000 idle devices; bench/group.ts: a
// 1,024-member group), all from 127.0.0.1, so the per-address and total
// connection caps and the per-address registration limit are raised; so
// are the per-account send rates: each benchmark account sends hundreds of
// messages a second (and the group benchmark's sender fans out to 5,120
// devices per send), far beyond what one person does. The benchmark
// fetches no bundles; other limits keep their defaults.
export const BENCH_LIMITS: Partial<ServerLimits> = {
  maxConnections: 100_000,
  maxConnectionsPerAddress: 100_000,
  registrationBurst: 1_000_000,
  sendRateBurst: 1_000_000,
  sendRatePerSecond: 1_000_000,
  sendBytesBurst: 1024 * 1024 * 1024,
  sendBytesPerSecond: 1024 * 1024 * 1024,
};
