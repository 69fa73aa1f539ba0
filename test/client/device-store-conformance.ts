/**
 * The device-store conformance suite: every storage backend (memory,
 * SQLite, later IndexedDB) must pass it unchanged (matrix-sdk's
 * `cryptostore_integration_tests!` pattern). It drives the typed stores
 * through `createDeviceStore`, so it checks the backend contract and the
 * typed layers together.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { protocolAddress } from '../../src/protocol/address.js';
import { generateKeyPair, generateSigningKeyPair } from '../../src/protocol/curve.js';
import { SessionRecord } from '../../src/protocol/session-record.js';
import { ClientError } from '../../src/client/core/errors.js';
import { createDeviceStore, type DeviceStore } from '../../src/client/core/store/device-store.js';
import { StagedView, type KeyValueBackend } from '../../src/client/core/store/kv.js';
import type { StoredMessage } from '../../src/client/core/store/records.js';
import { ctx } from './helpers/clients.js';

function message(chat: string, idByte: number, sentAt: number): StoredMessage {
  return {
    id: new Uint8Array(16).fill(idByte),
    chat,
    sender: chat,
    senderDevice: 1,
    text: `text ${idByte}`,
    sentAt,
    receivedAt: sentAt + 1,
    outgoing: false,
    receipts: {},
  };
}

/** Runs the suite against backends made by `makeBackend` (a fresh, empty one per test). */
export function runDeviceStoreConformance(
  label: string,
  makeBackend: () => Promise<KeyValueBackend>,
): void {
  async function withStore(fn: (store: DeviceStore) => Promise<void>): Promise<void> {
    const store = createDeviceStore(await makeBackend());
    try {
      await fn(store);
    } finally {
      await store.close();
    }
  }

  describe(`device store conformance: ${label}`, () => {
    it('keeps the account record and reports an unregistered profile', () =>
      withStore(async (store) => {
        assert.equal(await store.account.get(), undefined);
        await assert.rejects(store.account.getRequired(), (e) =>
          ClientError.is(e, 'not-registered'),
        );
        const account = {
          account: 'alice',
          deviceId: 1,
          registrationId: 1234,
          serverUrl: 'http://127.0.0.1:8080',
          createdAt: 1_700_000_000_000,
          nextPreKeyId: 101,
          signedPreKeyId: 1,
        };
        await store.account.put(account);
        assert.deepEqual(await store.account.getRequired(), account);
      }));

    it('stores messages per chat, ordered by sent time, without prefix bleed', () =>
      withStore(async (store) => {
        await store.messages.put(message('bob', 2, 200));
        await store.messages.put(message('bob', 1, 100));
        await store.messages.put(message('bobby', 3, 50));
        assert.deepEqual(
          (await store.messages.list('bob')).map((m) => m.text),
          ['text 1', 'text 2'],
        );
        assert.equal((await store.messages.list()).length, 3);
        const got = await store.messages.get('bob', new Uint8Array(16).fill(2));
        assert.deepEqual(got, message('bob', 2, 200));
        assert.equal(await store.messages.get('alice', new Uint8Array(16).fill(2)), undefined);
        const updated = {
          ...message('bob', 2, 200),
          outgoing: true,
          receipts: { 'bob.1': 'read' as const },
        };
        await store.messages.put(updated);
        assert.deepEqual(await store.messages.get('bob', updated.id), updated);
      }));

    it('pages a chat oldest first, across chats without bleed, inside transactions too', () =>
      withStore(async (store) => {
        for (let i = 0; i < 25; i++) await store.messages.put(message('bob', i + 1, 1000 - i * 10));
        await store.messages.put(message('bobby', 100, 1));
        await store.messages.put(message('ann', 101, 5));
        const seen: number[] = [];
        let after: string | undefined;
        let pages = 0;
        for (;;) {
          const page = await store.messages.page('bob', { limit: 10, ...(after ? { after } : {}) });
          seen.push(...page.messages.map((m) => m.sentAt));
          pages++;
          if (page.next === undefined) break;
          after = page.next;
        }
        assert.equal(pages, 3);
        assert.deepEqual(
          seen,
          Array.from({ length: 25 }, (_, i) => 760 + i * 10),
        );
        // A receipt update rewrites the message in place, not a second copy.
        const first = message('bob', 25, 760);
        await store.messages.put({ ...first, receipts: { 'bob.1': 'read' as const } });
        const again = await store.messages.page('bob', { limit: 100 });
        assert.equal(again.messages.length, 25);
        assert.deepEqual(again.messages[0]?.receipts, { 'bob.1': 'read' });
        // Every chat, chat by chat.
        const all = await store.messages.page(undefined, { limit: 100 });
        assert.deepEqual(
          all.messages.map((m) => m.chat),
          ['ann', ...Array<string>(25).fill('bob'), 'bobby'],
        );
        // A transaction sees its own writes in order, and its deletes hide rows.
        await store.transaction(async (tx) => {
          await tx.messages.put(message('bob', 200, 765));
          const page = await tx.messages.page('bob', { limit: 3 });
          assert.deepEqual(
            page.messages.map((m) => m.sentAt),
            [760, 765, 770],
          );
          const next = await tx.messages.page('bob', { limit: 3, after: page.next ?? '' });
          assert.deepEqual(
            next.messages.map((m) => m.sentAt),
            [780, 790, 800],
          );
        });
      }));

    it('lists a key page strictly after a cursor, bounded by prefix and limit', async () => {
      const backend = await makeBackend();
      try {
        const put = (key: string, v: number) => ({ table: 't', key, value: new Uint8Array([v]) });
        await backend.commit([
          put('a', 1),
          put('a/1', 2),
          put('a/2', 3),
          put('a/3', 4),
          put('b', 5),
        ]);
        await backend.commit([{ table: 'u', key: 'a/9', value: new Uint8Array([9]) }]);
        const keys = async (after: string | undefined, limit: number, prefix = 'a') =>
          (await backend.listPage('t', prefix, after, limit)).map((e) => e.key);
        assert.deepEqual(await keys(undefined, 10), ['a', 'a/1', 'a/2', 'a/3']);
        assert.deepEqual(await keys(undefined, 2), ['a', 'a/1']);
        assert.deepEqual(await keys('a/1', 10), ['a/2', 'a/3']);
        assert.deepEqual(await keys('a/3', 10), []);
        assert.deepEqual(await keys(undefined, 10, 'a/'), ['a/1', 'a/2', 'a/3']);
        assert.deepEqual(await keys(undefined, 0), []);
        const staged = new StagedView(backend);
        await staged.delete('t', 'a/2');
        await staged.put('t', 'a/0', new Uint8Array([6]));
        await staged.put('t', 'a/4', new Uint8Array([7]));
        const page = async (after: string | undefined, limit: number) =>
          (await staged.listPage('t', 'a/', after, limit)).map((e) => e.key);
        assert.deepEqual(await page(undefined, 2), ['a/0', 'a/1']);
        assert.deepEqual(await page('a/1', 2), ['a/3', 'a/4']);
        assert.deepEqual(await page(undefined, 10), ['a/0', 'a/1', 'a/3', 'a/4']);
      } finally {
        await backend.close();
      }
    });

    it('keeps processed marks', () =>
      withStore(async (store) => {
        assert.equal(await store.processed.has('abc'), false);
        await store.processed.mark('abc', 5);
        assert.equal(await store.processed.has('abc'), true);
        assert.equal(await store.processed.has('abd'), false);
      }));

    it('keeps and prunes sent messages', () =>
      withStore(async (store) => {
        const old = {
          destination: 'bob',
          timestamp: 100,
          content: new Uint8Array([1, 2]),
          retries: {},
        };
        const recent = {
          destination: 'bob',
          timestamp: 900,
          content: new Uint8Array([3]),
          retries: { 1: 2 },
        };
        await store.sent.put(old);
        await store.sent.put(recent);
        assert.deepEqual(await store.sent.get('bob', 900), recent);
        assert.equal(await store.sent.prune(500), 1);
        assert.equal(await store.sent.get('bob', 100), undefined);
        assert.deepEqual(await store.sent.get('bob', 900), recent);
      }));

    it('keeps settings and returns copies', () =>
      withStore(async (store) => {
        const value = new Uint8Array([1, 2, 3]);
        await store.settings.put('pin', value);
        value[0] = 9;
        const got = await store.settings.get('pin');
        assert.deepEqual(got, new Uint8Array([1, 2, 3]));
        if (got !== undefined) got[1] = 9;
        assert.deepEqual(await store.settings.get('pin'), new Uint8Array([1, 2, 3]));
        await store.settings.delete('pin');
        assert.equal(await store.settings.get('pin'), undefined);
      }));

    it('commits every write of a transaction together, and reads its own writes', () =>
      withStore(async (store) => {
        await store.settings.put('gone', new Uint8Array([1]));
        const result = await store.transaction(async (tx) => {
          await tx.messages.put(message('bob', 1, 1));
          await tx.processed.mark('mark', 1);
          await tx.settings.delete('gone');
          assert.equal((await tx.messages.list('bob')).length, 1);
          assert.equal(await tx.processed.has('mark'), true);
          assert.equal(await tx.settings.get('gone'), undefined);
          // Not visible outside until commit.
          assert.equal(await store.processed.has('mark'), false);
          return 42;
        });
        assert.equal(result, 42);
        assert.equal((await store.messages.list('bob')).length, 1);
        assert.equal(await store.processed.has('mark'), true);
        assert.equal(await store.settings.get('gone'), undefined);
      }));

    it('writes nothing when a transaction throws', () =>
      withStore(async (store) => {
        await assert.rejects(
          store.transaction(async (tx) => {
            await tx.messages.put(message('bob', 1, 1));
            await tx.processed.mark('mark', 1);
            throw new Error('boom');
          }),
          /boom/,
        );
        assert.equal((await store.messages.list()).length, 0);
        assert.equal(await store.processed.has('mark'), false);
      }));

    it('implements the protocol stores (identity TOFU, prekeys, sessions)', () =>
      withStore(async (store) => {
        const protocol = store.protocol;
        await assert.rejects(protocol.identity.getIdentityKeyPair(), (e) =>
          ClientError.is(e, 'not-registered'),
        );
        const identity = await generateSigningKeyPair(ctx.crypto, ctx.random);
        await protocol.identity.setLocalIdentity(identity, 4321);
        const loaded = await protocol.identity.getIdentityKeyPair();
        assert.ok(loaded.publicKey.equals(identity.publicKey));
        assert.deepEqual(loaded.privateKey.toStorageBytes(), identity.privateKey.toStorageBytes());
        assert.equal(await protocol.identity.getLocalRegistrationId(), 4321);

        const bob = protocolAddress('bob', 1);
        const key1 = (await generateKeyPair(ctx.crypto, ctx.random)).publicKey;
        const key2 = (await generateKeyPair(ctx.crypto, ctx.random)).publicKey;
        assert.equal(await protocol.identity.isTrustedIdentity(bob, key1, 'sending'), true);
        assert.equal(await protocol.identity.saveIdentity(bob, key1), false);
        assert.equal(await protocol.identity.saveIdentity(bob, key1), false);
        assert.equal(await protocol.identity.isTrustedIdentity(bob, key2, 'sending'), false);
        assert.equal(await protocol.identity.saveIdentity(bob, key2), true);
        assert.ok((await protocol.identity.getIdentity(bob))?.equals(key2));

        const record = SessionRecord.empty();
        await protocol.sessions.storeSession(protocolAddress('bob', 2), record);
        await protocol.sessions.storeSession(protocolAddress('bob', 10), record);
        await protocol.sessions.storeSession(protocolAddress('bobby', 1), record);
        assert.deepEqual(await protocol.sessions.listDeviceIds('bob'), [2, 10]);
        assert.ok(await protocol.sessions.loadSession(protocolAddress('bob', 2)));
        await protocol.sessions.deleteSession(protocolAddress('bob', 2));
        assert.equal(await protocol.sessions.loadSession(protocolAddress('bob', 2)), undefined);
        await protocol.sessions.deleteAllSessions('bob');
        assert.deepEqual(await protocol.sessions.listDeviceIds('bob'), []);
        assert.deepEqual(await protocol.sessions.listDeviceIds('bobby'), [1]);
      }));

    it('keeps verified device views per account, replaced whole, without prefix bleed', () =>
      withStore(async (store) => {
        const v = store.verifiedDevices;
        const accountKey = (await generateSigningKeyPair(ctx.crypto, ctx.random)).publicKey;
        const companion = (await generateSigningKeyPair(ctx.crypto, ctx.random)).publicKey;
        assert.equal(await v.getAccount('bob'), undefined);
        assert.deepEqual(await v.listDevices('bob'), []);
        const header = {
          accountKey: accountKey.serialize().slice(),
          list: { timestamp: 1_700_000_000, rawId: 77, currentIndex: 3, validIndexes: [1, 3] },
          updatedAt: 5,
        };
        const primary = {
          deviceId: 1,
          identityKey: accountKey.serialize().slice(),
          keyIndex: 0,
          registrationId: 11,
        };
        const second = {
          deviceId: 12,
          identityKey: companion.serialize().slice(),
          keyIndex: 3,
          registrationId: 22,
        };
        await v.replace('bob', { account: header, devices: [second, primary] });
        await v.replace('bobby', { account: { ...header, list: undefined }, devices: [primary] });
        assert.deepEqual(await v.getAccount('bob'), header);
        assert.deepEqual(await v.getAccount('bobby'), { ...header, list: undefined });
        assert.deepEqual(await v.listDevices('bob'), [primary, second], 'sorted by device id');
        assert.deepEqual(await v.getDevice('bob', 12), second);
        assert.equal(await v.getDevice('bob', 2), undefined);

        // A replacement drops devices that are no longer verified.
        await v.replace('bob', { account: { ...header, updatedAt: 6 }, devices: [primary] });
        assert.deepEqual(await v.listDevices('bob'), [primary]);
        await v.putDevice('bob', second);
        assert.deepEqual(await v.getDevice('bob', 12), second);
        assert.equal((await v.listDevices('bobby')).length, 1, 'bobby untouched');

        await v.delete('bob');
        assert.equal(await v.getAccount('bob'), undefined);
        assert.deepEqual(await v.listDevices('bob'), []);
        assert.ok(await v.getAccount('bobby'));
      }));

    it('refuses a damaged verified device record with a typed error', () =>
      withStore(async (store) => {
        await store.transaction(async (tx) => {
          await tx.verifiedDevices.replace('bob', {
            account: { accountKey: new Uint8Array(33).fill(5), list: undefined, updatedAt: 0 },
            devices: [],
          });
        });
        // A stored key of the wrong length is local corruption, not a crash.
        await assert.rejects(
          store.transaction(async (tx) => {
            await tx.verifiedDevices.replace('bob', {
              account: { accountKey: new Uint8Array(3), list: undefined, updatedAt: 0 },
              devices: [],
            });
            await tx.verifiedDevices.getAccount('bob');
          }),
          (e) => ClientError.is(e, 'invalid-record'),
        );
        assert.ok(
          await store.verifiedDevices.getAccount('bob'),
          'the failed transaction wrote nothing',
        );
      }));

    it('trusts identities from the verified view: pinned account key, ADV keys, no companion TOFU', () =>
      withStore(async (store) => {
        const identity = await generateSigningKeyPair(ctx.crypto, ctx.random);
        await store.protocol.identity.setLocalIdentity(identity, 1);
        const accountKey = (await generateSigningKeyPair(ctx.crypto, ctx.random)).publicKey;
        const companion = (await generateSigningKeyPair(ctx.crypto, ctx.random)).publicKey;
        const other = (await generateSigningKeyPair(ctx.crypto, ctx.random)).publicKey;
        const trusted = (name: string, device: number, key: typeof accountKey) =>
          store.protocol.identity.isTrustedIdentity(protocolAddress(name, device), key, 'sending');
        // Without a view: the primary is trust-on-first-use, a companion never.
        assert.equal(await trusted('carol', 1, other), true);
        assert.equal(await trusted('carol', 2, other), false);

        await store.verifiedDevices.replace('bob', {
          account: { accountKey: accountKey.serialize().slice(), list: undefined, updatedAt: 0 },
          devices: [
            {
              deviceId: 1,
              identityKey: accountKey.serialize().slice(),
              keyIndex: 0,
              registrationId: 1,
            },
            {
              deviceId: 3,
              identityKey: companion.serialize().slice(),
              keyIndex: 1,
              registrationId: 2,
            },
          ],
        });
        assert.equal(await trusted('bob', 1, accountKey), true);
        assert.equal(await trusted('bob', 1, other), false, 'not the pinned account key');
        assert.equal(await trusted('bob', 3, companion), true);
        assert.equal(await trusted('bob', 3, other), false, 'not the ADV-verified key');
        assert.equal(await trusted('bob', 4, other), false, 'an unverified device');
        // Saving a key (as the session code does) does not override the view.
        await store.protocol.identity.saveIdentity(protocolAddress('bob', 1), other);
        assert.equal(await trusted('bob', 1, other), false);
      }));

    it('keeps account trust decisions per account, and refuses damaged ones', () =>
      withStore(async (store) => {
        const key = new Uint8Array(33).fill(7);
        const other = new Uint8Array(33).fill(8);
        assert.equal(await store.accountTrust.get('bob'), undefined);
        await store.accountTrust.put('bob', {
          verifiedKey: key,
          pendingKey: other,
          pendingSince: 1234,
        });
        await store.accountTrust.put('bobby', {
          verifiedKey: undefined,
          pendingKey: undefined,
          pendingSince: 0,
        });
        assert.deepEqual(await store.accountTrust.get('bob'), {
          verifiedKey: key,
          pendingKey: other,
          pendingSince: 1234,
        });
        assert.deepEqual(await store.accountTrust.get('bobby'), {
          verifiedKey: undefined,
          pendingKey: undefined,
          pendingSince: 0,
        });
        await assert.rejects(
          store.transaction(async (tx) => {
            await tx.accountTrust.put('bob', {
              verifiedKey: new Uint8Array(3),
              pendingKey: undefined,
              pendingSince: 0,
            });
            await tx.accountTrust.get('bob');
          }),
          (e) => ClientError.is(e, 'invalid-record'),
        );
        assert.deepEqual((await store.accountTrust.get('bob'))?.pendingKey, other, 'unchanged');
        await store.accountTrust.delete('bob');
        assert.equal(await store.accountTrust.get('bob'), undefined);
        assert.ok(await store.accountTrust.get('bobby'));
      }));

    it('keeps read marks per chat and message', () =>
      withStore(async (store) => {
        const id = new Uint8Array(16).fill(3);
        assert.equal(await store.read.readAt('bob', id), undefined);
        await store.read.markRead('bob', id, 1234.5);
        assert.equal(await store.read.readAt('bob', id), 1234.5);
        assert.equal(await store.read.readAt('bobby', id), undefined);
        assert.equal(await store.read.readAt('bob', new Uint8Array(16)), undefined);
      }));
  });
}
