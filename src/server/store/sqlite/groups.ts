/** SQLite implementation of `GroupStore`. Writes are group-committed. */
import Database, { type Statement } from 'better-sqlite3';
import type { GroupCommitter } from './group-commit.js';
import { asRow, bind, blob, int, text, type Row } from './rows.js';
import {
  sortMembers,
  type GroupAppend,
  type GroupMemberRecord,
  type GroupRecord,
  type GroupStore,
} from '../group-store.js';
import { StoreError } from '../types.js';

function toMember(row: Row): GroupMemberRecord {
  return { account: text(row, 'account'), admin: int(row, 'admin') !== 0 };
}

/** Groups in three tables (see migration 3). */
export class SqliteGroupStore implements GroupStore {
  private readonly insertGroup: Statement;
  private readonly updateHead: Statement;
  private readonly insertChange: Statement;
  private readonly insertMember: Statement;
  private readonly deleteMembers: Statement;
  private readonly selectGroup: Statement;
  private readonly selectMembers: Statement;
  private readonly selectChanges: Statement;
  private readonly selectOfAccount: Statement;

  constructor(
    db: Database.Database,
    private readonly committer: GroupCommitter,
    private readonly checkOpen: () => void,
  ) {
    this.insertGroup = db.prepare(
      'INSERT INTO groups (group_id, version, head_hash, removed) VALUES (?, 0, ?, NULL)',
    );
    // The version condition makes the append a compare-and-swap on the head.
    this.updateHead = db.prepare(
      'UPDATE groups SET version = ?, head_hash = ?, removed = ? WHERE group_id = ? AND version = ?',
    );
    this.insertChange = db.prepare(
      'INSERT INTO group_changes (group_id, version, signed_change) VALUES (?, ?, ?)',
    );
    this.insertMember = db.prepare(
      'INSERT INTO group_members (group_id, account, admin) VALUES (?, ?, ?)',
    );
    this.deleteMembers = db.prepare('DELETE FROM group_members WHERE group_id = ?');
    this.selectGroup = db.prepare(
      'SELECT group_id, version, head_hash, removed FROM groups WHERE group_id = ?',
    );
    this.selectMembers = db.prepare(
      'SELECT account, admin FROM group_members WHERE group_id = ? ORDER BY account',
    );
    this.selectChanges = db.prepare(
      'SELECT signed_change FROM group_changes WHERE group_id = ? AND version >= ? ORDER BY version',
    );
    this.selectOfAccount = db.prepare(
      'SELECT group_id FROM group_members WHERE account = ? ORDER BY group_id',
    );
  }

  createGroup(groupId: Uint8Array, first: Omit<GroupAppend, 'version' | 'removed'>): Promise<void> {
    return this.committer.submit(() => {
      try {
        this.insertGroup.run(bind(groupId), bind(first.headHash));
      } catch (error) {
        if (error instanceof Database.SqliteError && error.code.startsWith('SQLITE_CONSTRAINT')) {
          throw new StoreError('group-exists', 'group id already taken', { cause: error });
        }
        throw error;
      }
      this.insertChange.run(bind(groupId), 0, bind(first.signedChange));
      this.writeMembers(groupId, first.members);
    });
  }

  appendChange(groupId: Uint8Array, change: GroupAppend): Promise<void> {
    return this.committer.submit(() => {
      const id = bind(groupId);
      const updated = this.updateHead.run(
        change.version,
        bind(change.headHash),
        change.removed ?? null,
        id,
        change.version - 1,
      ).changes;
      if (updated === 0) {
        if (this.selectGroup.get(id) === undefined) {
          throw new StoreError('unknown-group', 'no such group');
        }
        throw new StoreError('group-version-conflict', 'group head moved');
      }
      this.insertChange.run(id, change.version, bind(change.signedChange));
      this.deleteMembers.run(id);
      this.writeMembers(groupId, change.members);
    });
  }

  async getGroup(groupId: Uint8Array): Promise<GroupRecord | undefined> {
    this.checkOpen();
    const id = bind(groupId);
    const raw: unknown = this.selectGroup.get(id);
    if (raw === undefined) return undefined;
    const row = asRow(raw);
    const removed = row['removed'];
    return {
      groupId: blob(row, 'group_id'),
      version: int(row, 'version'),
      headHash: blob(row, 'head_hash'),
      members: this.selectMembers.all(id).map((m) => toMember(asRow(m))),
      removed: removed === null || removed === undefined ? undefined : text(row, 'removed'),
    };
  }

  async getChanges(groupId: Uint8Array, fromVersion = 0): Promise<readonly Uint8Array[]> {
    this.checkOpen();
    return this.selectChanges
      .all(bind(groupId), fromVersion)
      .map((r) => blob(asRow(r), 'signed_change'));
  }

  async listGroups(account: string): Promise<readonly Uint8Array[]> {
    this.checkOpen();
    return this.selectOfAccount.all(account).map((r) => blob(asRow(r), 'group_id'));
  }

  setMembersUnsigned(groupId: Uint8Array, members: readonly GroupMemberRecord[]): Promise<void> {
    return this.committer.submit(() => {
      const id = bind(groupId);
      if (this.selectGroup.get(id) === undefined) {
        throw new StoreError('unknown-group', 'no such group');
      }
      this.deleteMembers.run(id);
      this.writeMembers(groupId, members);
    });
  }

  private writeMembers(groupId: Uint8Array, members: readonly GroupMemberRecord[]): void {
    const id = bind(groupId);
    for (const member of sortMembers(members)) {
      this.insertMember.run(id, member.account, member.admin ? 1 : 0);
    }
  }
}
