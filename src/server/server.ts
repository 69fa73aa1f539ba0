/**
 * Assembles and runs a Quintet server: one HTTP server whose upgrade path
 * `/v1/websocket` (or `/`) carries the binary frame protocol, plus the
 * periodic jobs (expiry sweep, heartbeat).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { nodeCrypto } from '../crypto/node.js';
import { systemClock } from '../crypto/provider.js';
import { WEBSOCKET_PATH } from '../wire/limits.js';
import { ChallengeRegistry } from './auth/challenges.js';
import { openBlobBackend } from './blobs/blob-backend.js';
import { BlobMetrics } from './blobs/blob-metrics.js';
import { BlobRoutes } from './blobs/blob-routes.js';
import { DEFAULT_LIMITS, type ServerLimits } from './config.js';
import {
  joinCluster,
  defaultNodeId,
  DeviceRouter,
  renderNodeMetrics,
  type ClusterNode,
} from './cluster/index.js';
import { ClientConnection, CloseCodes } from './connection.js';
import { SocketCorker } from './socket-corker.js';
import type { ServerContext } from './context.js';
import { dispatchRequest } from './handlers/index.js';
import { sweepInactiveDevices } from './lifetimes.js';
import { linkSessionStoreFor } from './linking/link-session-backend.js';
import { LinkWaiters } from './linking/link-waiters.js';
import { pushDeviceListChangedLocally } from './linking/notices.js';
import { SubscriptionRecorder } from './linking/subscriptions.js';
import { createHttpHandler } from './http.js';
import { createLogger } from './logger.js';
import { ServerMetrics } from './metrics.js';
import { TokenBucketLimiter } from './rate-limit.js';
import { sharedRateLimiterFor } from './rate-limit-backend.js';
import { pooledRandom } from './random-pool.js';
import { SendLimits } from './send-limits.js';
import { CachedAccountStore } from './store/cached-accounts.js';
import type { ServerStore } from './store/types.js';
import { TurnScheduler } from './turn-end.js';
import { openStore, type RunningServer, type StartServerOptions } from './server-setup.js';

export { databasePath } from './server-setup.js';
export type { RunningServer, StartServerOptions } from './server-setup.js';

function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      if (address === null || typeof address === 'string') {
        reject(new Error('server has no TCP address'));
      } else {
        resolve(address);
      }
    });
  });
}

/**
 * The peer's address for per-address caps: IPv4 peers of a dual-stack
 * socket appear as `::ffff:a.b.c.d` and count as `a.b.c.d`. Behind a
 * reverse proxy every connection has the proxy's address (forwarded headers
 * are not trusted: any client could set them).
 */
function remoteAddress(socket: Socket): string {
  const address = socket.remoteAddress ?? 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** Starts a server and resolves once it is listening. */
export async function startServer(options: StartServerOptions = {}): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const nodeId = options.nodeId ?? defaultNodeId(options.port ?? 8080);
  // Every log line names the node (several nodes share one log pipeline).
  const logger = (options.logger ?? createLogger(options.logLevel ?? 'info')).child({
    node: nodeId,
  });
  // Per server, never per module: several servers may run in one process.
  const turns = new TurnScheduler();
  const corker = new SocketCorker(turns);
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const clock = options.clock ?? systemClock;
  const crypto = options.crypto ?? nodeCrypto;
  const random = options.random ?? pooledRandom((n: number) => crypto.randomBytes(n));
  const opened = await openStore(options, random, limits, logger, turns);
  const accounts = new CachedAccountStore(opened.accounts);
  const devices = new DeviceRouter(nodeId, Date.now, (task) => turns.atTurnEnd('write', task));
  const store: ServerStore = {
    accounts,
    preKeys: opened.preKeys,
    kemPreKeys: opened.kemPreKeys,
    queue: opened.queue,
    subscribers: opened.subscribers,
    groups: opened.groups,
    close: () => opened.close(),
  };
  const metrics = new ServerMetrics();
  // Blob store: the backend that matches the store (blobs/blob-backend.ts).
  const blobMetrics = new BlobMetrics();
  const blobs = await openBlobBackend(
    options.database !== undefined
      ? {
          kind: 'postgres',
          url: options.database,
          ...(options.databaseSchema === undefined ? {} : { schema: options.databaseSchema }),
        }
      : options.store !== undefined || options.memory === true
        ? { kind: 'temporary' }
        : { kind: 'files', dataDir: options.dataDir ?? 'data' },
    (error) => logger.error({ err: error }, 'blob store error'),
  ).catch(async (error: unknown) => {
    await opened.close();
    throw error;
  });
  // Linking sessions: in PostgreSQL when the store is (a cluster), else in memory.
  const links = linkSessionStoreFor(opened, {
    clock,
    random,
    refTtlMs: limits.linkRefTtlMs,
    completeTtlMs: limits.linkCompleteTtlMs,
  });
  const linkWaiters = new LinkWaiters({
    links,
    nodeId,
    clock,
    authTimeoutMs: limits.authTimeoutMs,
    logger,
  });
  const ctx: ServerContext = {
    store,
    clock,
    random,
    crypto,
    limits,
    registrationToken: options.registrationToken === '' ? undefined : options.registrationToken,
    logger,
    metrics,
    challenges: new ChallengeRegistry(
      clock,
      random,
      limits.maxChallengesPerConnection,
      limits.maxOutstandingChallenges,
    ),
    devices,
    nodeId,
    bundleLimiter: new TokenBucketLimiter(
      clock,
      limits.bundleRateBurst,
      limits.bundleRatePerSecond,
    ),
    links,
    linkWaiters,
    subscriptions: new SubscriptionRecorder(opened.subscribers, logger),
    allowReregistration: options.allowReregistration === true,
    sendLimits: new SendLimits(clock, limits),
    bundleTargetLimiter: sharedRateLimiterFor(
      opened,
      'bundle-target',
      clock,
      limits.bundleTargetBurst,
      limits.bundleTargetPerSecond,
    ),
    ephemeralLimiter: new TokenBucketLimiter(
      clock,
      limits.ephemeralRateBurst,
      limits.ephemeralRatePerSecond,
    ),
    registrationLimiter: sharedRateLimiterFor(
      opened,
      'registration',
      clock,
      limits.registrationBurst,
      limits.registrationsPerHour / 3600,
    ),
    blobs,
  };
  let cluster: ClusterNode | undefined;
  if (options.bus !== undefined) {
    cluster = joinCluster({
      busUrl: options.bus,
      nodeId,
      ...(options.busSubjectPrefix === undefined
        ? {}
        : { subjectPrefix: options.busSubjectPrefix }),
      router: devices,
      accounts,
      logger,
      announceLocally: (account, except) => {
        pushDeviceListChangedLocally(ctx, account, except).catch((error: unknown) => {
          logger.warn({ err: error, account }, 'could not push a device-list change');
        });
      },
      onConnectionPush: (connectionId) => linkWaiters.pushedOverBus(connectionId),
      ...(options.degradedSweepMs === undefined
        ? {}
        : { degradedSweepMs: options.degradedSweepMs }),
    });
  }
  const blobRoutes = new BlobRoutes({
    store: blobs,
    accounts,
    limits,
    clock,
    random,
    metrics: blobMetrics,
    logger,
  });
  const startedAt = Date.now();
  const connections = new Set<ClientConnection>();

  const http = createServer(
    {
      // Sockets that never finish a request (or an upgrade) are closed:
      // slow-loris connections would otherwise hold a descriptor each.
      headersTimeout: Math.min(limits.httpHeadersTimeoutMs, limits.httpRequestTimeoutMs),
      // Node bounds a whole request, body included, with one server-wide
      // timeout; only blob uploads have a body worth waiting for (any other
      // request with a body is answered at once and its connection closed
      // unread), so the bound is the longer of the two. Idle sockets are
      // still cut after httpHeadersTimeoutMs (the 'connection' handler below).
      requestTimeout: Math.max(limits.httpRequestTimeoutMs, limits.blobUploadTimeoutMs),
      connectionsCheckingInterval: Math.max(100, Math.min(5000, limits.httpHeadersTimeoutMs / 4)),
    },
    createHttpHandler({
      logger,
      blobs: blobRoutes,
      ...(options.staticDir === undefined ? {} : { staticDir: options.staticDir }),
      health: async () => {
        const database = opened.health === undefined ? { ok: true } : await opened.health();
        return {
          // Without its database a node cannot serve: out of the pool (503).
          status: database.ok ? 'ok' : 'unavailable',
          uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
          connections: metrics.connections,
          authenticatedDevices: metrics.authenticatedDevices,
          nodeId,
          database,
          // The bus only costs latency when down: reported, not a failure.
          bus: { state: cluster?.bus.state ?? 'none' },
        };
      },
      metrics: async () =>
        metrics.render({
          queueDepth: await store.queue.totalCount(),
          ...(opened.commitCount === undefined ? {} : { storeCommits: opened.commitCount() }),
        }) +
        renderNodeMetrics(nodeId, cluster?.bus) +
        blobMetrics.render(await blobs.totalBytes(), blobRoutes.uploadsInProgress),
    }),
  );
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: limits.maxFrameBytes,
    // Envelopes are ciphertext: compression gains nothing and costs memory
    // per connection (and invites compression side channels).
    perMessageDeflate: false,
    clientTracking: false,
  });
  // A socket that sends nothing (or stops) before upgrading is closed after
  // this idle time; the upgrade clears it (ws sets no timeout on its sockets).
  http.on('connection', (socket: Socket) => socket.setTimeout(limits.httpHeadersTimeoutMs));
  const perAddress = new Map<string, number>();
  http.on('upgrade', (req, socket: Socket, head) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== WEBSOCKET_PATH && path !== '/') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    // Caps are checked before anything is allocated for the connection.
    const remote = remoteAddress(socket);
    const fromRemote = perAddress.get(remote) ?? 0;
    const cap =
      connections.size >= limits.maxConnections
        ? 'total'
        : fromRemote >= limits.maxConnectionsPerAddress
          ? 'per-address'
          : undefined;
    if (cap !== undefined) {
      metrics.upgradeRefused(cap);
      socket.end(
        'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 10\r\n' +
          `Content-Length: 0\r\nX-Quintet-Limit: connections-${cap}\r\n\r\n`,
      );
      return;
    }
    socket.setTimeout(0);
    wss.handleUpgrade(req, socket, head, (ws) => {
      const connection = new ClientConnection(ctx, ws, dispatchRequest, corker, remote);
      connections.add(connection);
      perAddress.set(remote, (perAddress.get(remote) ?? 0) + 1);
      metrics.connectionsOpened += 1;
      metrics.connections += 1;
      ws.on('close', () => {
        connections.delete(connection);
        const left = (perAddress.get(remote) ?? 1) - 1;
        if (left <= 0) perAddress.delete(remote);
        else perAddress.set(remote, left);
      });
    });
  });

  // With a shared database one node at a time runs each sweep.
  const oneNode = async (name: string, body: () => Promise<number>): Promise<number> =>
    opened.withLock === undefined ? body() : ((await opened.withLock(name, body)) ?? 0);
  const sweepExpired = (): Promise<number> => oneNode('quintet-expiry-sweep', expireNow);
  const expireNow = async (): Promise<number> => {
    const deleted = await store.queue.expire(clock.now() - limits.messageTtlMs);
    metrics.messagesExpired += deleted;
    if (deleted > 0) logger.info({ deleted }, 'expired undelivered envelopes');
    return deleted;
  };
  const sweepBlobs = (): Promise<number> => oneNode('quintet-blob-sweep', expireBlobsNow);
  const expireBlobsNow = async (): Promise<number> => {
    const deleted = await blobs.expire(clock.now(), 1000);
    blobMetrics.expired += deleted;
    if (deleted > 0) logger.info({ deleted }, 'deleted expired blobs');
    return deleted;
  };
  const sweepDevices = (): Promise<number> => oneNode('quintet-device-sweep', removeInactiveNow);
  const removeInactiveNow = async (): Promise<number> => {
    const removed = await sweepInactiveDevices(ctx);
    if (removed > 0) logger.info({ removed }, 'removed inactive companion devices');
    return removed;
  };
  const sweepTimer = setInterval(
    () => {
      sweepExpired().catch((error: unknown) => logger.error({ err: error }, 'expiry sweep failed'));
      sweepDevices().catch((error: unknown) =>
        logger.error({ err: error }, 'device lifetime sweep failed'),
      );
      ctx.bundleLimiter.prune();
      ctx.sendLimits.prune();
      ctx.ephemeralLimiter.prune();
      for (const shared of [ctx.bundleTargetLimiter, ctx.registrationLimiter]) {
        shared.prune().catch((error: unknown) => logger.error({ err: error }, 'rate prune failed'));
      }
      sweepBlobs().catch((error: unknown) => logger.error({ err: error }, 'blob sweep failed'));
      ctx.links
        .prune()
        .catch((error: unknown) => logger.error({ err: error }, 'link session prune failed'));
    },
    options.expirySweepMs ?? 60 * 60 * 1000,
  );
  sweepTimer.unref();
  const heartbeatTimer = setInterval(() => {
    for (const connection of connections) {
      if (!connection.alive) connection.terminate();
      else connection.ping();
    }
  }, options.heartbeatMs ?? 30_000);
  heartbeatTimer.unref();

  let address: AddressInfo;
  try {
    await sweepExpired();
    // Connection ids start over with the process: what this node's earlier
    // run left waiting must not reach a new connection with a reused id.
    await links.dropNode(nodeId);
    address = await listen(http, options.port ?? 8080, host);
  } catch (error) {
    clearInterval(sweepTimer);
    clearInterval(heartbeatTimer);
    cluster?.stop();
    await cluster?.bus.close();
    await blobs.close();
    await store.close();
    throw error;
  }
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${urlHost}:${address.port}`;
  logger.info({ url }, 'server listening');

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      clearInterval(sweepTimer);
      clearInterval(heartbeatTimer);
      linkWaiters.close();
      const stopped = new Promise<void>((resolve) => http.close(() => resolve()));
      for (const connection of connections) {
        connection.close(CloseCodes.goingAway, 'server shutting down');
      }
      // Give closing handshakes a moment, then cut whatever is left.
      await Promise.race([stopped, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
      for (const connection of connections) connection.terminate();
      http.closeAllConnections();
      await stopped;
      // Let every connection's close handler run (it records last-seen
      // times) before the store flushes and closes.
      const deadline = Date.now() + 2000;
      while (connections.size > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      cluster?.stop();
      await cluster?.bus.close();
      await blobs.close();
      await store.close();
      logger.info('server stopped');
    })();
    return closing;
  };

  return {
    url,
    wsUrl: `ws://${urlHost}:${address.port}${WEBSOCKET_PATH}`,
    port: address.port,
    nodeId,
    metrics,
    store,
    sweepExpired,
    sweepBlobs,
    sweepInactiveDevices: sweepDevices,
    close,
  };
}
