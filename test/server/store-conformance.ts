/**
 * The one conformance suite every server store backend runs (memory, SQLite,
 * PostgreSQL). A backend passes when it behaves exactly like the
 * interface documentation in src/server/store/types.ts says.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  StoreError,
  type NewDevice,
  type NewEnvelope,
  type ServerStore,
} from '../../src/server/store/types.js';
import { describeKemPreKeyConformance } from './store-conformance-kem.js';

function bytes(length: number, fill: number): Uint8Array {
  return new Uint8Array(length).fill(fill);
}

function device(fill: number, registrationId = 1000 + fill): NewDevice {
  return { identityKey: bytes(33, fill), registrationId, name: `dev${fill}`, createdAt: 1_000 };
}

function envelope(
  destination: string,
  destinationDevice: number,
  content: number,
  serverTimestamp = 5_000,
): NewEnvelope {
  return {
    destination,
    destinationDevice,
    source: 'sender',
    sourceDevice: 2,
    type: 1,
    content: bytes(10, content),
    timestamp: 4_000,
    serverTimestamp,
  };
}

async function rejectsWith(promise: Promise<unknown>, code: StoreError['code']): Promise<void> {
  await assert.rejects(promise, (error: unknown) => StoreError.is(error, code));
}

/** Registers the suite for one backend. `makeStore` must return a fresh, empty store each call. */
export function runServerStoreConformance(
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

  describe(`server store conformance: ${label}`, () => {
    describe('accounts', () => {
      it('creates an account with its primary as device 1', () =>
        withStore(async ({ accounts }) => {
          const primary = await accounts.createAccount('alice', device(1));
          assert.equal(primary.deviceId, 1);
          assert.equal(primary.account, 'alice');
          assert.deepEqual(primary.identityKey, bytes(33, 1));
          assert.equal(primary.lastSeenAt, 1_000);
          const stored = await accounts.getDevice('alice', 1);
          assert.deepEqual(stored, primary);
          assert.deepEqual(await accounts.listDevices('alice'), [primary]);
        }));

      it('refuses a taken name, even when two registrations race', () =>
        withStore(async ({ accounts }) => {
          const results = await Promise.allSettled([
            accounts.createAccount('bob', device(1)),
            accounts.createAccount('bob', device(2)),
          ]);
          assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
          const failed = results.find((r) => r.status === 'rejected');
          assert.ok(failed !== undefined && failed.status === 'rejected');
          assert.ok(StoreError.is(failed.reason, 'account-exists'));
          await rejectsWith(accounts.createAccount('bob', device(3)), 'account-exists');
          assert.equal((await accounts.listDevices('bob'))?.length, 1);
        }));

      it('adds devices with increasing ids and lists them in order', () =>
        withStore(async ({ accounts }) => {
          await accounts.createAccount('carol', device(1));
          const second = await accounts.addDevice('carol', device(2));
          const third = await accounts.addDevice('carol', device(3));
          assert.equal(second.deviceId, 2);
          assert.equal(third.deviceId, 3);
          const list = await accounts.listDevices('carol');
          assert.deepEqual(
            list?.map((d) => [d.deviceId, d.registrationId]),
            [
              [1, 1001],
              [2, 1002],
              [3, 1003],
            ],
          );
          await rejectsWith(accounts.addDevice('nobody', device(4)), 'unknown-account');
        }));

      it('tells unknown accounts and devices apart from known ones', () =>
        withStore(async ({ accounts }) => {
          await accounts.createAccount('dave', device(1));
          assert.equal(await accounts.getDevice('dave', 2), undefined);
          assert.equal(await accounts.getDevice('nobody', 1), undefined);
          assert.equal(await accounts.listDevices('nobody'), undefined);
        }));

      it('records last-seen times', () =>
        withStore(async ({ accounts }) => {
          await accounts.createAccount('erin', device(1));
          await accounts.touchDevice('erin', 1, 9_999);
          await accounts.touchDevice('erin', 7, 9_999); // unknown device: no-op
          assert.equal((await accounts.getDevice('erin', 1))?.lastSeenAt, 9_999);
          assert.equal((await accounts.getDevice('erin', 1))?.createdAt, 1_000);
        }));

      it('does not let callers mutate stored keys through returned values', () =>
        withStore(async ({ accounts }) => {
          const input = device(1);
          const created = await accounts.createAccount('frank', input);
          input.identityKey.fill(9);
          created.identityKey.fill(9);
          assert.deepEqual((await accounts.getDevice('frank', 1))?.identityKey, bytes(33, 1));
        }));
    });

    describe('prekeys', () => {
      it('stores and replaces the signed prekey per device', () =>
        withStore(async ({ preKeys }) => {
          assert.equal(await preKeys.getSignedPreKey('alice', 1), undefined);
          await preKeys.setSignedPreKey('alice', 1, {
            id: 1,
            publicKey: bytes(33, 1),
            signature: bytes(64, 1),
          });
          await preKeys.setSignedPreKey('alice', 1, {
            id: 2,
            publicKey: bytes(33, 2),
            signature: bytes(64, 2),
          });
          assert.deepEqual(await preKeys.getSignedPreKey('alice', 1), {
            id: 2,
            publicKey: bytes(33, 2),
            signature: bytes(64, 2),
          });
          assert.equal(await preKeys.getSignedPreKey('alice', 2), undefined);
        }));

      it('hands out one-time prekeys lowest id first, each exactly once', () =>
        withStore(async ({ preKeys }) => {
          const keys = [5, 3, 9].map((id) => ({ id, publicKey: bytes(33, id) }));
          assert.equal(await preKeys.addOneTimePreKeys('alice', 1, keys, 100), 3);
          assert.equal(await preKeys.countOneTimePreKeys('alice', 1), 3);
          assert.equal(await preKeys.countOneTimePreKeys('alice', 2), 0);
          const taken = await Promise.all([
            preKeys.takeOneTimePreKey('alice', 1),
            preKeys.takeOneTimePreKey('alice', 1),
            preKeys.takeOneTimePreKey('alice', 1),
            preKeys.takeOneTimePreKey('alice', 1),
          ]);
          assert.deepEqual(
            taken.map((k) => k?.id),
            [3, 5, 9, undefined],
          );
          assert.deepEqual(taken[0]?.publicKey, bytes(33, 3));
          assert.equal(await preKeys.countOneTimePreKeys('alice', 1), 0);
        }));

      it('replaces a re-uploaded id without counting it twice', () =>
        withStore(async ({ preKeys }) => {
          await preKeys.addOneTimePreKeys('alice', 1, [{ id: 1, publicKey: bytes(33, 1) }], 2);
          const count = await preKeys.addOneTimePreKeys(
            'alice',
            1,
            [
              { id: 1, publicKey: bytes(33, 7) },
              { id: 2, publicKey: bytes(33, 2) },
            ],
            2,
          );
          assert.equal(count, 2);
          assert.deepEqual((await preKeys.takeOneTimePreKey('alice', 1))?.publicKey, bytes(33, 7));
        }));

      it('refuses an upload beyond the stored maximum and keeps none of it', () =>
        withStore(async ({ preKeys }) => {
          const keys = (from: number, n: number) =>
            Array.from({ length: n }, (_, i) => ({ id: from + i, publicKey: bytes(33, 1) }));
          await preKeys.addOneTimePreKeys('alice', 1, keys(1, 8), 10);
          await rejectsWith(
            preKeys.addOneTimePreKeys('alice', 1, keys(100, 3), 10),
            'limit-exceeded',
          );
          assert.equal(await preKeys.countOneTimePreKeys('alice', 1), 8);
          assert.equal(await preKeys.addOneTimePreKeys('alice', 1, keys(100, 2), 10), 10);
        }));
    });

    describeKemPreKeyConformance(withStore);

    describe('message queue', () => {
      it('returns a device’s envelopes in insertion order, page by page', () =>
        withStore(async ({ queue }) => {
          const sent = Array.from({ length: 5 }, (_, i) => envelope('bob', 1, i));
          const queued = [
            ...(await queue.enqueue(sent.slice(0, 2))),
            ...(await queue.enqueue([envelope('bob', 2, 99)])),
            ...(await queue.enqueue(sent.slice(2))),
          ];
          const bob1 = queued.filter((e) => e.destinationDevice === 1);
          // What enqueue returns is what was given, plus the store's guid.
          assert.deepEqual(
            bob1.map(({ guid: _guid, ...rest }) => rest),
            sent,
          );
          const first = await queue.page('bob', 1, 0, 3);
          assert.deepEqual(first.envelopes, bob1.slice(0, 3));
          const second = await queue.page('bob', 1, first.cursor, 3);
          assert.deepEqual(second.envelopes, bob1.slice(3));
          const empty = await queue.page('bob', 1, second.cursor, 3);
          assert.deepEqual(empty.envelopes, []);
          assert.equal(empty.cursor, second.cursor);
          assert.equal(await queue.count('bob', 1), 5);
          assert.equal(await queue.count('bob', 2), 1);
          assert.equal(await queue.totalCount(), 6);
        }));

      it('gives every envelope its own 16-byte guid', () =>
        withStore(async ({ queue }) => {
          const queued = [
            ...(await queue.enqueue([envelope('bob', 1, 1), envelope('bob', 2, 1)])),
            ...(await queue.enqueue([envelope('bob', 1, 1)])),
          ];
          for (const e of queued) assert.equal(e.guid.length, 16);
          const distinct = new Set(queued.map((e) => Buffer.from(e.guid).toString('hex')));
          assert.equal(distinct.size, queued.length);
        }));

      it('keeps concurrent enqueues (one batch) all durable', () =>
        withStore(async ({ queue }) => {
          await Promise.all(
            Array.from({ length: 50 }, (_, i) => queue.enqueue([envelope('bob', 1, i)])),
          );
          const page = await queue.page('bob', 1, 0, 100);
          assert.deepEqual(
            page.envelopes.map((e) => e.content[0]),
            Array.from({ length: 50 }, (_, i) => i),
          );
        }));

      it('deletes on ack only from the acking device’s own queue', () =>
        withStore(async ({ queue }) => {
          const [mine, other, stranger] = await queue.enqueue([
            envelope('bob', 1, 1),
            envelope('bob', 2, 2),
            envelope('carol', 1, 3),
          ]);
          assert.ok(mine !== undefined && other !== undefined && stranger !== undefined);
          // Device bob.1 acks its own guid plus two it does not own.
          assert.equal(await queue.ack('bob', 1, [other.guid, stranger.guid]), 0);
          assert.equal(await queue.ack('bob', 1, [mine.guid, other.guid, stranger.guid]), 1);
          assert.equal(await queue.count('bob', 1), 0);
          assert.deepEqual((await queue.page('bob', 2, 0, 10)).envelopes, [other]);
          assert.deepEqual((await queue.page('carol', 1, 0, 10)).envelopes, [stranger]);
          // Acking again is harmless.
          assert.equal(await queue.ack('bob', 1, [mine.guid]), 0);
          assert.equal(await queue.totalCount(), 2);
        }));

      it('deletes nothing for a guid that differs from a queued one in a single byte', () =>
        withStore(async ({ queue }) => {
          const [queued] = await queue.enqueue([envelope('bob', 1, 1)]);
          assert.ok(queued !== undefined);
          // Guards backends that find rows by part of the guid (a row id in
          // its first bytes): the whole guid must match, so acks cannot be guessed.
          const nearMisses = [0, 7, 8, 15].map((index) => {
            const guid = queued.guid.slice();
            guid[index] = (guid[index] ?? 0) ^ 0x01;
            return guid;
          });
          assert.equal(await queue.ack('bob', 1, nearMisses), 0);
          assert.equal(await queue.ack('bob', 1, [new Uint8Array(16), new Uint8Array(3)]), 0);
          assert.equal(await queue.count('bob', 1), 1);
        }));

      it('expires envelopes accepted before a cut-off', () =>
        withStore(async ({ queue }) => {
          const [, fresh] = await queue.enqueue([
            envelope('bob', 1, 1, 1_000),
            envelope('bob', 1, 2, 2_000),
          ]);
          assert.equal(await queue.expire(2_000), 1);
          assert.deepEqual((await queue.page('bob', 1, 0, 10)).envelopes, [fresh]);
          assert.equal(await queue.totalCount(), 1);
        }));

      it('enqueues all or nothing', () =>
        withStore(async ({ queue }) => {
          const [first] = await queue.enqueue([envelope('bob', 1, 1)]);
          // An envelope the backend cannot store must not leave the one
          // before it in the same batch behind.
          const unstorable = {
            ...envelope('bob', 1, 3),
            content: undefined as unknown as Uint8Array,
          };
          await assert.rejects(queue.enqueue([envelope('bob', 1, 2), unstorable]));
          assert.deepEqual((await queue.page('bob', 1, 0, 10)).envelopes, [first]);
          assert.equal(await queue.totalCount(), 1);
        }));
    });

    describe('queue bounds and shared contents', () => {
      const bounds = { maxCount: 3, maxBytes: 25 };

      it('refuses a batch past the count bound, keeping what is queued', () =>
        withStore(async ({ queue }) => {
          const kept = await queue.enqueue([envelope('bob', 1, 1), envelope('bob', 1, 2)], {
            maxCount: 3,
            maxBytes: 1_000,
          });
          // Two more would make four: the whole batch is refused, including
          // the envelope for another device that has room.
          await assert.rejects(
            queue.enqueue([envelope('bob', 2, 3), envelope('bob', 1, 3), envelope('bob', 1, 4)], {
              maxCount: 3,
              maxBytes: 1_000,
            }),
            (error: unknown) => StoreError.is(error, 'queue-full') && error.limit === 'queue-count',
          );
          assert.deepEqual((await queue.page('bob', 1, 0, 10)).envelopes, kept);
          assert.equal(await queue.count('bob', 2), 0);
          // Exactly at the bound is allowed.
          await queue.enqueue([envelope('bob', 1, 3)], { maxCount: 3, maxBytes: 1_000 });
          assert.equal(await queue.count('bob', 1), 3);
          await rejectsWith(
            queue.enqueue([envelope('bob', 1, 4)], { maxCount: 3, maxBytes: 1_000 }),
            'queue-full',
          );
          assert.equal(await queue.totalCount(), 3);
        }));

      it('refuses a batch past the byte bound, and takes more once acks free room', () =>
        withStore(async ({ queue }) => {
          // 10-byte contents: two fit under 25 bytes, a third does not.
          const [first] = await queue.enqueue([envelope('bob', 1, 1)], bounds);
          await queue.enqueue([envelope('bob', 1, 2)], bounds);
          assert.equal(await queue.queuedBytes('bob', 1), 20);
          await assert.rejects(
            queue.enqueue([envelope('bob', 1, 3)], bounds),
            (error: unknown) => StoreError.is(error, 'queue-full') && error.limit === 'queue-bytes',
          );
          assert.equal(await queue.count('bob', 1), 2);
          assert.ok(first !== undefined);
          assert.equal(await queue.ack('bob', 1, [first.guid]), 1);
          assert.equal(await queue.queuedBytes('bob', 1), 10);
          await queue.enqueue([envelope('bob', 1, 3)], bounds);
          assert.equal(await queue.count('bob', 1), 2);
        }));

      it('counts envelopes queued without bounds, and frees room on expiry and device removal', () =>
        withStore(async ({ queue }) => {
          await queue.enqueue([envelope('bob', 1, 1, 1_000), envelope('bob', 1, 2, 1_000)]);
          await queue.enqueue([envelope('bob', 1, 3, 9_000)]);
          await rejectsWith(queue.enqueue([envelope('bob', 1, 4)], bounds), 'queue-full');
          assert.equal(await queue.expire(2_000), 2);
          await queue.enqueue([envelope('bob', 1, 4)], bounds);
          await rejectsWith(queue.enqueue([envelope('bob', 1, 5)], bounds), 'queue-full');
          assert.equal(await queue.deleteDevice('bob', 1), 2);
          await queue.enqueue([envelope('bob', 1, 5)], bounds);
          assert.equal(await queue.count('bob', 1), 1);
        }));

      it('stores one content for a fanout, readable and ackable by every device', () =>
        withStore(async ({ queue }) => {
          const content = bytes(10, 42);
          const fanout: NewEnvelope[] = [1, 2, 3].map((deviceId) => ({
            ...envelope('carol', deviceId, 0),
            content,
          }));
          const queued = await queue.enqueue([envelope('carol', 1, 7), ...fanout]);
          assert.equal(queued.length, 4);
          // Every device reads the full content; each counts it in full.
          for (const deviceId of [1, 2, 3]) {
            const page = await queue.page('carol', deviceId, 0, 10);
            const last = page.envelopes[page.envelopes.length - 1];
            assert.deepEqual(last?.content, bytes(10, 42));
          }
          assert.equal(await queue.queuedBytes('carol', 1), 20);
          assert.equal(await queue.queuedBytes('carol', 2), 10);
          // Acking it on two devices leaves it intact for the third.
          for (const envelopeOf of [queued[2], queued[3]]) {
            assert.ok(envelopeOf !== undefined);
            assert.equal(
              await queue.ack('carol', envelopeOf.destinationDevice, [envelopeOf.guid]),
              1,
            );
          }
          const left = await queue.page('carol', 1, 0, 10);
          assert.deepEqual(
            left.envelopes.map((e) => e.content),
            [bytes(10, 7), bytes(10, 42)],
          );
          assert.equal(await queue.totalCount(), 2);
        }));
    });

    it('rejects use after close', async () => {
      const store = await makeStore();
      await store.close();
      await rejectsWith(store.accounts.getDevice('alice', 1), 'closed');
      await rejectsWith(store.queue.enqueue([envelope('bob', 1, 1)]), 'closed');
      await rejectsWith(store.kemPreKeys.countOneTimeKemPreKeys('bob', 1), 'closed');
    });
  });
}
