/**
 * KEM prekey cases of the shared store conformance suite: registered by
 * `runServerStoreConformance`, so every backend (memory, SQLite,
 * PostgreSQL) runs them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  StoreError,
  type KemPreKeyRecord,
  type ServerStore,
} from '../../src/server/store/types.js';

/** A KEM prekey record whose bytes all carry `fill`. */
function kem(id: number, fill = id): KemPreKeyRecord {
  const publicKey = new Uint8Array(1569).fill(fill);
  publicKey[0] = 0x08;
  return { id, publicKey, signature: new Uint8Array(64).fill(fill) };
}

function kems(first: number, count: number): KemPreKeyRecord[] {
  return Array.from({ length: count }, (_, i) => kem(first + i));
}

/** The cases, run against fresh stores from `withStore`. */
export function describeKemPreKeyConformance(
  withStore: (body: (store: ServerStore) => Promise<void>) => Promise<void>,
): void {
  describe('KEM prekeys', () => {
    it('hands out one-time KEM prekeys lowest id first, each exactly once, signatures kept', () =>
      withStore(async ({ kemPreKeys }) => {
        assert.equal(await kemPreKeys.addOneTimeKemPreKeys('alice', 1, kems(5, 3), 100), 3);
        assert.equal(await kemPreKeys.countOneTimeKemPreKeys('alice', 1), 3);
        assert.equal(await kemPreKeys.countOneTimeKemPreKeys('alice', 2), 0);
        const taken = await Promise.all(
          [0, 1, 2, 3].map(() => kemPreKeys.takeOneTimeKemPreKey('alice', 1)),
        );
        assert.deepEqual(taken, [kem(5), kem(6), kem(7), undefined]);
        assert.equal(await kemPreKeys.countOneTimeKemPreKeys('alice', 1), 0);
      }));

    it('keeps the last-resort KEM prekey apart: replaced, never taken', () =>
      withStore(async ({ kemPreKeys }) => {
        assert.equal(await kemPreKeys.getLastResortKemPreKey('alice', 1), undefined);
        await kemPreKeys.setLastResortKemPreKey('alice', 1, kem(90));
        await kemPreKeys.setLastResortKemPreKey('alice', 1, kem(91));
        assert.deepEqual(await kemPreKeys.getLastResortKemPreKey('alice', 1), kem(91));
        assert.equal(await kemPreKeys.getLastResortKemPreKey('alice', 2), undefined);
        assert.equal(await kemPreKeys.takeOneTimeKemPreKey('alice', 1), undefined);
        assert.equal(await kemPreKeys.countOneTimeKemPreKeys('alice', 1), 0);
        assert.deepEqual(await kemPreKeys.getLastResortKemPreKey('alice', 1), kem(91));
      }));

    it('replaces a re-uploaded id and refuses an upload past the limit whole', () =>
      withStore(async ({ kemPreKeys }) => {
        await kemPreKeys.addOneTimeKemPreKeys('alice', 1, kems(1, 8), 10);
        // Id 8 again plus two new: 10, within the limit; id 8's key replaced.
        assert.equal(
          await kemPreKeys.addOneTimeKemPreKeys('alice', 1, [kem(8, 200), kem(9), kem(10)], 10),
          10,
        );
        await assert.rejects(
          kemPreKeys.addOneTimeKemPreKeys('alice', 1, [kem(11)], 10),
          (error: unknown) => StoreError.is(error, 'limit-exceeded'),
        );
        assert.equal(await kemPreKeys.countOneTimeKemPreKeys('alice', 1), 10);
        const all = [];
        for (let i = 0; i < 10; i++) all.push(await kemPreKeys.takeOneTimeKemPreKey('alice', 1));
        assert.deepEqual(all[7], kem(8, 200));
        assert.deepEqual(
          all.map((k) => k?.id),
          [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        );
      }));

    it('deletes a removed device’s KEM prekeys only, and leaves EC prekeys to their store', () =>
      withStore(async ({ kemPreKeys, preKeys }) => {
        for (const deviceId of [1, 2]) {
          await kemPreKeys.addOneTimeKemPreKeys('fay', deviceId, kems(1, 2), 10);
          await kemPreKeys.setLastResortKemPreKey('fay', deviceId, kem(50));
        }
        await preKeys.addOneTimePreKeys('fay', 2, [{ id: 1, publicKey: new Uint8Array(33) }], 10);
        await kemPreKeys.deleteDevice('fay', 2);
        assert.equal(await kemPreKeys.countOneTimeKemPreKeys('fay', 2), 0);
        assert.equal(await kemPreKeys.getLastResortKemPreKey('fay', 2), undefined);
        assert.equal(await kemPreKeys.countOneTimeKemPreKeys('fay', 1), 2);
        assert.deepEqual(await kemPreKeys.getLastResortKemPreKey('fay', 1), kem(50));
        assert.equal(await preKeys.countOneTimePreKeys('fay', 2), 1);
      }));
  });
}
