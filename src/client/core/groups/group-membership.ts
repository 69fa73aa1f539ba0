/**
 * The client side of group membership: creates groups and signs changes
 * (add / remove / leave) with this device's identity key, and fetches,
 * verifies and persists the chain the server serves (membership-chain.ts).
 *
 * Only verified links change what this device believes; a refused link is
 * reported as `group-change-refused` and the last verified state stays in
 * force. When a verified change removes a member (remove or leave), this
 * device drops its own sender key for the group at once, so its next group
 * message starts a new chain the departed member never gets.
 */
import { protocolAddress } from '../../../protocol/address.js';
import type { ProtocolContext } from '../../../protocol/context.js';
import type { PublicKey } from '../../../protocol/curve.js';
import type { AccountDevices, DeviceDirectory } from '../devices/device-directory.js';
import { sameBytes } from '../bytes.js';
import { ownAccountKey } from '../devices/account-key.js';
import type { ClientEvent } from '../events.js';
import type { DeviceStore } from '../store/device-store.js';
import { ClientError } from '../errors.js';
import { GroupError } from './errors.js';
import { GroupRequestError, type GroupApi } from './group-api.js';
import {
  linkMessage,
  parseSignedChange,
  signGroupChange,
  type GroupAction,
  type GroupLink,
  type GroupMemberInfo,
} from './group-change.js';
import { groupIdFromBytes, groupIdToBytes, type GroupId } from './group-id.js';
import {
  stateFromHead,
  verifyChain,
  verifyLink,
  type AuthorTrust,
  type GroupState,
} from './membership-chain.js';

/**
 * Changes after the newest snapshot link (create, add, checkpoint) past
 * which an admin's client writes a checkpoint: what a reader with no state
 * verifies stays under this many links (plus the changes in flight).
 */
export const CHECKPOINT_INTERVAL = 32;

/** A verified group, plus what the server claims beyond it. */
export interface GroupView extends GroupState {
  /** Members the server's newest link lists but verification refused. */
  readonly unverifiedMembers: readonly string[];
}

/** This device. */
export interface GroupSelf {
  readonly account: string;
  readonly deviceId: number;
  readonly signedDeviceIdentity?: Uint8Array | undefined;
  /** Whether new sessions use served KEM prekeys (the client's `postQuantum`). */
  readonly postQuantum?: boolean | undefined;
}

/** Fetches, verifies and changes group membership. */
export class GroupMembership {
  /** Groups verified against the server during this run. */
  readonly #fresh = new Map<GroupId, GroupView>();
  readonly #trust: AuthorTrust;

  constructor(
    private readonly ctx: ProtocolContext,
    private readonly store: DeviceStore,
    private readonly api: GroupApi,
    directory: DeviceDirectory,
    private readonly emit: (event: ClientEvent) => void,
    private readonly self: GroupSelf,
  ) {
    this.#trust = {
      accountKey: async (account: string): Promise<PublicKey> => {
        if (account === self.account) {
          const own = await ownAccountKey(store);
          if (own !== undefined) return own;
        }
        return (await directory.devices(account)).accountKey;
      },
      isCurrentDevice: async (account, deviceId, identityKey): Promise<boolean> => {
        const matches = (view: AccountDevices): boolean => {
          const device = view.accepted.get(deviceId);
          return device !== undefined && sameBytes(device.identityKey, identityKey.serialize());
        };
        if (matches(await directory.devices(account))) return true;
        // The run's view may predate a freshly linked companion: refetch and
        // run ADV on the account's current signed list before refusing.
        return matches(await directory.refresh(account));
      },
    };
  }

  /** The group as verified in this run, fetching and verifying it first if needed. */
  async current(groupId: GroupId): Promise<GroupView> {
    return this.#fresh.get(groupId) ?? this.refresh(groupId);
  }

  /** Forgets the run's verified view, so the next use fetches the chain again. */
  invalidate(groupId: GroupId): void {
    this.#fresh.delete(groupId);
  }

  /** The last verified state stored on this device (no network). */
  async stored(groupId: GroupId): Promise<GroupState | undefined> {
    const head = await this.store.groups.getHead(groupId);
    return head === undefined ? undefined : stateFromHead(this.ctx, head);
  }

  /**
   * Fetches the chain, verifies every link after the stored head (from
   * creation for a new group), persists the new head and reports each
   * verified change and any refusal.
   */
  async refresh(groupId: GroupId): Promise<GroupView> {
    const known = await this.stored(groupId);
    // Only what this device has not verified yet is fetched: the changes
    // after its head, or (no state) a snapshot and the changes after it.
    const served = await this.api.getGroup(groupIdToBytes(groupId), known?.version);
    const links: GroupLink[] = [];
    let parseError: GroupError | undefined;
    for (const [index, signed] of served.changes.entries()) {
      try {
        links.push(parseSignedChange(signed));
      } catch (error) {
        if (!GroupError.is(error)) throw error;
        parseError = new GroupError(error.code, 'a served link does not parse', {
          cause: error,
          version: served.firstVersion + index,
        });
        break;
      }
    }
    const verdict = await verifyChain(
      this.ctx,
      groupId,
      { links, firstVersion: served.firstVersion, headVersion: served.headVersion },
      this.#trust,
      known,
      this.self.account,
    );
    const refused =
      verdict.refused ??
      (parseError !== undefined && verdict.state !== undefined ? parseError : undefined);
    const state = verdict.state;
    if (state === undefined) {
      const code = verdict.refused?.code ?? parseError?.code ?? 'invalid-change';
      this.emit({ type: 'group-change-refused', groupId, version: 0, code });
      throw new GroupError('unknown-group', 'the group has no verifiable creation or snapshot');
    }
    if (verdict.accepted.length > 0) await this.#apply(groupId, state, verdict.accepted);
    if (refused !== undefined) {
      this.emit({
        type: 'group-change-refused',
        groupId,
        version: refused.version ?? state.version + 1,
        code: refused.code,
      });
    }
    const unverifiedMembers = [...verdict.servedMembers.keys()].filter(
      (a) => !state.members.has(a),
    );
    const view: GroupView = { ...state, unverifiedMembers };
    this.#fresh.set(groupId, view);
    const due =
      refused === undefined &&
      served.headVersion === state.version &&
      state.version - served.snapshotVersion >= CHECKPOINT_INTERVAL;
    return due ? this.#checkpoint(groupId, view) : view;
  }

  /**
   * Writes a checkpoint on top of `view` when this account is an admin:
   * the membership restated unchanged and signed, so that readers with no
   * state start here rather than at an older snapshot followed by every
   * removal since. The server's `snapshot_version` only decides when; a
   * wrong one costs a redundant checkpoint or a longer read, nothing more.
   * Losing a race to another change is fine: that change moved the head.
   */
  async #checkpoint(groupId: GroupId, view: GroupView): Promise<GroupView> {
    if (view.members.get(this.self.account) !== true) return view;
    const link = await this.#sign({
      groupId,
      version: view.version + 1,
      previousHash: view.headHash,
      action: 'checkpoint',
      target: '',
      members: [...view.members].map(([account, admin]) => ({ account, admin })),
      name: view.name,
      timestamp: this.ctx.clock.now(),
    });
    const state = await verifyLink(this.ctx, groupId, view, link, this.#trust);
    try {
      await this.api.updateGroup(linkMessage(link));
    } catch (error) {
      if (error instanceof GroupRequestError && error.serverCode === 'group-version-conflict') {
        this.invalidate(groupId);
        return view;
      }
      throw error;
    }
    await this.#apply(groupId, state, [link]);
    const next: GroupView = { ...state, unverifiedMembers: view.unverifiedMembers };
    this.#fresh.set(groupId, next);
    return next;
  }

  async #apply(groupId: GroupId, state: GroupState, accepted: readonly GroupLink[]): Promise<void> {
    const departed = accepted.some(
      (l) => l.change.action === 'remove' || l.change.action === 'leave',
    );
    await this.store.transaction(async (tx) => {
      await tx.groups.putHead(groupId, state.head);
      if (departed) {
        // Rotation: forget the own chain and who holds it; the next send
        // creates a new chain and hands it only to current members.
        await tx.senderKeys.deleteSenderKey(
          protocolAddress(this.self.account, this.self.deviceId),
          groupId,
        );
        await tx.groups.clearKeyHolders(groupId);
      }
    });
    for (const link of accepted) {
      const c = link.change;
      // A checkpoint changes nobody's membership: nothing to tell the user.
      if (c.action === 'checkpoint') continue;
      this.emit({
        type: 'group-changed',
        groupId,
        version: c.version,
        action: c.action,
        target: c.target,
        author: c.author,
        members: c.members.map((m) => m.account),
      });
    }
  }

  /** Every group id the server lists for this account, refreshed and verified. */
  async syncAll(): Promise<GroupView[]> {
    const ids = await this.api.listGroups();
    const views: GroupView[] = [];
    for (const bytes of ids) views.push(await this.refresh(groupIdFromBytes(bytes)));
    return views;
  }

  /** Creates a group with this account as its admin; returns the new group's state. */
  async create(name: string, accounts: readonly string[]): Promise<GroupView> {
    const groupId = groupIdFromBytes(this.ctx.random(16));
    const others = [...new Set(accounts)].filter((a) => a !== this.self.account);
    const members: GroupMemberInfo[] = [
      { account: this.self.account, admin: true },
      ...others.map((account) => ({ account, admin: false })),
    ];
    const link = await this.#sign({
      groupId,
      version: 0,
      previousHash: new Uint8Array(0),
      action: 'create',
      target: '',
      members,
      name,
      timestamp: this.ctx.clock.now(),
    });
    // Checked like any served link, so this device never publishes a change
    // its peers would refuse.
    const state = await verifyLink(this.ctx, groupId, undefined, link, this.#trust);
    await this.api.createGroup(linkMessage(link));
    await this.#apply(groupId, state, [link]);
    const view = { ...state, unverifiedMembers: [] };
    this.#fresh.set(groupId, view);
    return view;
  }

  /** Adds `account` (admins only). */
  async add(groupId: GroupId, account: string): Promise<GroupView> {
    return this.#change(groupId, 'add', account);
  }

  /** Removes `account` (admins only). */
  async remove(groupId: GroupId, account: string): Promise<GroupView> {
    return this.#change(groupId, 'remove', account);
  }

  /** This account leaves the group. */
  async leave(groupId: GroupId): Promise<GroupView> {
    return this.#change(groupId, 'leave', this.self.account);
  }

  async #change(groupId: GroupId, action: GroupAction, target: string): Promise<GroupView> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.refresh(groupId);
      if (!current.members.has(this.self.account)) {
        throw new GroupError('not-a-member', 'this account is not a member of the group');
      }
      const members = new Map(current.members);
      if (action === 'add') members.set(target, false);
      else members.delete(target);
      const link = await this.#sign({
        groupId,
        version: current.version + 1,
        previousHash: current.headHash,
        action,
        target,
        members: [...members].map(([account, admin]) => ({ account, admin })),
        name: current.name,
        timestamp: this.ctx.clock.now(),
      });
      let state: GroupState;
      try {
        state = await verifyLink(this.ctx, groupId, current, link, this.#trust);
      } catch (error) {
        // Not allowed (not an admin, not a member, …): say so as an argument error.
        if (GroupError.is(error)) {
          throw new GroupError(
            error.code === 'not-authorized' ? 'not-authorized' : 'invalid-argument',
            error.message,
            { cause: error },
          );
        }
        throw error;
      }
      try {
        await this.api.updateGroup(linkMessage(link));
      } catch (error) {
        // Someone else's change won the race: refetch and build on it.
        if (
          attempt < 3 &&
          error instanceof GroupRequestError &&
          error.serverCode === 'group-version-conflict'
        )
          continue;
        throw error;
      }
      await this.#apply(groupId, state, [link]);
      const view = { ...state, unverifiedMembers: current.unverifiedMembers };
      this.#fresh.set(groupId, view);
      return view;
    }
  }

  async #sign(fields: Parameters<typeof signGroupChange>[2]): Promise<GroupLink> {
    const pair = await this.store.protocol.identity.getIdentityKeyPair();
    const signedIdentity = this.self.signedDeviceIdentity;
    if (this.self.deviceId !== 1 && (signedIdentity === undefined || signedIdentity.length === 0)) {
      throw new ClientError('invalid-record', 'this companion has no signed device identity');
    }
    return signGroupChange(
      this.ctx,
      {
        account: this.self.account,
        deviceId: this.self.deviceId,
        identityKey: pair.publicKey,
        privateKey: pair.privateKey,
        signedDeviceIdentity: this.self.deviceId === 1 ? undefined : signedIdentity,
      },
      fields,
    );
  }
}
