/**
 * The multi-device part of the store conformance suite: signed device
 * lists, companion identities, reserved ids, removal tombstones,
 * re-registration, inactivity queries and subscribers. Every backend runs
 * it next to `runServerStoreConformance`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeNewDeviceKeyConformance } from './store-conformance-new-device.js';
import {
  StoreError,
  type NewDevice,
  type NewEnvelope,
  type ServerStore,
} from '../../src/server/store/types.js';

function bytes(length: number, fill: number): Uint8Array {
  return new Uint8Array(length).fill(fill);
}

function device(fill: number, extra: Partial<NewDevice> = {}): NewDevice {
  return {
    identityKey: bytes(33, fill),
    registrationId: 1000 + fill,
    name: `dev${fill}`,
    createdAt: 1_000,
    ...extra,
  };
}

function envelope(destination: string, destinationDevice: number): NewEnvelope {
  return {
    destination,
    destinationDevice,
    source: 'sender',
    sourceDevice: 1,
    type: 2,
    content: bytes(8, 1),
    timestamp: 1,
    serverTimestamp: 2,
  };
}

const list = (timestamp: number, fill = timestamp % 256) => ({
  signedList: bytes(40, fill),
  timestamp,
});

async function rejectsWith(promise: Promise<unknown>, code: StoreError['code']): Promise<void> {
  await assert.rejects(promise, (error: unknown) => StoreError.is(error, code));
}

/** Registers the multi-device suite for one backend (`makeStore` returns a fresh, empty store). */
export function runDeviceStoreConformance(
  label: string,
  makeStore: () => ServerStore | Promise<ServerStore>,
): void {
  async function withStore(body: (store: ServerStore) => Promise<void>): Promise<void> {
    const store = await makeStore();
    try {
      await body(store);
    } finally {
      await store.close();
    }
  }

  describe(`server store conformance (multi-device): ${label}`, () => {
    it('stores the first device list with the account and refuses rollbacks', () =>
      withStore(async ({ accounts }) => {
        await accounts.createAccount('alice', device(1), list(100));
        assert.deepEqual(await accounts.getDeviceList('alice'), list(100));
        await rejectsWith(accounts.setDeviceList('alice', list(100, 9)), 'device-list-rollback');
        await rejectsWith(accounts.setDeviceList('alice', list(99)), 'device-list-rollback');
        assert.deepEqual(await accounts.getDeviceList('alice'), list(100));
        await accounts.setDeviceList('alice', list(101));
        assert.deepEqual(await accounts.getDeviceList('alice'), list(101));
        assert.equal(await accounts.getDeviceList('nobody'), undefined);
        await rejectsWith(accounts.setDeviceList('nobody', list(1)), 'unknown-account');
        // An account created without a list accepts any first one.
        await accounts.createAccount('bare', device(2));
        assert.equal(await accounts.getDeviceList('bare'), undefined);
        await accounts.setDeviceList('bare', list(1));
        assert.equal((await accounts.getDeviceList('bare'))?.timestamp, 1);
      }));

    it('lets only one of two racing lists with one timestamp win', () =>
      withStore(async ({ accounts }) => {
        await accounts.createAccount('race', device(1), list(1));
        const results = await Promise.allSettled([
          accounts.setDeviceList('race', list(5, 1)),
          accounts.setDeviceList('race', list(5, 2)),
        ]);
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      }));

    it('reserves ids that are never listed and never reused', () =>
      withStore(async ({ accounts }) => {
        await accounts.createAccount('bob', device(1));
        const reserved = await accounts.reserveDeviceId('bob');
        assert.equal(reserved, 2);
        assert.deepEqual(
          (await accounts.listDevices('bob'))?.map((d) => d.deviceId),
          [1],
        );
        assert.equal(await accounts.getDevice('bob', 2), undefined);
        // An abandoned reservation burns its id.
        assert.equal(await accounts.reserveDeviceId('bob'), 3);
        const added = await accounts.addDevice('bob', device(4));
        assert.equal(added.deviceId, 4);
        await rejectsWith(accounts.reserveDeviceId('nobody'), 'unknown-account');
      }));

    it('creates a companion under its reserved id with its signed identity', () =>
      withStore(async ({ accounts }) => {
        await accounts.createAccount('carol', device(1));
        const id = await accounts.reserveDeviceId('carol');
        const companion = await accounts.addReservedDevice(
          'carol',
          id,
          device(2, { keyIndex: 3, signedDeviceIdentity: bytes(150, 7), createdAt: 5_000 }),
        );
        assert.equal(companion.deviceId, id);
        assert.equal(companion.keyIndex, 3);
        assert.deepEqual(companion.signedDeviceIdentity, bytes(150, 7));
        assert.equal(companion.lastSeenAt, 5_000);
        assert.deepEqual(await accounts.getDevice('carol', id), companion);
        const primary = await accounts.getDevice('carol', 1);
        assert.equal(primary?.keyIndex, 0);
        assert.deepEqual(primary?.signedDeviceIdentity, new Uint8Array(0));
      }));

    it('refuses an id that was not reserved, is taken, or was removed', () =>
      withStore(async ({ accounts }) => {
        await accounts.createAccount('dave', device(1));
        await rejectsWith(
          accounts.addReservedDevice('dave', 2, device(2)),
          'device-id-unavailable',
        );
        await rejectsWith(
          accounts.addReservedDevice('dave', 1, device(2)),
          'device-id-unavailable',
        );
        const id = await accounts.reserveDeviceId('dave');
        await accounts.addReservedDevice('dave', id, device(2));
        await rejectsWith(
          accounts.addReservedDevice('dave', id, device(3)),
          'device-id-unavailable',
        );
        await accounts.removeDevice('dave', id, { reason: 'removed', removedAt: 9 });
        await rejectsWith(
          accounts.addReservedDevice('dave', id, device(3)),
          'device-id-unavailable',
        );
        await rejectsWith(accounts.addReservedDevice('nobody', 2, device(3)), 'unknown-account');
        assert.deepEqual(
          (await accounts.listDevices('dave'))?.map((d) => d.deviceId),
          [1],
        );
      }));

    it('removes a device and keeps a tombstone with the reason', () =>
      withStore(async ({ accounts }) => {
        await accounts.createAccount('erin', device(1));
        const second = await accounts.addDevice('erin', device(2));
        assert.equal(await accounts.getRemoval('erin', second.deviceId), undefined);
        assert.equal(
          await accounts.removeDevice('erin', second.deviceId, { reason: 'logout', removedAt: 77 }),
          true,
        );
        assert.equal(await accounts.getDevice('erin', second.deviceId), undefined);
        assert.deepEqual(await accounts.getRemoval('erin', second.deviceId), {
          reason: 'logout',
          removedAt: 77,
        });
        // Removing again (or a device that never was) records nothing.
        assert.equal(
          await accounts.removeDevice('erin', second.deviceId, {
            reason: 'removed',
            removedAt: 88,
          }),
          false,
        );
        assert.equal((await accounts.getRemoval('erin', second.deviceId))?.reason, 'logout');
        assert.equal(
          await accounts.removeDevice('erin', 9, { reason: 'removed', removedAt: 1 }),
          false,
        );
        assert.equal(await accounts.getRemoval('erin', 9), undefined);
        // The next id is still fresh.
        assert.equal((await accounts.addDevice('erin', device(3))).deviceId, 3);
      }));

    it('deletes a removed device’s prekeys and queue only', () =>
      withStore(async ({ preKeys, queue }) => {
        const signed = { id: 1, publicKey: bytes(33, 1), signature: bytes(64, 1) };
        await preKeys.setSignedPreKey('fay', 2, signed);
        await preKeys.setSignedPreKey('fay', 1, signed);
        await preKeys.addOneTimePreKeys('fay', 2, [{ id: 1, publicKey: bytes(33, 2) }], 10);
        await queue.enqueue([envelope('fay', 2), envelope('fay', 2), envelope('fay', 1)]);
        await preKeys.deleteDevice('fay', 2);
        assert.equal(await queue.deleteDevice('fay', 2), 2);
        assert.equal(await preKeys.getSignedPreKey('fay', 2), undefined);
        assert.equal(await preKeys.countOneTimePreKeys('fay', 2), 0);
        assert.deepEqual(await preKeys.getSignedPreKey('fay', 1), signed);
        assert.equal(await queue.count('fay', 2), 0);
        assert.equal(await queue.count('fay', 1), 1);
        assert.equal(await queue.totalCount(), 1);
        assert.equal(await queue.deleteDevice('fay', 2), 0);
      }));

    it('keeps a PREKEY envelope’s source device identity', () =>
      withStore(async ({ queue }) => {
        const withIdentity = { ...envelope('gus', 1), sourceDeviceIdentity: bytes(120, 4) };
        const without = envelope('gus', 1);
        const queued = await queue.enqueue([withIdentity, without]);
        const page = await queue.page('gus', 1, 0, 10);
        assert.deepEqual(page.envelopes, queued);
        assert.deepEqual(page.envelopes[0]?.sourceDeviceIdentity, bytes(120, 4));
        assert.equal(page.envelopes[1]?.sourceDeviceIdentity, undefined);
      }));

    it('resets an account: new primary, companions tombstoned, list replaced', () =>
      withStore(async ({ accounts }) => {
        await accounts.createAccount('hal', device(1), list(500));
        await accounts.addDevice('hal', device(2));
        await accounts.addDevice('hal', device(3));
        const reset = await accounts.resetAccount('hal', device(9), list(10), {
          reason: 'account-reset',
          removedAt: 42,
        });
        assert.deepEqual(reset.removedDevices, [2, 3]);
        assert.equal(reset.primary.deviceId, 1);
        assert.deepEqual(reset.primary.identityKey, bytes(33, 9));
        assert.deepEqual(await accounts.getDevice('hal', 1), reset.primary);
        assert.deepEqual(
          (await accounts.listDevices('hal'))?.map((d) => d.deviceId),
          [1],
        );
        // A new account key starts a new epoch: an older timestamp is fine here.
        assert.deepEqual(await accounts.getDeviceList('hal'), list(10));
        assert.equal((await accounts.getRemoval('hal', 3))?.reason, 'account-reset');
        assert.equal((await accounts.addDevice('hal', device(4))).deviceId, 4);
        await rejectsWith(
          accounts.resetAccount('nobody', device(1), list(1), { reason: 'x', removedAt: 1 }),
          'unknown-account',
        );
      }));

    it('finds companions past their lifetime, primary rule first', () =>
      withStore(async ({ accounts }) => {
        // idle: primary away since 1_000; its companion 2 seen recently.
        await accounts.createAccount('idle', device(1));
        await accounts.addDevice('idle', device(2));
        await accounts.touchDevice('idle', 2, 90_000);
        // busy: primary seen recently; companion 2 away, companion 3 recent.
        await accounts.createAccount('busy', device(1));
        await accounts.touchDevice('busy', 1, 90_000);
        await accounts.addDevice('busy', device(2));
        await accounts.addDevice('busy', device(3));
        await accounts.touchDevice('busy', 3, 90_000);
        // solo: a primary alone is never a result.
        await accounts.createAccount('solo', device(1));
        const found = await accounts.findInactiveCompanions(50_000, 20_000, 100);
        assert.deepEqual(found, [
          { account: 'idle', deviceId: 2, reason: 'primary-inactive' },
          { account: 'busy', deviceId: 2, reason: 'inactive' },
        ]);
        assert.equal((await accounts.findInactiveCompanions(50_000, 20_000, 1)).length, 1);
        assert.deepEqual(await accounts.findInactiveCompanions(500, 500, 100), []);
      }));

    it('records subscribers once each, per watched account', () =>
      withStore(async ({ subscribers }) => {
        assert.deepEqual(await subscribers.listSubscribers('ivy'), []);
        await subscribers.addSubscriber('ivy', 'zed');
        await subscribers.addSubscriber('ivy', 'amy');
        await subscribers.addSubscriber('ivy', 'zed');
        await subscribers.addSubscriber('other', 'bob');
        assert.deepEqual(await subscribers.listSubscribers('ivy'), ['amy', 'zed']);
        assert.deepEqual(await subscribers.listSubscribers('other'), ['bob']);
      }));

    it('does not let callers mutate stored identities through returned values', () =>
      withStore(async ({ accounts }) => {
        await accounts.createAccount('jo', device(1), list(3));
        const id = await accounts.reserveDeviceId('jo');
        const identity = bytes(100, 1);
        const created = await accounts.addReservedDevice(
          'jo',
          id,
          device(2, { signedDeviceIdentity: identity, keyIndex: 1 }),
        );
        identity.fill(9);
        created.signedDeviceIdentity.fill(9);
        (await accounts.getDeviceList('jo'))?.signedList.fill(9);
        assert.deepEqual((await accounts.getDevice('jo', id))?.signedDeviceIdentity, bytes(100, 1));
        assert.deepEqual(await accounts.getDeviceList('jo'), list(3));
      }));

    describeNewDeviceKeyConformance(withStore);
  });
}
