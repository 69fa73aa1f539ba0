/**
 * The group store: each group's signed change chain and the membership it
 * leads to. The server keeps the chain only to hand it to members, who verify
 * every signature and hash themselves; the membership beside it is what the
 * server enforces (who may read the chain, who may send, which devices a
 * group message must reach).
 *
 * Stores do not parse or verify changes: the group handlers do that before
 * writing. The store's job is atomicity — a change is appended only if the
 * head is still the one the handler checked against, so two concurrent
 * updates cannot both win.
 */

/** One member as stored. */
export interface GroupMemberRecord {
  readonly account: string;
  readonly admin: boolean;
}

/** A group's current state (without the chain). */
export interface GroupRecord {
  /** 16 bytes chosen by the creator. */
  readonly groupId: Uint8Array;
  /** Version of the head change (0 after creation). */
  readonly version: number;
  /** SHA-256 of the head `SignedGroupChange` bytes. */
  readonly headHash: Uint8Array;
  /** Members after the head change, sorted by account. */
  readonly members: readonly GroupMemberRecord[];
  /**
   * The account the head change removed (remove or leave), if any: it may
   * still read the chain up to its removal, so it learns it is out.
   */
  readonly removed: string | undefined;
}

/** A change to append, already validated by the caller. */
export interface GroupAppend {
  /** Must be the stored head version + 1, else `StoreError('group-version-conflict')`. */
  readonly version: number;
  /** Serialized `SignedGroupChange`, stored and returned byte for byte. */
  readonly signedChange: Uint8Array;
  /** SHA-256 of `signedChange`: the new head hash. */
  readonly headHash: Uint8Array;
  /** The whole membership after the change. */
  readonly members: readonly GroupMemberRecord[];
  /** The removed or leaving account, when the change removes one. */
  readonly removed?: string;
}

/** Groups, their change chains and memberships. */
export interface GroupStore {
  /**
   * Stores a new group at version 0 with `signedChange` as its first link.
   * `StoreError('group-exists')` when the id is taken (atomically: two
   * racing creations of one id cannot both succeed).
   */
  createGroup(groupId: Uint8Array, first: Omit<GroupAppend, 'version' | 'removed'>): Promise<void>;
  /**
   * Appends a change, atomically only if `change.version` is the head
   * version + 1 (`group-version-conflict` otherwise); `unknown-group`.
   */
  appendChange(groupId: Uint8Array, change: GroupAppend): Promise<void>;
  /** The group's current state, or undefined. */
  getGroup(groupId: Uint8Array): Promise<GroupRecord | undefined>;
  /**
   * The signed changes from version `fromVersion` (default 0) on, oldest
   * first (empty for an unknown group): readers fetch only what they lack.
   */
  getChanges(groupId: Uint8Array, fromVersion?: number): Promise<readonly Uint8Array[]>;
  /** Ids of the groups `account` is a member of, in ascending byte order. */
  listGroups(account: string): Promise<readonly Uint8Array[]>;
  /**
   * Replaces the membership WITHOUT recording a change — what a compromised
   * server could do. Handlers never call it; it exists for repair tools and
   * for tests proving that clients catch it. `unknown-group`.
   */
  setMembersUnsigned(groupId: Uint8Array, members: readonly GroupMemberRecord[]): Promise<void>;
}

/** Members sorted by account (the order every backend returns). */
export function sortMembers(members: readonly GroupMemberRecord[]): GroupMemberRecord[] {
  return members
    .map((m) => ({ account: m.account, admin: m.admin }))
    .sort((a, b) => (a.account < b.account ? -1 : a.account > b.account ? 1 : 0));
}

/** Lowercase hex of a group id: a map key for in-memory indexes and logs. */
export function groupIdHex(groupId: Uint8Array): string {
  let out = '';
  for (const byte of groupId) out += byte.toString(16).padStart(2, '0');
  return out;
}
