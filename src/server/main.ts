/**
 * The server's programmatic entry point: `startServer(options)` resolves to
 * a `RunningServer` (`{ url, wsUrl, port, close() }`). The CLI
 * (`quintet server`, src/cli/server-command.ts), tests and benchmarks all
 * start servers through it.
 */
export { startServer, databasePath } from './server.js';
export type { RunningServer, StartServerOptions } from './server.js';
export { DEFAULT_LIMITS, type ServerLimits } from './config.js';
