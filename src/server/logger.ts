/**
 * The server's logger (pino, JSON lines). Policy: log events and ids
 * (account names, device ids, error codes, counts) — never keys,
 * signatures, nonces, registration tokens or envelope content.
 */
import { pino, type Logger } from 'pino';

/** Log levels accepted by `--log-level`. */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** Creates the root logger. Output goes to stderr so stdout stays for the "listening" line. */
export function createLogger(level: LogLevel = 'info'): Logger {
  return pino({ level, base: { service: 'quintet-server' } }, pino.destination(2));
}

export type { Logger };
