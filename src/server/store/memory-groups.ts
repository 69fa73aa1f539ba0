/**
 * The in-memory `GroupStore`: the reference implementation. Bytes are copied
 * in and out so callers cannot change stored state through a kept reference.
 */
import {
  groupIdHex,
  sortMembers,
  type GroupAppend,
  type GroupMemberRecord,
  type GroupRecord,
  type GroupStore,
} from './group-store.js';
import { StoreError } from './types.js';

interface GroupEntry {
  readonly groupId: Uint8Array;
  version: number;
  headHash: Uint8Array;
  members: GroupMemberRecord[];
  removed: string | undefined;
  readonly changes: Uint8Array[];
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** Groups in maps; `checkOpen` throws `StoreError('closed')` after the store closed. */
export class MemoryGroupStore implements GroupStore {
  private readonly groups = new Map<string, GroupEntry>();

  constructor(private readonly checkOpen: () => void) {}

  async createGroup(
    groupId: Uint8Array,
    first: Omit<GroupAppend, 'version' | 'removed'>,
  ): Promise<void> {
    this.checkOpen();
    const key = groupIdHex(groupId);
    if (this.groups.has(key)) throw new StoreError('group-exists', 'group id already taken');
    this.groups.set(key, {
      groupId: new Uint8Array(groupId),
      version: 0,
      headHash: new Uint8Array(first.headHash),
      members: sortMembers(first.members),
      removed: undefined,
      changes: [new Uint8Array(first.signedChange)],
    });
  }

  async appendChange(groupId: Uint8Array, change: GroupAppend): Promise<void> {
    this.checkOpen();
    const entry = this.entry(groupId);
    if (change.version !== entry.version + 1) {
      throw new StoreError('group-version-conflict', 'group head moved');
    }
    entry.version = change.version;
    entry.headHash = new Uint8Array(change.headHash);
    entry.members = sortMembers(change.members);
    entry.removed = change.removed;
    entry.changes.push(new Uint8Array(change.signedChange));
  }

  async getGroup(groupId: Uint8Array): Promise<GroupRecord | undefined> {
    this.checkOpen();
    const entry = this.groups.get(groupIdHex(groupId));
    if (entry === undefined) return undefined;
    return {
      groupId: new Uint8Array(entry.groupId),
      version: entry.version,
      headHash: new Uint8Array(entry.headHash),
      members: sortMembers(entry.members),
      removed: entry.removed,
    };
  }

  async getChanges(groupId: Uint8Array, fromVersion = 0): Promise<readonly Uint8Array[]> {
    this.checkOpen();
    const entry = this.groups.get(groupIdHex(groupId));
    return entry === undefined
      ? []
      : entry.changes.slice(fromVersion).map((c) => new Uint8Array(c));
  }

  async listGroups(account: string): Promise<readonly Uint8Array[]> {
    this.checkOpen();
    const ids: Uint8Array[] = [];
    // A scan: the memory backend serves tests and small throwaway servers.
    for (const entry of this.groups.values()) {
      if (entry.members.some((m) => m.account === account)) ids.push(new Uint8Array(entry.groupId));
    }
    return ids.sort(compareBytes);
  }

  async setMembersUnsigned(
    groupId: Uint8Array,
    members: readonly GroupMemberRecord[],
  ): Promise<void> {
    this.checkOpen();
    this.entry(groupId).members = sortMembers(members);
  }

  private entry(groupId: Uint8Array): GroupEntry {
    const entry = this.groups.get(groupIdHex(groupId));
    if (entry === undefined) throw new StoreError('unknown-group', 'no such group');
    return entry;
  }
}
