/**
 * PostgreSQL implementation of `GroupStore` (tables: groups-schema.ts).
 *
 * Each write is one transaction. The append is a compare-and-swap on the
 * head row (`UPDATE … WHERE version = expected`): under READ COMMITTED a
 * second writer of the same version blocks on the row lock, re-checks the
 * condition against the committed head and updates nothing — so of two
 * nodes appending the same version, exactly one wins and the other gets
 * `group-version-conflict`.
 */
import type pg from 'pg';
import {
  sortMembers,
  type GroupAppend,
  type GroupMemberRecord,
  type GroupRecord,
  type GroupStore,
} from '../group-store.js';
import { StoreError } from '../types.js';
import { mapPgError as toStoreError } from './errors.js';
import { bool, blob, int, optionalText, text, type Row } from './rows.js';

/** Groups, change chains and memberships in PostgreSQL. */
export class PostgresGroupStore implements GroupStore {
  private closed = false;
  /**
   * Writes of this store run one after another, in call order: of two
   * appends of one version from this node, the first called wins, as with
   * the other backends (across nodes, the database decides).
   */
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly pool: pg.Pool) {}

  /** Refuses further calls with `StoreError('closed')` (the pool is the owner's to end). */
  close(): void {
    this.closed = true;
  }

  createGroup(groupId: Uint8Array, first: Omit<GroupAppend, 'version' | 'removed'>): Promise<void> {
    return this.write(async (client) => {
      // ON CONFLICT instead of catching the unique violation: the
      // transaction stays usable and two racing creations get one winner.
      const inserted = await client.query(
        `INSERT INTO groups (group_id, version, head_hash, removed) VALUES ($1, 0, $2, NULL)
         ON CONFLICT (group_id) DO NOTHING`,
        [groupId, first.headHash],
      );
      if (inserted.rowCount !== 1) throw new StoreError('group-exists', 'group id already taken');
      await client.query(
        'INSERT INTO group_changes (group_id, version, signed_change) VALUES ($1, 0, $2)',
        [groupId, first.signedChange],
      );
      await insertMembers(client, groupId, first.members);
    });
  }

  appendChange(groupId: Uint8Array, change: GroupAppend): Promise<void> {
    return this.write(async (client) => {
      const updated = await client.query(
        `UPDATE groups SET version = $1, head_hash = $2, removed = $3
         WHERE group_id = $4 AND version = $5`,
        [change.version, change.headHash, change.removed ?? null, groupId, change.version - 1],
      );
      if (updated.rowCount !== 1) {
        const exists = await client.query('SELECT 1 FROM groups WHERE group_id = $1', [groupId]);
        if (exists.rowCount === 0) throw new StoreError('unknown-group', 'no such group');
        throw new StoreError('group-version-conflict', 'group head moved');
      }
      await client.query(
        'INSERT INTO group_changes (group_id, version, signed_change) VALUES ($1, $2, $3)',
        [groupId, change.version, change.signedChange],
      );
      await client.query('DELETE FROM group_members WHERE group_id = $1', [groupId]);
      await insertMembers(client, groupId, change.members);
    });
  }

  async getGroup(groupId: Uint8Array): Promise<GroupRecord | undefined> {
    // One statement, one snapshot: the head and the members agree.
    const rows = await this.read(
      `SELECT g.group_id, g.version, g.head_hash, g.removed, m.account, m.admin
       FROM groups g LEFT JOIN group_members m ON m.group_id = g.group_id
       WHERE g.group_id = $1`,
      [groupId],
    );
    const first = rows[0];
    if (first === undefined) return undefined;
    const members: GroupMemberRecord[] = [];
    for (const row of rows) {
      if (row['account'] === null) continue;
      members.push({ account: text(row, 'account'), admin: bool(row, 'admin') });
    }
    return {
      groupId: blob(first, 'group_id'),
      version: int(first, 'version'),
      headHash: blob(first, 'head_hash'),
      // Sorted here, by code unit like every backend, not by the database's collation.
      members: sortMembers(members),
      removed: optionalText(first, 'removed'),
    };
  }

  async getChanges(groupId: Uint8Array, fromVersion = 0): Promise<readonly Uint8Array[]> {
    const rows = await this.read(
      `SELECT signed_change FROM group_changes WHERE group_id = $1 AND version >= $2
       ORDER BY version`,
      [groupId, fromVersion],
    );
    return rows.map((row) => blob(row, 'signed_change'));
  }

  async listGroups(account: string): Promise<readonly Uint8Array[]> {
    // bytea compares byte by byte: ascending byte order, as documented.
    const rows = await this.read(
      'SELECT group_id FROM group_members WHERE account = $1 ORDER BY group_id',
      [account],
    );
    return rows.map((row) => blob(row, 'group_id'));
  }

  setMembersUnsigned(groupId: Uint8Array, members: readonly GroupMemberRecord[]): Promise<void> {
    return this.write(async (client) => {
      // Locks the head so a concurrent append does not interleave its members.
      const head = await client.query('SELECT 1 FROM groups WHERE group_id = $1 FOR UPDATE', [
        groupId,
      ]);
      if (head.rowCount === 0) throw new StoreError('unknown-group', 'no such group');
      await client.query('DELETE FROM group_members WHERE group_id = $1', [groupId]);
      await insertMembers(client, groupId, members);
    });
  }

  private async read(text: string, values: readonly unknown[]): Promise<Row[]> {
    if (this.closed) throw new StoreError('closed', 'store is closed');
    try {
      return (await this.pool.query<Row>(text, [...values])).rows;
    } catch (error) {
      throw toStoreError(error);
    }
  }

  private write(body: (client: pg.PoolClient) => Promise<void>): Promise<void> {
    if (this.closed) return Promise.reject(new StoreError('closed', 'store is closed'));
    const run = this.tail.then(() => this.transaction(body));
    // The next write waits for this one to settle, not to succeed.
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async transaction(body: (client: pg.PoolClient) => Promise<void>): Promise<void> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw toStoreError(error);
    }
    let broken: Error | undefined;
    // A lost connection also arrives as an 'error' event on the checked-out
    // client; unheard, it would crash the process.
    const lost = (error: Error): void => {
      broken = error;
    };
    client.on('error', lost);
    try {
      await client.query('BEGIN');
      await body(client);
      await client.query('COMMIT');
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        // The connection is gone: it must not go back to the pool. The
        // body's error is the one the caller needs.
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      }
      throw toStoreError(error);
    } finally {
      client.off('error', lost);
      client.release(broken);
    }
  }
}

async function insertMembers(
  client: pg.PoolClient,
  groupId: Uint8Array,
  members: readonly GroupMemberRecord[],
): Promise<void> {
  const sorted = sortMembers(members);
  if (sorted.length === 0) return;
  await client.query(
    `INSERT INTO group_members (group_id, account, admin)
     SELECT $1, account, admin FROM unnest($2::text[], $3::boolean[]) AS m(account, admin)`,
    [groupId, sorted.map((m) => m.account), sorted.map((m) => m.admin)],
  );
}
