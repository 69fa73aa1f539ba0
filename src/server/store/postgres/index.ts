/**
 * PLACEHOLDER so the cluster wiring compiles: the PostgreSQL store is built
 * on branch h/pgcore, whose `index.ts` replaces this file at merge. Only the
 * contract's names and types are here; opening always fails.
 */
import type pg from 'pg';
import type { RandomSource } from '../../../crypto/provider.js';
import type { ServerStore } from '../types.js';

/** Options of `openPostgresStore` (the contract between the parts). */
export interface PostgresStoreOptions {
  readonly url: string;
  readonly schema?: string;
  readonly poolSize?: number;
  readonly random?: RandomSource;
  readonly scheduleCommit?: (flush: () => void) => void;
  readonly onError?: (error: unknown) => void;
}

/** The PostgreSQL-backed store. */
export interface PostgresServerStore extends ServerStore {
  readonly pool: pg.Pool;
  readonly schema: string;
  health(): Promise<{ ok: boolean; error?: string }>;
  withLock<T>(name: string, body: () => Promise<T>): Promise<T | undefined>;
}

/** Opens the store (placeholder: the real one is on h/pgcore). */
export function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresServerStore> {
  void options;
  return Promise.reject(new Error('the PostgreSQL store is not part of this build'));
}
