/**
 * What request handlers share: the stores, the injected clock/random/crypto,
 * limits, logging, metrics and the in-memory registries. Passed explicitly
 * (no globals), so tests can build a server around a fake clock.
 */
import type { Logger } from 'pino';
import type { Clock, CryptoProvider, RandomSource } from '../crypto/provider.js';
import type { ChallengeRegistry } from './auth/challenges.js';
import type { BlobStore } from './blobs/blob-store.js';
import type { DeviceRouter } from './cluster/device-router.js';
import type { ServerLimits } from './config.js';
import type { LinkSessionStore } from './linking/link-sessions.js';
import type { LinkWaiters } from './linking/link-waiters.js';
import type { SubscriptionRecorder } from './linking/subscriptions.js';
import type { ServerMetrics } from './metrics.js';
import type { SharedRateLimiter, TokenBucketLimiter } from './rate-limit.js';
import type { SendLimits } from './send-limits.js';
import type { ServerStore } from './store/types.js';

/** The services and state every handler may use. */
export interface ServerContext {
  readonly store: ServerStore;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly crypto: CryptoProvider;
  readonly limits: ServerLimits;
  /** When set, registration requires this token. */
  readonly registrationToken: string | undefined;
  readonly logger: Logger;
  readonly metrics: ServerMetrics;
  readonly challenges: ChallengeRegistry;
  /** Device connections here and, in a cluster, on the other nodes (cluster/device-router.ts). */
  readonly devices: DeviceRouter;
  /** This node's id (`--node-id`; default hostname:port): names its connections in a cluster. */
  readonly nodeId: string;
  readonly bundleLimiter: TokenBucketLimiter;
  /** Open and approved linking sessions (memory on one node, PostgreSQL in a cluster). */
  readonly links: LinkSessionStore;
  /** Companions waiting on this node for an approval (delivers filed pushes). */
  readonly linkWaiters: LinkWaiters;
  /** Records who watches whose device list, writing each pair once. */
  readonly subscriptions: SubscriptionRecorder;
  /** Whether an existing account name may be registered again (a reinstalled primary). */
  readonly allowReregistration: boolean;
  /** Per-account send rate limits (sends and stored bytes). */
  readonly sendLimits: SendLimits;
  /** One-time prekeys handed out per target account (see handlers/prekeys.ts); cluster-wide. */
  readonly bundleTargetLimiter: SharedRateLimiter;
  /** Registrations per remote address (`registrationBurst`, `registrationsPerHour`); cluster-wide. */
  readonly registrationLimiter: SharedRateLimiter;
  /** Ephemeral sends per sending device (`ephemeralRateBurst`, `ephemeralRatePerSecond`). */
  readonly ephemeralLimiter: TokenBucketLimiter;
  /** Attachments and history archives (files in embedded mode, PostgreSQL in a cluster). */
  readonly blobs: BlobStore;
}

/** The device a connection is authenticated as. */
export interface DeviceAddress {
  readonly account: string;
  readonly deviceId: number;
}

/** The registry key of a device: account names cannot contain a space. */
export function deviceKey(address: DeviceAddress): string {
  return `${address.account} ${address.deviceId}`;
}
