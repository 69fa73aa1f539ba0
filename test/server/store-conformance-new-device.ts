/**
 * A new device's keys written with its row (`NewDevice.keys`): registered
 * by `runDeviceStoreConformance`, so every backend runs them. What they
 * guard: a device never exists without its bundle keys, keys never exist
 * for a device that was not created, and a reset primary's old keys never
 * survive next to its new ones.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  StoreError,
  type InitialDeviceKeys,
  type KemPreKeyRecord,
  type NewDevice,
  type ServerStore,
} from '../../src/server/store/types.js';

function bytes(length: number, fill: number): Uint8Array {
  return new Uint8Array(length).fill(fill);
}

function kem(id: number): KemPreKeyRecord {
  const publicKey = bytes(1569, id);
  publicKey[0] = 0x08;
  return { id, publicKey, signature: bytes(64, id) };
}

/** Keys whose bytes are all `fill`: a signed prekey, `n` one-time EC and KEM prekeys from id `first`. */
function keys(
  fill: number,
  first: number,
  n: number,
  extra: Partial<InitialDeviceKeys> = {},
): InitialDeviceKeys {
  return {
    signedPreKey: { id: fill, publicKey: bytes(33, fill), signature: bytes(64, fill) },
    oneTimePreKeys: Array.from({ length: n }, (_, i) => ({
      id: first + i,
      publicKey: bytes(33, fill),
    })),
    oneTimeKemPreKeys: Array.from({ length: n }, (_, i) => kem(first + i)),
    lastResortKemPreKey: kem(900 + fill),
    maxPreKeysStored: 100,
    maxKemPreKeysStored: 100,
    ...extra,
  };
}

function device(fill: number, withKeys?: InitialDeviceKeys): NewDevice {
  return {
    identityKey: bytes(33, fill),
    registrationId: 1000 + fill,
    name: `dev${fill}`,
    createdAt: 1_000,
    ...(withKeys === undefined ? {} : { keys: withKeys }),
  };
}

const list = (timestamp: number) => ({ signedList: bytes(40, timestamp % 256), timestamp });

async function rejectsWith(promise: Promise<unknown>, code: StoreError['code']): Promise<void> {
  await assert.rejects(promise, (error: unknown) => StoreError.is(error, code));
}

/** Every key the stores hold for one device, in a comparable shape. */
async function heldKeys(store: ServerStore, account: string, deviceId: number) {
  const oneTime: number[] = [];
  for (;;) {
    const key = await store.preKeys.takeOneTimePreKey(account, deviceId);
    if (key === undefined) break;
    oneTime.push(key.id);
  }
  const kemOneTime: number[] = [];
  for (;;) {
    const key = await store.kemPreKeys.takeOneTimeKemPreKey(account, deviceId);
    if (key === undefined) break;
    kemOneTime.push(key.id);
  }
  return {
    signed: (await store.preKeys.getSignedPreKey(account, deviceId))?.id,
    oneTime,
    kemOneTime,
    lastResort: (await store.kemPreKeys.getLastResortKemPreKey(account, deviceId))?.id,
  };
}

const NONE = { signed: undefined, oneTime: [], kemOneTime: [], lastResort: undefined };

/** The cases, run against fresh stores from `withStore`. */
export function describeNewDeviceKeyConformance(
  withStore: (body: (store: ServerStore) => Promise<void>) => Promise<void>,
): void {
  describe('a new device and its keys, in one write', () => {
    it('registers the primary with its keys', () =>
      withStore(async (store) => {
        await store.accounts.createAccount('alice', device(1, keys(1, 10, 3)), list(5));
        const kemKey = await store.kemPreKeys.getLastResortKemPreKey('alice', 1);
        assert.deepEqual(kemKey, kem(901));
        assert.deepEqual(await store.preKeys.getSignedPreKey('alice', 1), {
          id: 1,
          publicKey: bytes(33, 1),
          signature: bytes(64, 1),
        });
        assert.deepEqual(await heldKeys(store, 'alice', 1), {
          signed: 1,
          oneTime: [10, 11, 12],
          kemOneTime: [10, 11, 12],
          lastResort: 901,
        });
      }));

    it('stores nothing, account included, when the keys are past a bound', () =>
      withStore(async (store) => {
        await rejectsWith(
          store.accounts.createAccount('bob', device(2, keys(2, 1, 3, { maxPreKeysStored: 2 }))),
          'limit-exceeded',
        );
        await rejectsWith(
          store.accounts.createAccount('bob', device(2, keys(2, 1, 3, { maxKemPreKeysStored: 2 }))),
          'limit-exceeded',
        );
        assert.equal(await store.accounts.listDevices('bob'), undefined);
        assert.deepEqual(await heldKeys(store, 'bob', 1), NONE);
        // The name is still free: a retry with acceptable keys registers it.
        await store.accounts.createAccount(
          'bob',
          device(2, keys(2, 1, 2, { maxPreKeysStored: 2 })),
        );
        assert.deepEqual((await heldKeys(store, 'bob', 1)).oneTime, [1, 2]);
      }));

    it('writes no keys for a taken name', () =>
      withStore(async (store) => {
        await store.accounts.createAccount('carol', device(3));
        await rejectsWith(
          store.accounts.createAccount('carol', device(4, keys(4, 1, 2))),
          'account-exists',
        );
        assert.deepEqual(await heldKeys(store, 'carol', 1), NONE);
      }));

    it('links a companion with its keys, and writes none for an unavailable id', () =>
      withStore(async (store) => {
        await store.accounts.createAccount('dave', device(5, keys(5, 1, 1)));
        const id = await store.accounts.reserveDeviceId('dave');
        await rejectsWith(
          store.accounts.addReservedDevice('dave', id + 1, device(6, keys(6, 1, 2))),
          'device-id-unavailable',
        );
        assert.deepEqual(await heldKeys(store, 'dave', id + 1), NONE);
        await rejectsWith(
          store.accounts.addReservedDevice(
            'dave',
            id,
            device(6, keys(6, 1, 3, { maxKemPreKeysStored: 1 })),
          ),
          'limit-exceeded',
        );
        assert.equal(await store.accounts.getDevice('dave', id), undefined);
        assert.deepEqual(await heldKeys(store, 'dave', id), NONE);
        // The id is still usable after the refusal.
        await store.accounts.addReservedDevice('dave', id, device(6, keys(6, 20, 2)));
        assert.deepEqual(await heldKeys(store, 'dave', id), {
          signed: 6,
          oneTime: [20, 21],
          kemOneTime: [20, 21],
          lastResort: 906,
        });
      }));

    it('replaces a reset primary’s keys: none of the old ones survive', () =>
      withStore(async (store) => {
        await store.accounts.createAccount('erin', device(7, keys(7, 1, 3)), list(1));
        // Keys the old primary uploaded later, outside registration.
        await store.preKeys.addOneTimePreKeys(
          'erin',
          1,
          [{ id: 50, publicKey: bytes(33, 7) }],
          100,
        );
        await store.accounts.resetAccount('erin', device(8, keys(8, 30, 2)), list(2), {
          reason: 'account-reset',
          removedAt: 2_000,
        });
        assert.deepEqual(await heldKeys(store, 'erin', 1), {
          signed: 8,
          oneTime: [30, 31],
          kemOneTime: [30, 31],
          lastResort: 908,
        });
      }));

    it('keeps the old primary and its keys when a reset’s keys are refused', () =>
      withStore(async (store) => {
        await store.accounts.createAccount('fay', device(9, keys(9, 1, 2)), list(1));
        await rejectsWith(
          store.accounts.resetAccount(
            'fay',
            device(10, keys(10, 1, 5, { maxPreKeysStored: 4 })),
            list(2),
            {
              reason: 'account-reset',
              removedAt: 2_000,
            },
          ),
          'limit-exceeded',
        );
        assert.equal((await store.accounts.getDevice('fay', 1))?.registrationId, 1009);
        assert.deepEqual(await store.accounts.getDeviceList('fay'), list(1));
        assert.deepEqual(await heldKeys(store, 'fay', 1), {
          signed: 9,
          oneTime: [1, 2],
          kemOneTime: [1, 2],
          lastResort: 909,
        });
      }));

    it('removes a device’s keys with its row, also a reset’s companions', () =>
      withStore(async (store) => {
        await store.accounts.createAccount('gus', device(11, keys(11, 1, 2)), list(1));
        const ids: number[] = [];
        for (const fill of [12, 13]) {
          const id = await store.accounts.reserveDeviceId('gus');
          await store.accounts.addReservedDevice('gus', id, device(fill, keys(fill, 1, 2)));
          ids.push(id);
        }
        const [first = 0, second = 0] = ids;
        const removal = { reason: 'removed', removedAt: 2_000 };
        assert.equal(await store.accounts.removeDevice('gus', first, removal), true);
        assert.deepEqual(await heldKeys(store, 'gus', first), NONE);
        assert.equal((await heldKeys(store, 'gus', 1)).signed, 11, 'the other devices keep theirs');
        await store.accounts.resetAccount('gus', device(14, keys(14, 1, 1)), list(2), removal);
        assert.deepEqual(await heldKeys(store, 'gus', second), NONE);
      }));
  });
}
