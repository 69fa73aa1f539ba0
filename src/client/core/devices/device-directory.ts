/**
 * The device directory: which devices of an account this device may encrypt
 * to, decided by Automatic Device Verification, never by the server alone.
 *
 * A refresh (on first use per run, after a device-list change push, after
 * the server refused a send's device set) fetches the devices and the signed
 * key-index list (validation step 1) and runs `validateDeviceList` (steps
 * 2–5) with:
 * - the trusted account key: for this device's own account the key that
 *   vouched for it; for a contact the pinned key, or on first contact the
 *   served primary key (trust on first use — the safety number is what
 *   verifies it);
 * - the newest list timestamp already accepted (rollback floor, persisted);
 * - the clock (35-day expiry).
 * Accepted devices and their identity keys are persisted as the verified
 * view (store/verified-devices.ts), which identity trust reads: a device a
 * malicious server adds fails ADV, is listed as refused and gets nothing.
 *
 * A changed account key of a contact (the owner reinstalled the primary, or
 * the server substitutes keys — the two look the same) is never trusted by
 * itself: the new key is recorded as pending (store/account-trust.ts), an
 * `account-key-changed` event says so once, and until the user accepts it
 * (`acceptAccountKey`, the `quintet trust` command) the view has no accepted
 * device and names the key in `pendingAccountKey`, so the session manager
 * refuses to send and group sends refuse every device of the account. The
 * old view and sessions stay as they were: identity trust keeps pinning the
 * old key, so not even a session can be built with the new one. A contact
 * the user marked verified can only be accepted as verified again.
 */
import { protocolAddress } from '../../../protocol/address.js';
import type { ProtocolContext } from '../../../protocol/context.js';
import { PublicKey } from '../../../protocol/curve.js';
import {
  AdvError,
  PRIMARY_DEVICE_ID,
  validateDeviceList,
  type DeviceListValidation,
} from '../../../protocol/adv/index.js';
import { sameBytes } from '../bytes.js';
import { ClientError } from '../errors.js';
import type { ClientEvent } from '../events.js';
import { KeyedQueue } from '../keyed-queue.js';
import type { ServerApi } from '../server-api.js';
import type { DeviceStore, DeviceStoreView } from '../store/device-store.js';
import type { AccountTrust } from '../store/account-trust.js';
import type { VerifiedAccount, VerifiedDevice } from '../store/verified-devices.js';
import {
  acceptedListOf,
  parseServedDevices,
  verifiedDeviceOf,
  type ParsedDevices,
  type RefusedDevice,
} from './served-devices.js';

/** The devices of one account as this device uses them. */
export interface AccountDevices {
  readonly account: string;
  /** The trusted account key. */
  readonly accountKey: PublicKey;
  /** Verified devices to encrypt to, by device id. */
  readonly accepted: ReadonlyMap<number, VerifiedDevice>;
  /** Served devices that get nothing (listed in `refused_devices` on a send). */
  readonly refused: readonly RefusedDevice[];
  /**
   * A new account key the server serves and the user has not accepted: while
   * set, `accepted` is empty and every served device is refused.
   */
  readonly pendingAccountKey?: PublicKey | undefined;
}

/** This device, and how to learn the account key that vouched for it. */
export interface DirectoryIdentity {
  readonly account: string;
  readonly deviceId: number;
  /** The own account key (the primary's identity); undefined if unknown. */
  ownAccountKey(): Promise<PublicKey | undefined>;
}

/** Reason used when a list fails step 2 and the last accepted view is kept. */
const NO_LIST = 'missing-device-list';

/** Fetches, validates, caches and persists device views. */
export class DeviceDirectory {
  /** Views validated during this run. */
  readonly #fresh = new Map<string, AccountDevices>();
  /** One refresh per account at a time. */
  readonly #queue = new KeyedQueue();

  constructor(
    private readonly ctx: ProtocolContext,
    private readonly store: DeviceStore,
    private readonly api: ServerApi,
    private readonly emit: (event: ClientEvent) => void,
    private readonly self: DirectoryIdentity,
  ) {}

  /** The view of `account` validated in this run, refreshing it if there is none. */
  async devices(account: string): Promise<AccountDevices> {
    return this.#fresh.get(account) ?? this.refresh(account);
  }

  /** Drops the cached view, so the next use refetches and revalidates. */
  invalidate(account: string): void {
    this.#fresh.delete(account);
  }

  /** Whether `account` has a persisted view (a contact this device talked to). */
  async knows(account: string): Promise<boolean> {
    return (await this.store.verifiedDevices.getAccount(account)) !== undefined;
  }

  /** Fetches and validates the devices of `account` now. */
  async refresh(account: string): Promise<AccountDevices> {
    return this.#queue.run(account, async () => {
      const result = await this.#refresh(account);
      this.#fresh.set(account, result);
      return result;
    });
  }

  async #refresh(account: string): Promise<AccountDevices> {
    const response = await this.api.getDeviceList(account);
    const parsed = parseServedDevices(response.devices);
    const stored = await this.store.verifiedDevices.getAccount(account);
    const trusted = await this.#trustedKey(account, stored, parsed);
    try {
      const result = await this.#accept(
        account,
        trusted,
        stored,
        parsed,
        response.signedKeyIndexList,
      );
      if (account !== this.self.account) await this.#clearPending(account);
      return result;
    } catch (error) {
      if (!AdvError.is(error, 'account-key-changed') || account === this.self.account) {
        if (AdvError.is(error)) return this.#keepLastView(account, trusted, parsed, error.code);
        throw error;
      }
    }
    // The served primary key differs from the pinned one: hold it until the
    // user accepts it (see the module comment).
    const primary = parsed.served.find((device) => device.deviceId === PRIMARY_DEVICE_ID);
    if (primary === undefined) {
      throw new ClientError('unexpected-response', 'the account has no primary device');
    }
    return this.#holdNewKey(account, trusted, primary.identityKey, parsed);
  }

  /**
   * Records `served` as the pending account key of `account` (telling the
   * user once per new key) and returns a view that sends to nothing.
   */
  async #holdNewKey(
    account: string,
    trusted: PublicKey,
    served: PublicKey,
    parsed: ParsedDevices,
  ): Promise<AccountDevices> {
    const trust = await this.store.accountTrust.get(account);
    const servedBytes = served.serialize();
    if (trust?.pendingKey === undefined || !sameBytes(trust.pendingKey, servedBytes)) {
      await this.store.accountTrust.put(account, {
        verifiedKey: trust?.verifiedKey,
        pendingKey: servedBytes.slice(),
        pendingSince: this.ctx.clock.now(),
      });
      this.emit({
        type: 'account-key-changed',
        account,
        verified: isVerified(trust, trusted),
      });
    }
    const refused: RefusedDevice[] = [
      ...parsed.unparsable,
      ...parsed.served.map((device) => ({
        deviceId: device.deviceId,
        reason: 'untrusted-identity',
      })),
    ];
    // No device-refused events: the account-key-changed event covers them.
    return {
      account,
      accountKey: trusted,
      accepted: new Map(),
      refused,
      pendingAccountKey: served,
    };
  }

  /** The served key is the pinned one again: a pending change is void. */
  async #clearPending(account: string): Promise<void> {
    const trust = await this.store.accountTrust.get(account);
    if (trust?.pendingKey === undefined) return;
    await this.store.accountTrust.put(account, {
      ...trust,
      pendingKey: undefined,
      pendingSince: 0,
    });
  }

  /**
   * The user's decision: trust `expected` as the account key of `account`
   * (the key whose safety number the user was shown), marking it verified
   * when `verified`. A changed key replaces the old one: the old view and
   * every session with the old key's devices are dropped. Refused with
   * `untrusted-identity` when the server now serves another key, and with
   * `verification-required` when the old key was verified and `verified`
   * is false (a verified contact stays blocked until verified again).
   */
  async acceptAccountKey(
    account: string,
    expected: PublicKey,
    verified: boolean,
  ): Promise<AccountDevices> {
    if (account === this.self.account) {
      throw new ClientError('invalid-argument', 'the own account key is not a trust decision');
    }
    return this.#queue.run(account, async () => {
      const response = await this.api.getDeviceList(account);
      const parsed = parseServedDevices(response.devices);
      const primary = parsed.served.find((device) => device.deviceId === PRIMARY_DEVICE_ID);
      if (primary === undefined || !primary.identityKey.equals(expected)) {
        throw new ClientError(
          'untrusted-identity',
          `the account key of ${account} changed again; compare the new safety number`,
          { account },
        );
      }
      const stored = await this.store.verifiedDevices.getAccount(account);
      const trust = await this.store.accountTrust.get(account);
      const expectedBytes = expected.serialize().slice();
      const changed = stored !== undefined && !sameBytes(stored.accountKey, expectedBytes);
      if (changed && !verified && isVerified(trust, PublicKey.deserialize(stored.accountKey))) {
        throw new ClientError(
          'verification-required',
          `${account} was verified: compare the new safety number, then accept it as verified`,
          { account },
        );
      }
      const decision = {
        verifiedKey: verified ? expectedBytes : changed ? undefined : trust?.verifiedKey,
        pendingKey: undefined,
        pendingSince: 0,
      };
      // One transaction: the old key's view and sessions go together with
      // the decision, so a crash cannot leave the new key half-trusted.
      await this.store.transaction(async (tx) => {
        if (changed) {
          await tx.verifiedDevices.delete(account);
          await tx.protocol.sessions.deleteAllSessions(account);
        }
        await tx.accountTrust.put(account, decision);
      });
      let result: AccountDevices;
      try {
        result = await this.#accept(
          account,
          expected,
          changed ? undefined : stored,
          parsed,
          response.signedKeyIndexList,
        );
      } catch (error) {
        if (!AdvError.is(error)) throw error;
        result = await this.#keepLastView(account, expected, parsed, error.code);
      }
      this.#fresh.set(account, result);
      return result;
    });
  }

  /** The trust decisions about `account` (undefined: none recorded). */
  async trustOf(account: string): Promise<AccountTrust | undefined> {
    return this.store.accountTrust.get(account);
  }

  /**
   * The account key to validate against: the own account's vouching key;
   * else the pinned key; else (first contact) the served primary key.
   */
  async #trustedKey(
    account: string,
    stored: VerifiedAccount | undefined,
    parsed: ParsedDevices,
  ): Promise<PublicKey> {
    if (account === this.self.account) {
      const own = await this.self.ownAccountKey();
      if (own !== undefined) return own;
    }
    if (stored !== undefined) return PublicKey.deserialize(stored.accountKey);
    const primary = parsed.served.find((device) => device.deviceId === PRIMARY_DEVICE_ID);
    if (primary === undefined) {
      throw new ClientError('unexpected-response', 'the account has no primary device');
    }
    return primary.identityKey;
  }

  /** Steps 2–5 and, on success, the new persisted view. */
  async #accept(
    account: string,
    trusted: PublicKey,
    stored: VerifiedAccount | undefined,
    parsed: ParsedDevices,
    signedList: Uint8Array,
  ): Promise<AccountDevices> {
    if (signedList.length === 0) {
      // Still checks the primary key (a changed key throws as usual).
      for (const device of parsed.served) {
        if (device.deviceId === PRIMARY_DEVICE_ID && !device.identityKey.equals(trusted)) {
          throw new AdvError('account-key-changed', 'the primary identity key has changed');
        }
      }
      // An account that once had a list and now has none: a server hiding
      // removals. Keep what the last list said.
      if (stored?.list !== undefined) throw new AdvError('invalid-message', NO_LIST);
      return this.#keepLastView(account, trusted, parsed, NO_LIST, false);
    }
    const validation = await validateDeviceList(this.ctx, {
      trustedAccountKey: trusted,
      signedList,
      devices: parsed.served,
      lastSeenListTimestamp: stored?.list?.timestamp,
    });
    return this.#commit(account, trusted, parsed, validation, signedList);
  }

  async #commit(
    account: string,
    trusted: PublicKey,
    parsed: ParsedDevices,
    validation: DeviceListValidation,
    signedList: Uint8Array,
  ): Promise<AccountDevices> {
    const acceptedIds = new Set(validation.accepted);
    const accepted = new Map<number, VerifiedDevice>();
    for (const device of parsed.served) {
      if (acceptedIds.has(device.deviceId)) {
        accepted.set(device.deviceId, verifiedDeviceOf(device, parsed.registrationIds));
      }
    }
    const refused: RefusedDevice[] = [...parsed.unparsable, ...validation.rejected];
    await this.#persist(account, trusted, accepted, {
      list: acceptedListOf(signedList),
    });
    return this.#result(account, trusted, accepted, refused);
  }

  /**
   * The list cannot be used (rollback, bad signature, none served): keep
   * only devices the last accepted view already verified with the same key,
   * plus the primary (its key was checked against the trusted one). The
   * stored rollback floor is left as it is.
   */
  async #keepLastView(
    account: string,
    trusted: PublicKey,
    parsed: ParsedDevices,
    reason: string,
    persistFloor = true,
  ): Promise<AccountDevices> {
    const previous = new Map<number, VerifiedDevice>();
    for (const device of await this.store.verifiedDevices.listDevices(account)) {
      previous.set(device.deviceId, device);
    }
    const accepted = new Map<number, VerifiedDevice>();
    const refused: RefusedDevice[] = [...parsed.unparsable];
    for (const device of parsed.served) {
      const known = previous.get(device.deviceId);
      const isPrimary = device.deviceId === PRIMARY_DEVICE_ID;
      if (isPrimary ? device.identityKey.equals(trusted) : known !== undefined) {
        if (known === undefined || sameBytes(known.identityKey, device.identityKey.serialize())) {
          accepted.set(device.deviceId, verifiedDeviceOf(device, parsed.registrationIds));
          continue;
        }
      }
      refused.push({
        deviceId: device.deviceId,
        reason: isPrimary ? 'account-key-changed' : reason,
      });
    }
    const stored = await this.store.verifiedDevices.getAccount(account);
    await this.#persist(account, trusted, accepted, {
      list: persistFloor ? stored?.list : undefined,
    });
    return this.#result(account, trusted, accepted, refused);
  }

  /**
   * Writes the view and, in the same transaction, deletes the sessions of
   * every device no longer accepted (removed, or failing ADV now), so
   * nothing is ever encrypted to it again.
   */
  async #persist(
    account: string,
    trusted: PublicKey,
    accepted: ReadonlyMap<number, VerifiedDevice>,
    header: Pick<VerifiedAccount, 'list'>,
  ): Promise<void> {
    const before = await this.store.verifiedDevices.listDevices(account);
    await this.store.transaction(async (tx) => {
      await tx.verifiedDevices.replace(account, {
        account: {
          accountKey: trusted.serialize().slice(),
          list: header.list,
          updatedAt: this.ctx.clock.now(),
        },
        devices: [...accepted.values()],
      });
      await this.#deleteSessionsExcept(tx, account, accepted);
    });
    const beforeIds = new Set(before.map((device) => device.deviceId));
    const added = [...accepted.keys()].filter((id) => !beforeIds.has(id));
    const removed = [...beforeIds].filter((id) => !accepted.has(id));
    if (before.length > 0 && (added.length > 0 || removed.length > 0)) {
      this.emit({ type: 'devices-changed', account, added, removed });
    }
  }

  async #deleteSessionsExcept(
    tx: DeviceStoreView,
    account: string,
    keep: ReadonlyMap<number, VerifiedDevice>,
  ): Promise<void> {
    for (const id of await tx.protocol.sessions.listDeviceIds(account)) {
      if (!keep.has(id)) await tx.protocol.sessions.deleteSession(protocolAddress(account, id));
    }
  }

  #result(
    account: string,
    accountKey: PublicKey,
    accepted: ReadonlyMap<number, VerifiedDevice>,
    refused: readonly RefusedDevice[],
  ): AccountDevices {
    for (const device of refused) {
      // Never warn about this device itself (e.g. its own list is stale).
      if (account === this.self.account && device.deviceId === this.self.deviceId) continue;
      this.emit({
        type: 'device-refused',
        account,
        deviceId: device.deviceId,
        reason: device.reason,
      });
    }
    return { account, accountKey, accepted, refused };
  }
}

/** Whether the user verified `key` (the pinned account key) for this contact. */
function isVerified(trust: AccountTrust | undefined, key: PublicKey): boolean {
  return trust?.verifiedKey !== undefined && sameBytes(trust.verifiedKey, key.serialize());
}
