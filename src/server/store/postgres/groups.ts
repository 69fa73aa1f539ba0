/**
 * PLACEHOLDER (owned by the groups part, branch h/pgqueue): the PostgreSQL
 * group store. Every method rejects until the owner's version replaces this
 * file at merge. The constructor is the agreed one.
 */
import type pg from 'pg';
import type { GroupRecord, GroupStore } from '../group-store.js';
import { StoreError } from '../types.js';

function notImplemented(): Promise<never> {
  return Promise.reject(new StoreError('closed', 'not implemented'));
}

/** Placeholder: see the module comment. */
export class PostgresGroupStore implements GroupStore {
  constructor(readonly pool: pg.Pool) {}
  /** Refuses further calls (the pool is the owner's to end). */
  close(): void {
    return undefined;
  }
  createGroup(): Promise<void> {
    return notImplemented();
  }
  appendChange(): Promise<void> {
    return notImplemented();
  }
  getGroup(): Promise<GroupRecord | undefined> {
    return notImplemented();
  }
  getChanges(): Promise<readonly Uint8Array[]> {
    return notImplemented();
  }
  listGroups(): Promise<readonly Uint8Array[]> {
    return notImplemented();
  }
  setMembersUnsigned(): Promise<void> {
    return notImplemented();
  }
}
