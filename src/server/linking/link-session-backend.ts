/**
 * Which `LinkSessionStore` a server uses: the one in PostgreSQL when its
 * store is PostgreSQL (a cluster: the companion and the primary may be on
 * different nodes), else the one in memory (a single node).
 */
import pg from 'pg';
import { PostgresLinkSessionStore } from '../store/postgres/links.js';
import type { LinkSessionStore } from './link-sessions.js';
import { MemoryLinkSessionStore, type LinkSessionOptions } from './memory-link-sessions.js';

/** The link session store beside `backend` (a PostgreSQL store exposes its `pool`). */
export function linkSessionStoreFor(
  backend: object,
  options: LinkSessionOptions,
): LinkSessionStore {
  const pool: unknown = Reflect.get(backend, 'pool');
  if (pool instanceof pg.Pool) return new PostgresLinkSessionStore(pool, options);
  return new MemoryLinkSessionStore(options);
}
