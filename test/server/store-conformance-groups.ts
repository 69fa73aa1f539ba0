/**
 * The group part of the store conformance suite (src/server/store/group-store.ts),
 * run against every backend by store-groups.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StoreError, type ServerStore } from '../../src/server/store/types.js';

function id(fill: number): Uint8Array {
  return new Uint8Array(16).fill(fill);
}

function bytes(length: number, fill: number): Uint8Array {
  return new Uint8Array(length).fill(fill);
}

async function rejectsWith(promise: Promise<unknown>, code: StoreError['code']): Promise<void> {
  await assert.rejects(promise, (error: unknown) => StoreError.is(error, code));
}

const first = {
  signedChange: bytes(40, 1),
  headHash: bytes(32, 1),
  members: [
    { account: 'carol', admin: false },
    { account: 'alice', admin: true },
  ],
};

/** Registers the group suite for one backend; `makeStore` returns a fresh, empty store. */
export function runGroupStoreConformance(
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

  describe(`group store conformance: ${label}`, () => {
    it('creates a group at version 0 with sorted members and its first link', () =>
      withStore(async ({ groups }) => {
        assert.equal(await groups.getGroup(id(1)), undefined);
        assert.deepEqual(await groups.getChanges(id(1)), []);
        await groups.createGroup(id(1), first);
        const group = await groups.getGroup(id(1));
        assert.deepEqual(group, {
          groupId: id(1),
          version: 0,
          headHash: bytes(32, 1),
          members: [
            { account: 'alice', admin: true },
            { account: 'carol', admin: false },
          ],
          removed: undefined,
        });
        assert.deepEqual(await groups.getChanges(id(1)), [bytes(40, 1)]);
      }));

    it('refuses a taken id, even when two creations race', () =>
      withStore(async ({ groups }) => {
        const results = await Promise.allSettled([
          groups.createGroup(id(2), first),
          groups.createGroup(id(2), first),
        ]);
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
        await rejectsWith(groups.createGroup(id(2), first), 'group-exists');
      }));

    it('appends only the next version, atomically, and records the removed account', () =>
      withStore(async ({ groups }) => {
        await groups.createGroup(id(3), first);
        const change = {
          version: 1,
          signedChange: bytes(50, 2),
          headHash: bytes(32, 2),
          members: [{ account: 'alice', admin: true }],
          removed: 'carol',
        };
        await rejectsWith(
          groups.appendChange(id(3), { ...change, version: 2 }),
          'group-version-conflict',
        );
        await rejectsWith(groups.appendChange(id(9), change), 'unknown-group');
        // Two racing appends of version 1: exactly one wins.
        const results = await Promise.allSettled([
          groups.appendChange(id(3), change),
          groups.appendChange(id(3), { ...change, signedChange: bytes(50, 3) }),
        ]);
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
        const group = await groups.getGroup(id(3));
        assert.equal(group?.version, 1);
        assert.equal(group?.removed, 'carol');
        assert.deepEqual(group?.headHash, bytes(32, 2));
        assert.deepEqual(group?.members, [{ account: 'alice', admin: true }]);
        assert.deepEqual(await groups.getChanges(id(3)), [bytes(40, 1), bytes(50, 2)]);
        // From a version on: what a reader holding the head before it lacks.
        assert.deepEqual(await groups.getChanges(id(3), 1), [bytes(50, 2)]);
        assert.deepEqual(await groups.getChanges(id(3), 2), []);
        await groups.appendChange(id(3), {
          version: 2,
          signedChange: bytes(5, 4),
          headHash: bytes(32, 4),
          members: [
            { account: 'alice', admin: true },
            { account: 'bob', admin: false },
          ],
        });
        assert.equal((await groups.getGroup(id(3)))?.removed, undefined);
      }));

    it('lists an account’s groups in id order, and follows membership', () =>
      withStore(async ({ groups }) => {
        await groups.createGroup(id(5), first);
        await groups.createGroup(id(4), first);
        await groups.createGroup(id(6), { ...first, members: [{ account: 'bob', admin: true }] });
        assert.deepEqual(await groups.listGroups('alice'), [id(4), id(5)]);
        assert.deepEqual(await groups.listGroups('bob'), [id(6)]);
        assert.deepEqual(await groups.listGroups('nobody'), []);
        await groups.setMembersUnsigned(id(6), [
          { account: 'bob', admin: true },
          { account: 'alice', admin: false },
        ]);
        assert.deepEqual(await groups.listGroups('alice'), [id(4), id(5), id(6)]);
        // No change is recorded by an unsigned rewrite.
        assert.equal((await groups.getChanges(id(6))).length, 1);
        await rejectsWith(groups.setMembersUnsigned(id(7), []), 'unknown-group');
      }));

    it('does not let callers mutate stored bytes through returned values', () =>
      withStore(async ({ groups }) => {
        await groups.createGroup(id(8), first);
        const [link] = await groups.getChanges(id(8));
        link?.fill(0);
        const group = await groups.getGroup(id(8));
        group?.headHash.fill(0);
        assert.deepEqual(await groups.getChanges(id(8)), [bytes(40, 1)]);
        assert.deepEqual((await groups.getGroup(id(8)))?.headHash, bytes(32, 1));
      }));

    it('keeps the group id of queued SENDER_KEY envelopes', () =>
      withStore(async ({ queue }) => {
        const base = {
          destination: 'bob',
          destinationDevice: 1,
          source: 'alice',
          sourceDevice: 1,
          content: bytes(4, 9),
          timestamp: 1,
          serverTimestamp: 2,
        };
        await queue.enqueue([
          { ...base, type: 1 },
          { ...base, type: 3, groupId: id(1) },
        ]);
        const page = await queue.page('bob', 1, 0, 10);
        assert.equal(page.envelopes[0]?.groupId, undefined);
        assert.deepEqual(page.envelopes[1]?.groupId, id(1));
      }));
  });
}
