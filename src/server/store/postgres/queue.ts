/**
 * PLACEHOLDER (owned by the queue part, branch h/pgqueue): the PostgreSQL
 * message queue. Every method rejects until the owner's version replaces
 * this file at merge. The constructor is the agreed one.
 */
import type pg from 'pg';
import type { RandomSource } from '../../../crypto/provider.js';
import {
  StoreError,
  type MessageQueueStore,
  type QueuedEnvelope,
  type QueuePage,
} from '../types.js';

/** Options of `PostgresQueueStore`. */
export interface PostgresQueueOptions {
  /** Fills the random half of envelope guids. */
  readonly random: RandomSource;
  /** Runs a batched write at the end of the event-loop turn. */
  readonly scheduleCommit: (flush: () => void) => void;
  /** Hears background failures. */
  readonly onError: (error: unknown) => void;
}

function notImplemented(): Promise<never> {
  return Promise.reject(new StoreError('closed', 'not implemented'));
}

/** Placeholder: see the module comment. */
export class PostgresQueueStore implements MessageQueueStore {
  constructor(
    readonly pool: pg.Pool,
    readonly options: PostgresQueueOptions,
  ) {}
  enqueue(): Promise<readonly QueuedEnvelope[]> {
    return notImplemented();
  }
  page(): Promise<QueuePage> {
    return notImplemented();
  }
  ack(): Promise<number> {
    return notImplemented();
  }
  expire(): Promise<number> {
    return notImplemented();
  }
  count(): Promise<number> {
    return notImplemented();
  }
  queuedBytes(): Promise<number> {
    return notImplemented();
  }
  totalCount(): Promise<number> {
    return notImplemented();
  }
  deleteDevice(): Promise<number> {
    return notImplemented();
  }
  /** Flushes batched writes before the pool closes. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
