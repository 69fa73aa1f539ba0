/**
 * Cluster mode for `startServer`: the node id, and — when a bus URL is
 * given — the bus connection and the `ClusterNode` behind the device
 * router. Without a bus the router stays local (a single node).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { DeviceAddress } from '../context.js';
import type { CachedAccountStore } from '../store/cached-accounts.js';
import { ClusterBus, redactUrl } from './bus.js';
import { ClusterNode } from './cluster-node.js';
import type { DeviceRouter } from './device-router.js';
import { ClusterSubjects, DEFAULT_SUBJECT_PREFIX } from './subjects.js';

export { ClusterBus, type BusState } from './bus.js';
export { ClusterNode, renderNodeMetrics } from './cluster-node.js';
export { DeviceRouter } from './device-router.js';
export { ClusterSubjects, DEFAULT_SUBJECT_PREFIX } from './subjects.js';

/**
 * The node id when none is given: `hostname:port`. With port 0 (a free port
 * picked at listen, as tests do) a random suffix keeps ids apart.
 */
export function defaultNodeId(port: number): string {
  return port === 0 ? `${hostname()}:0-${randomBytes(4).toString('hex')}` : `${hostname()}:${port}`;
}

/** What `joinCluster` needs. */
export interface JoinClusterOptions {
  readonly busUrl: string;
  readonly nodeId: string;
  /** First token of every subject (default `quintet`; tests use a random one). */
  readonly subjectPrefix?: string;
  readonly router: DeviceRouter;
  readonly accounts: CachedAccountStore;
  readonly logger: Logger;
  readonly announceLocally: (account: string, except: DeviceAddress | undefined) => void;
  /** A push from another node reached one of this node's connections. */
  readonly onConnectionPush?: (connectionId: number) => void;
  /** Degraded-mode sweep period, ms (default 2000). */
  readonly degradedSweepMs?: number;
}

/** Connects the router and the device-list cache to the cluster; the bus connects in the background. */
export function joinCluster(options: JoinClusterOptions): ClusterNode {
  const logger = options.logger;
  const bus = new ClusterBus({
    url: options.busUrl,
    nodeId: options.nodeId,
    logger,
    // Called only after `bus.start()` below, when `node` exists.
    onState: (state, previous) => node.onBusState(state, previous),
  });
  const node = new ClusterNode({
    nodeId: options.nodeId,
    bus,
    subjects: new ClusterSubjects(options.subjectPrefix ?? DEFAULT_SUBJECT_PREFIX),
    router: options.router,
    accounts: options.accounts,
    logger,
    announceLocally: options.announceLocally,
    ...(options.onConnectionPush === undefined
      ? {}
      : { onConnectionPush: options.onConnectionPush }),
    ...(options.degradedSweepMs === undefined ? {} : { sweepMs: options.degradedSweepMs }),
  });
  options.router.useRemote(node);
  // Every change to an account's devices made here is heard by the other
  // nodes, which drop their cached copy.
  options.accounts.onChange = (account) => node.listChanged(account, false, undefined);
  node.start();
  logger.info({ bus: redactUrl(options.busUrl) }, 'joining the cluster');
  bus.start();
  return node;
}
