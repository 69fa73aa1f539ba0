/**
 * `quintet server`: runs a Quintet server until SIGINT/SIGTERM.
 *
 * The registration token can come from the environment
 * (QUINTET_REGISTRATION_TOKEN) so it does not show in the process list.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { LogLevel } from '../server/logger.js';
import type { RunningServer, StartServerOptions } from '../server/main.js';
import type { ServerLimits } from '../server/config.js';
import {
  addBundleOptions,
  addEphemeralOptions,
  addRequestLimitOptions,
  nonNegativeInt,
  positiveInt,
  positiveNumber,
} from './server-limit-options.js';

const DAY_MS = 24 * 60 * 60 * 1000;

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be 0-65535');
  return n;
}

/** Parsed `quintet server` options (commander's camel-cased names). */
export interface ServerCommandOptions {
  readonly host: string;
  readonly port: number;
  readonly data: string;
  readonly memory?: boolean;
  readonly registrationToken?: string;
  readonly messageTtlDays: number;
  readonly maxEnvelopeBytes?: number;
  readonly maxEnvelopes?: number;
  readonly maxFrameBytes?: number;
  readonly sync: 'normal' | 'full';
  readonly logLevel: LogLevel;
  /** A directory, or `false` with `--no-web`; undefined means the built-in app. */
  readonly web?: string | false;
  readonly maxCompanions?: number;
  readonly maxGroupMembers?: number;
  readonly primaryInactiveDays?: number;
  readonly companionInactiveDays?: number;
  readonly allowReregistration?: boolean;
  // Disk: queue bounds, per-account send rates, storage reserve.
  readonly maxQueuedEnvelopes?: number;
  readonly maxQueuedBytes?: number;
  readonly sendRateBurst?: number;
  readonly sendRatePerSecond?: number;
  readonly sendBytesBurst?: number;
  readonly sendBytesPerSecond?: number;
  readonly storageReserveBytes?: number;
  // Request limits that had fixed defaults: prekeys, acks, frames, challenges, backlog, links.
  readonly maxPreKeysPerUpload?: number;
  readonly maxPreKeysStored?: number;
  readonly maxKemPreKeysPerUpload?: number;
  readonly maxKemPreKeysStored?: number;
  readonly preKeyLowThreshold?: number;
  readonly maxAcksPerRequest?: number;
  readonly maxEphemeralBytes?: number;
  readonly ephemeralRateBurst?: number;
  readonly ephemeralRatePerSecond?: number;
  readonly maxMalformedFrames?: number;
  readonly maxChallengesPerConnection?: number;
  readonly backlogPageSize?: number;
  readonly linkRefTtlSeconds?: number;
  readonly linkCompleteTtlSeconds?: number;
  // Prekey bundles: per-requester and per-target limits.
  readonly bundleRateBurst?: number;
  readonly bundleRatePerSecond?: number;
  readonly bundleTargetBurst?: number;
  readonly bundleTargetPerSecond?: number;
  // Connections and HTTP: output budget, unauthenticated sockets, caps, challenges, registration.
  readonly maxConnectionOutputBytes?: number;
  readonly outputStuckSeconds?: number;
  readonly authTimeoutSeconds?: number;
  readonly maxConnections?: number;
  readonly maxConnectionsPerAddress?: number;
  readonly httpHeadersTimeoutSeconds?: number;
  readonly httpRequestTimeoutSeconds?: number;
  readonly maxOutstandingChallenges?: number;
  readonly registrationBurst?: number;
  readonly registrationsPerHour?: number;
  // Blob store: size, quota, uploads at once, lifetimes.
  readonly maxBlobBytes?: number;
  readonly blobQuotaBytes?: number;
  readonly maxBlobUploadsPerAccount?: number;
  readonly attachmentTtlDays?: number;
  readonly archiveTtlHours?: number;
  readonly blobUploadTimeoutSeconds?: number;
  // Cluster mode: PostgreSQL, the NATS bus, the node id.
  readonly database?: string;
  readonly databaseSchema?: string;
  readonly bus?: string;
  readonly nodeId?: string;
}

/**
 * The browser companion built by `npm install` (web/dist inside the package),
 * resolved from this file rather than the working directory so `npx quintet
 * server` serves it from anywhere. Undefined when it has not been built.
 */
export function builtInWebDir(): string | undefined {
  const dir = fileURLToPath(new URL('../../web/dist/', import.meta.url));
  return existsSync(`${dir}index.html`) ? dir : undefined;
}

/** Maps CLI options to `startServer` options. */
export function serverOptionsFromCli(options: ServerCommandOptions): StartServerOptions {
  const limits: Partial<{ -readonly [K in keyof ServerLimits]: ServerLimits[K] }> = {
    messageTtlMs: Math.round(options.messageTtlDays * DAY_MS),
  };
  if (options.maxEnvelopeBytes !== undefined) limits.maxEnvelopeBytes = options.maxEnvelopeBytes;
  if (options.maxEnvelopes !== undefined) limits.maxEnvelopesPerRequest = options.maxEnvelopes;
  if (options.maxFrameBytes !== undefined) limits.maxFrameBytes = options.maxFrameBytes;
  if (options.maxCompanions !== undefined) limits.maxCompanions = options.maxCompanions;
  if (options.maxGroupMembers !== undefined) limits.maxGroupMembers = options.maxGroupMembers;
  if (options.primaryInactiveDays !== undefined) {
    limits.primaryInactiveMs = Math.round(options.primaryInactiveDays * DAY_MS);
  }
  if (options.companionInactiveDays !== undefined) {
    limits.companionInactiveMs = Math.round(options.companionInactiveDays * DAY_MS);
  }
  // Disk: queue bounds, per-account send rates, storage reserve.
  if (options.maxQueuedEnvelopes !== undefined) {
    limits.maxQueuedEnvelopes = options.maxQueuedEnvelopes;
  }
  if (options.maxQueuedBytes !== undefined) limits.maxQueuedBytes = options.maxQueuedBytes;
  if (options.sendRateBurst !== undefined) limits.sendRateBurst = options.sendRateBurst;
  if (options.sendRatePerSecond !== undefined) limits.sendRatePerSecond = options.sendRatePerSecond;
  if (options.sendBytesBurst !== undefined) limits.sendBytesBurst = options.sendBytesBurst;
  if (options.sendBytesPerSecond !== undefined) {
    limits.sendBytesPerSecond = options.sendBytesPerSecond;
  }
  if (options.storageReserveBytes !== undefined) {
    limits.storageReserveBytes = options.storageReserveBytes;
  }
  // Request limits that had fixed defaults.
  const plain = [
    'maxPreKeysPerUpload',
    'maxPreKeysStored',
    'maxKemPreKeysPerUpload',
    'maxKemPreKeysStored',
    'preKeyLowThreshold',
    'maxAcksPerRequest',
    'maxMalformedFrames',
    'maxChallengesPerConnection',
    'backlogPageSize',
    'maxEphemeralBytes',
    'ephemeralRateBurst',
    'ephemeralRatePerSecond',
  ] as const;
  for (const key of plain) {
    const value = options[key];
    if (value !== undefined) limits[key] = value;
  }
  if (options.linkRefTtlSeconds !== undefined) {
    limits.linkRefTtlMs = Math.round(options.linkRefTtlSeconds * 1000);
  }
  if (options.linkCompleteTtlSeconds !== undefined) {
    limits.linkCompleteTtlMs = Math.round(options.linkCompleteTtlSeconds * 1000);
  }
  // Prekey bundles: per-requester and per-target limits.
  if (options.bundleRateBurst !== undefined) limits.bundleRateBurst = options.bundleRateBurst;
  if (options.bundleRatePerSecond !== undefined) {
    limits.bundleRatePerSecond = options.bundleRatePerSecond;
  }
  if (options.bundleTargetBurst !== undefined) limits.bundleTargetBurst = options.bundleTargetBurst;
  if (options.bundleTargetPerSecond !== undefined) {
    limits.bundleTargetPerSecond = options.bundleTargetPerSecond;
  }
  // Connections and HTTP: output budget, unauthenticated sockets, caps, challenges, registration.
  if (options.maxConnectionOutputBytes !== undefined) {
    limits.maxConnectionOutputBytes = options.maxConnectionOutputBytes;
  }
  if (options.outputStuckSeconds !== undefined) {
    limits.outputStuckMs = Math.round(options.outputStuckSeconds * 1000);
  }
  if (options.authTimeoutSeconds !== undefined) {
    limits.authTimeoutMs = Math.round(options.authTimeoutSeconds * 1000);
  }
  if (options.maxConnections !== undefined) limits.maxConnections = options.maxConnections;
  if (options.maxConnectionsPerAddress !== undefined) {
    limits.maxConnectionsPerAddress = options.maxConnectionsPerAddress;
  }
  if (options.httpHeadersTimeoutSeconds !== undefined) {
    limits.httpHeadersTimeoutMs = Math.round(options.httpHeadersTimeoutSeconds * 1000);
  }
  if (options.httpRequestTimeoutSeconds !== undefined) {
    limits.httpRequestTimeoutMs = Math.round(options.httpRequestTimeoutSeconds * 1000);
  }
  if (options.maxOutstandingChallenges !== undefined) {
    limits.maxOutstandingChallenges = options.maxOutstandingChallenges;
  }
  if (options.registrationBurst !== undefined) limits.registrationBurst = options.registrationBurst;
  if (options.registrationsPerHour !== undefined) {
    limits.registrationsPerHour = options.registrationsPerHour;
  }
  // Blob store: size, quota, uploads at once, lifetimes.
  if (options.maxBlobBytes !== undefined) limits.maxBlobBytes = options.maxBlobBytes;
  if (options.blobQuotaBytes !== undefined) limits.blobQuotaBytes = options.blobQuotaBytes;
  if (options.maxBlobUploadsPerAccount !== undefined) {
    limits.maxBlobUploadsPerAccount = options.maxBlobUploadsPerAccount;
  }
  if (options.attachmentTtlDays !== undefined) {
    limits.attachmentTtlMs = Math.round(options.attachmentTtlDays * DAY_MS);
  }
  if (options.archiveTtlHours !== undefined) {
    limits.archiveTtlMs = Math.round(options.archiveTtlHours * 60 * 60 * 1000);
  }
  if (options.blobUploadTimeoutSeconds !== undefined) {
    limits.blobUploadTimeoutMs = Math.round(options.blobUploadTimeoutSeconds * 1000);
  }
  const token = options.registrationToken ?? process.env['QUINTET_REGISTRATION_TOKEN'];
  return {
    ...clusterOptions(options),
    host: options.host,
    port: options.port,
    dataDir: options.data,
    memory: options.memory === true,
    synchronous: options.sync,
    logLevel: options.logLevel,
    limits,
    allowReregistration: options.allowReregistration === true,
    ...(token === undefined || token === '' ? {} : { registrationToken: token }),
    ...webOption(options.web),
  };
}

// Cluster mode: flags win over the environment (URLs with passwords belong
// in the environment, out of the process list).
function clusterOptions(
  options: ServerCommandOptions,
): Pick<StartServerOptions, 'database' | 'databaseSchema' | 'bus' | 'nodeId'> {
  const database = options.database ?? process.env['QUINTET_DATABASE_URL'];
  const databaseSchema = options.databaseSchema ?? process.env['QUINTET_DATABASE_SCHEMA'];
  const bus = options.bus ?? process.env['QUINTET_BUS_URL'];
  const nodeId = options.nodeId ?? process.env['QUINTET_NODE_ID'];
  return {
    ...(database === undefined || database === '' ? {} : { database }),
    ...(databaseSchema === undefined || databaseSchema === '' ? {} : { databaseSchema }),
    ...(bus === undefined || bus === '' ? {} : { bus }),
    ...(nodeId === undefined || nodeId === '' ? {} : { nodeId }),
  };
}

function webOption(web: string | false | undefined): { staticDir?: string } {
  if (web === false) return {};
  const dir = web ?? builtInWebDir();
  return dir === undefined ? {} : { staticDir: dir };
}

/** Starts the server, prints where it listens, and stops cleanly on SIGINT/SIGTERM. */
export async function runServerCommand(options: ServerCommandOptions): Promise<RunningServer> {
  // Loaded only when the server runs: `quintet --help` and the client
  // commands never load the server, its database drivers or the bus client.
  const { startServer } = await import('../server/main.js');
  const server = await startServer(serverOptionsFromCli(options));
  process.stdout.write(`listening on ${server.url}\n`);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${signal}: shutting down\n`);
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(
          `shutdown failed: ${error instanceof Error ? error.message : String(error)}\n`,
        );
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  return server;
}

/** Adds the `server` subcommand to the `quintet` program. */
export function addServerCommand(program: Command): Command {
  const command = program
    .command('server')
    .description('run a Quintet server (WebSocket + /healthz + /metrics on one port)')
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free port)', port, 8080)
    .option('--data <dir>', 'data directory (SQLite database quintet.db)', './data')
    .option('--memory', 'keep everything in memory; nothing survives a restart')
    .option(
      '--registration-token <token>',
      'require this token to register (or set QUINTET_REGISTRATION_TOKEN)',
    )
    .option('--message-ttl-days <days>', 'delete undelivered envelopes after', positiveNumber, 30)
    .option('--max-envelope-bytes <n>', 'largest envelope content', positiveInt)
    .option('--max-envelopes <n>', 'most envelopes in one send', positiveInt)
    .option('--max-frame-bytes <n>', 'largest WebSocket message', positiveInt)
    .option('--max-companions <n>', 'companion devices per account (default 4)', positiveInt)
    .option('--max-group-members <n>', 'members per group (default 1024)', positiveInt)
    .option(
      '--primary-inactive-days <days>',
      'log companions out when their primary has been away this long (default 14)',
      positiveNumber,
    )
    .option(
      '--companion-inactive-days <days>',
      'remove a companion that has been away this long (default 30)',
      positiveNumber,
    )
    .option(
      '--allow-reregistration',
      'let an existing account name register again (a reinstalled phone); logs out its companions',
    )
    .addOption(
      new Option('--sync <mode>', 'SQLite durability: normal (process crash) or full (power loss)')
        .choices(['normal', 'full'])
        .default('normal'),
    )
    .addOption(
      new Option('--log-level <level>', 'log level')
        .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
        .default('info'),
    )
    .option('--web <dir>', 'serve the web app from this directory at / (default: the built-in one)')
    .option('--no-web', 'serve no web app')
    .option(
      // Connections and HTTP: output budget, unauthenticated sockets, caps, challenges, registration.
      '--max-connection-output-bytes <n>',
      'unread output per connection before its requests stop being read (default 4194304)',
      positiveInt,
    )
    .option(
      '--output-stuck-seconds <s>',
      'close a connection whose output stays over budget this long (default 30)',
      positiveNumber,
    )
    .option(
      '--auth-timeout-seconds <s>',
      'close a connection that has not authenticated by then (default 10)',
      positiveNumber,
    )
    .option('--max-connections <n>', 'open WebSocket connections (default 20000)', positiveInt)
    .option(
      '--max-connections-per-address <n>',
      'open WebSocket connections from one IP address (default 200)',
      positiveInt,
    )
    .option(
      '--http-headers-timeout-seconds <s>',
      'time to send request headers / idle time before upgrading (default 10)',
      positiveNumber,
    )
    .option(
      '--http-request-timeout-seconds <s>',
      'time to send a whole HTTP request (default 30)',
      positiveNumber,
    )
    .option(
      '--max-outstanding-challenges <n>',
      'unused login challenges server-wide; the oldest go first (default 100000)',
      positiveInt,
    )
    .option(
      '--registration-burst <n>',
      'registrations one IP address may make at once (default 10)',
      positiveInt,
    )
    .option(
      '--registrations-per-hour <n>',
      'registrations one IP address regains per hour (default 10)',
      positiveNumber,
    )
    .action(async (options: ServerCommandOptions) => {
      await runServerCommand(options);
    });
  addDiskOptions(command);
  addClusterOptions(command);
  addBundleOptions(command);
  addRequestLimitOptions(command);
  addEphemeralOptions(command);
  addBlobOptions(command);
  return command;
}

// Blob store: size, quota, uploads at once, lifetimes.
function addBlobOptions(command: Command): void {
  command
    .option('--max-blob-bytes <n>', 'largest blob (default 104857600)', positiveInt)
    .option(
      '--blob-quota-bytes <n>',
      'bytes of unexpired blobs per account (default 1073741824)',
      positiveInt,
    )
    .option(
      '--max-blob-uploads-per-account <n>',
      'uploads one account may have in progress on a node (default 4)',
      positiveInt,
    )
    .option(
      '--attachment-ttl-days <days>',
      'attachment blobs are deleted after this long (default 30)',
      positiveNumber,
    )
    .option(
      '--archive-ttl-hours <hours>',
      'history archives are deleted after this long unless deleted sooner (default 24)',
      positiveNumber,
    )
    .option(
      '--blob-upload-timeout-seconds <n>',
      'time one blob upload may take (default 900)',
      positiveNumber,
    );
}

// Disk: queue bounds, per-account send rates, storage reserve.
function addDiskOptions(command: Command): void {
  command
    .option(
      '--max-queued-envelopes <n>',
      'envelopes one device may have queued (default 50000)',
      positiveInt,
    )
    .option(
      '--max-queued-bytes <n>',
      'bytes one device may have queued (default 268435456)',
      positiveInt,
    )
    .option(
      '--send-rate-burst <n>',
      'sends one account may make at once (default 1000)',
      positiveInt,
    )
    .option(
      '--send-rate-per-second <n>',
      'sends per second one account may sustain (default 50)',
      positiveNumber,
    )
    .option(
      '--send-bytes-burst <n>',
      'bytes one account may store at once (default 67108864)',
      positiveInt,
    )
    .option(
      '--send-bytes-per-second <n>',
      'bytes per second one account may store (default 1048576)',
      positiveNumber,
    )
    .option(
      '--storage-reserve-bytes <n>',
      'disk kept free so acks work on a full disk; 0 for none (default 16777216)',
      nonNegativeInt,
    );
}

// Cluster mode: PostgreSQL, the NATS bus, the node id.
function addClusterOptions(command: Command): void {
  command
    .option(
      '--database <url>',
      'PostgreSQL URL (postgres://…) instead of SQLite; or set QUINTET_DATABASE_URL',
    )
    .option(
      '--database-schema <name>',
      'PostgreSQL schema holding the tables (default public); or set QUINTET_DATABASE_SCHEMA',
    )
    .option('--bus <url>', 'NATS URL (nats://…) linking the nodes; or set QUINTET_BUS_URL')
    .option('--node-id <id>', "this node's id (default hostname:port); or set QUINTET_NODE_ID");
}
