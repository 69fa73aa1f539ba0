/**
 * History sync end to end through the real server in-process (blob store
 * included): a primary with seeded chats approves a companion, sends
 * bootstrap state and the archive; the companion imports it while live
 * messages arrive; refusals (another device as source, a tampered blob)
 * leave the companion working. The primary's store is seeded directly
 * (faster than sending thousands of messages through the protocol).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { fromBinary } from '@bufbuild/protobuf';
import { HistoryImportRecordSchema } from '../../src/gen/quintet/v1/client_store_pb.js';
import { after, before, describe, it } from 'node:test';
import { QuintetClient } from '../../src/client/core/client.js';
import type { Clock } from '../../src/crypto/provider.js';
import type { ClientEvent, HistorySyncEvent } from '../../src/client/core/events.js';
import type { HistoryServices } from '../../src/client/core/history/importer.js';
import { listChats } from '../../src/client/core/chat-list.js';
import type { DeviceStore } from '../../src/client/core/store/device-store.js';
import type { StoredMessage } from '../../src/client/core/store/records.js';
import {
  BlobClient,
  BlobError,
  cachedBlobCredential,
} from '../../src/client/transport/blob-client.js';
import { WsTransport } from '../../src/client/transport/ws-transport.js';
import { zlibCompressor } from '../../src/client/platform/zlib-compressor.js';
import {
  contextFor,
  linkOne,
  registerPrimary,
  startTestServer,
  type Primary,
  type TestServer,
} from './linking-helpers.js';

const DAY = 86_400_000;
const GROUP = '0b7c6f3e-1111-4222-8333-944445555666';

interface Online {
  readonly client: QuintetClient;
  readonly events: AsyncIterator<ClientEvent>;
  readonly seen: ClientEvent[];
  waitFor(test: (event: ClientEvent) => boolean): Promise<ClientEvent>;
}

async function online(
  server: TestServer,
  store: DeviceStore,
  history: (blobs: BlobClient) => HistoryServices = (blobs) => ({
    blobs,
    compressor: zlibCompressor,
  }),
  clock?: Clock,
): Promise<Online> {
  const transport = await WsTransport.connect(server.server.url);
  const blobs = new BlobClient(
    server.server.url,
    cachedBlobCredential(() => client.getBlobCredential()),
  );
  const ctx = contextFor(server);
  const client: QuintetClient = new QuintetClient({
    ctx: clock === undefined ? ctx : { ...ctx, clock },
    store,
    transport,
    history: history(blobs),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.min(ms, 20))),
  });
  const events = client.events()[Symbol.asyncIterator]();
  await client.start();
  const seen: ClientEvent[] = [];
  const waiters: { test: (e: ClientEvent) => boolean; resolve: (e: ClientEvent) => void }[] = [];
  void (async () => {
    for (;;) {
      const next = await events.next();
      if (next.done === true) return;
      seen.push(next.value);
      for (const waiter of [...waiters]) {
        if (waiter.test(next.value)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(next.value);
        }
      }
    }
  })();
  return {
    client,
    events,
    seen,
    waitFor: (test) =>
      new Promise((resolve) => {
        const found = seen.find(test);
        if (found !== undefined) resolve(found);
        else waiters.push({ test, resolve });
      }),
  };
}

function isHistory(phase: HistorySyncEvent['phase']) {
  return (event: ClientEvent): boolean => event.type === 'history-sync' && event.phase === phase;
}

async function seed(
  primary: Primary,
  now: number,
  count: number,
  chats = ['bob', 'carol', GROUP],
  noisy = false,
): Promise<StoredMessage[]> {
  const messages: StoredMessage[] = [];
  // 100 older than 90 days (left out by default), the rest within.
  for (let i = 0; i < count + 100; i++) {
    const id = new Uint8Array(16);
    new DataView(id.buffer).setUint32(0, i + 1);
    const chat = chats[i % 3] ?? 'bob';
    const outgoing = i % 4 === 0;
    messages.push({
      id,
      chat,
      sender: outgoing ? primary.account : chat === GROUP ? 'bob' : chat,
      senderDevice: 1,
      // Noisy texts do not compress: the archive spans several frames.
      text: noisy ? `seeded ${i} ${Buffer.from(randomBytes(32)).toString('hex')}` : `seeded ${i}`,
      sentAt: i < 100 ? now - 120 * DAY + i : now - 60 * DAY + i * 1000,
      receivedAt: outgoing ? 0 : now - 60 * DAY + i * 1000 + 5,
      outgoing,
      receipts: {},
    });
  }
  for (let at = 0; at < messages.length; at += 500) {
    await primary.store.transaction(async (tx) => {
      for (const message of messages.slice(at, at + 500)) await tx.messages.put(message);
    });
  }
  return messages.slice(100);
}

async function committedSome(store: DeviceStore): Promise<boolean> {
  const bytes = await store.settings.get('history-import');
  return bytes !== undefined && fromBinary(HistoryImportRecordSchema, bytes).imported > 0;
}

async function allOf(store: DeviceStore, chat: string): Promise<StoredMessage[]> {
  const out: StoredMessage[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await store.messages.page(chat, { limit: 300, ...(after ? { after } : {}) });
    out.push(...page.messages);
    if (page.next === undefined) return out;
    after = page.next;
  }
}

describe('history sync', { timeout: 120_000 }, () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  it('links a companion with 90 days of history while live messages arrive', async () => {
    const alice = await registerPrimary(server, 'hs-alice');
    const bob = await registerPrimary(server, 'hs-bob');
    const seeded = await seed(alice, server.clock.now(), 1500, ['hs-bob', 'carol', GROUP]);
    const { store, linked } = await linkOne(server, alice);
    const primary = await online(server, alice.store);
    const bobOnline = await online(server, bob.store);

    // The companion's download waits until the live messages are in, so
    // they certainly arrive during the import.
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const companion = await online(server, store, (blobs) => ({
      compressor: zlibCompressor,
      blobs: {
        upload: (body, size, kind) => blobs.upload(body, size, kind),
        delete: (id) => blobs.delete(id),
        download: async function* (id, options) {
          await gate;
          yield* blobs.download(id, options);
        },
      },
    }));

    // Sent before the archive is built: both in the archive and live.
    const early = await bobOnline.client.sendText('hs-alice', 'early');
    await primary.waitFor((e) => e.type === 'message' && e.message.text === 'early');
    await companion.waitFor((e) => e.type === 'message' && e.message.text === 'early');
    const sent = await primary.client.sendHistory(linked.account.deviceId, { days: 90 });
    assert.equal(sent.messages, seeded.length + 1);
    assert.ok(early.message.id.length === 16);
    await companion.waitFor(isHistory('bootstrap'));
    await companion.waitFor(isHistory('started'));
    const live: Uint8Array[] = [];
    for (let i = 0; i < 100; i++) {
      live.push((await bobOnline.client.sendText('hs-alice', `live ${i}`)).message.id);
    }
    for (const id of live) {
      await companion.waitFor(
        (e) => e.type === 'message' && Buffer.from(e.message.id).equals(Buffer.from(id)),
      );
    }
    release();
    const done = await companion.waitFor(isHistory('done'));
    assert.equal(done.type === 'history-sync' && done.messages, seeded.length + 1);

    let total = 0;
    for (const chat of ['carol', GROUP, 'hs-bob']) {
      const messages = await allOf(store, chat);
      // hs-bob: the archived ones, "early" (archived and live: once), 100 live.
      const extra = chat === 'hs-bob' ? 101 : 0;
      const expected = seeded.filter((m) => m.chat === chat).length + extra;
      assert.equal(messages.length, expected, chat);
      const ids = new Set(messages.map((m) => Buffer.from(m.id).toString('hex')));
      assert.equal(ids.size, messages.length, `no duplicates in ${chat}`);
      const times = messages.map((m) => m.sentAt);
      assert.deepEqual(
        times,
        [...times].sort((a, b) => a - b),
        `time order in ${chat}`,
      );
      total += messages.length;
    }
    assert.equal(total, seeded.length + 101);
    // The import record is gone and the blob deleted.
    assert.equal(await store.settings.get('history-import'), undefined);
    const progress = companion.seen.filter(isHistory('progress'));
    assert.ok(progress.length >= 3, 'progress in batches');

    await Promise.all([primary.client.close(), bobOnline.client.close(), companion.client.close()]);
  });

  it('refuses history from another device and a tampered archive; the companion keeps working', async () => {
    const alice = await registerPrimary(server, 'hs-ann');
    const bob = await registerPrimary(server, 'hs-ben');
    await seed(alice, server.clock.now(), 200);
    const first = await linkOne(server, alice, 'first');
    const second = await linkOne(server, alice, 'second');
    const primary = await online(server, alice.store);
    const other = await online(server, second.store);
    const companion = await online(server, first.store, (blobs) => ({
      compressor: zlibCompressor,
      blobs: {
        upload: (body, size, kind) => blobs.upload(body, size, kind),
        delete: (id) => blobs.delete(id),
        // Flips one byte in the middle of the blob.
        download: async function* (id, options) {
          let at = 0;
          for await (const piece of blobs.download(id, options)) {
            const copy = piece.slice();
            if (at <= 200 && 200 < at + copy.length) copy[200 - at] = (copy[200 - at] ?? 0) ^ 1;
            at += copy.length;
            yield copy;
          }
        },
      },
    }));

    // Another companion of the same account is not the approving primary.
    await other.client.sendHistory(first.linked.account.deviceId, 'all');
    const refused = await companion.waitFor(isHistory('failed'));
    assert.equal(refused.type === 'history-sync' && refused.code, 'wrong-source');

    await primary.client.sendHistory(first.linked.account.deviceId, 'all');
    const tampered = await companion.waitFor(
      (e) => isHistory('failed')(e) && e.type === 'history-sync' && e.code !== 'wrong-source',
    );
    assert.equal(tampered.type === 'history-sync' && tampered.code, 'bad-mac');
    assert.deepEqual(await allOf(first.store, 'carol'), [], 'nothing imported from it');

    const bobOnline = await online(server, bob.store);
    const { message } = await bobOnline.client.sendText('hs-ann', 'still here');
    await companion.waitFor((e) => e.type === 'message' && e.message.text === 'still here');
    assert.equal((await allOf(first.store, 'hs-ben')).length, 1);
    assert.ok(message.id.length === 16);
    await Promise.all([
      primary.client.close(),
      other.client.close(),
      companion.client.close(),
      bobOnline.client.close(),
    ]);
  });

  it('declined history still delivers bootstrap state (group memberships)', async () => {
    const alice = await registerPrimary(server, 'hs-amy');
    const { store, linked } = await linkOne(server, alice);
    const primary = await online(server, alice.store);
    const group = await primary.client.groups.create('g', []);
    const companion = await online(server, store);
    const result = await primary.client.sendHistory(linked.account.deviceId, 'none');
    assert.equal(result.messages, undefined);
    await companion.waitFor(isHistory('declined'));
    await companion.client.idle();
    const groups = await store.groups.listGroups();
    assert.ok(groups.includes(group.groupId), 'the companion knows the group');
    await Promise.all([primary.client.close(), companion.client.close()]);
  });
  it('a failing archive still delivers contacts, read states and shared settings', async () => {
    const alice = await registerPrimary(server, 'hs-ava');
    const seeded = await seed(alice, server.clock.now(), 30, ['hs-bo', 'hs-cy', GROUP]);
    const read = seeded.find((m) => m.chat === 'hs-bo' && !m.outgoing);
    assert.ok(read !== undefined);
    const readAt = server.clock.now() - DAY;
    await alice.store.read.markRead('hs-bo', read.id, readAt);
    await alice.store.settings.put('shared.example', Uint8Array.of(42));
    const { store, linked } = await linkOne(server, alice);
    // The primary's blob store refuses the upload: the archive fails.
    const primary = await online(server, alice.store, (blobs) => ({
      compressor: zlibCompressor,
      blobs: {
        upload: () => Promise.reject(new BlobError('quota-exceeded', 'full')),
        delete: (id) => blobs.delete(id),
        download: (id, options) => blobs.download(id, options),
      },
    }));
    const companion = await online(server, store);
    const result = await primary.client.sendHistory(linked.account.deviceId, 'all');
    assert.match(result.error ?? '', /quota-exceeded/);
    await companion.waitFor(isHistory('bootstrap'));
    const failed = await companion.waitFor(isHistory('failed'));
    assert.equal(failed.type === 'history-sync' && failed.code, 'source-failed');
    await companion.client.idle();
    assert.deepEqual(await store.contacts.list(), ['hs-bo', 'hs-cy']);
    assert.deepEqual(await store.settings.get('shared.example'), Uint8Array.of(42));
    const chats = await listChats(store, 'hs-ava');
    assert.deepEqual(
      chats.map((c) => c.chat),
      ['hs-bo', 'hs-cy'],
      'both contacts, before any message',
    );
    await Promise.all([primary.client.close(), companion.client.close()]);
  });

  it('marks read a live message after the bootstrap sent before the chat’s read marker', async () => {
    const alice = await registerPrimary(server, 'hs-ari');
    const bob = await registerPrimary(server, 'hs-bea');
    const seeded = await seed(alice, server.clock.now(), 9, ['hs-bea', 'hs-bea', 'hs-bea']);
    const read = seeded.find((m) => !m.outgoing);
    assert.ok(read !== undefined);
    // The primary read the chat at `marker`: its read state for hs-bea.
    const marker = server.clock.now() - DAY;
    await alice.store.read.markRead('hs-bea', read.id, marker);
    const { store, linked } = await linkOne(server, alice);
    const primary = await online(server, alice.store);
    const companion = await online(server, store);
    await primary.client.sendHistory(linked.account.deviceId, 'none');
    await companion.waitFor(isHistory('declined'));
    await companion.client.idle();

    // Both arrive after the bootstrap; bob's clock says when each was sent
    // (one sent before the primary's last read, one after).
    const early = await online(server, bob.store, undefined, { now: () => marker - 60_000 });
    const before = await early.client.sendText('hs-ari', 'sent before the read');
    await early.client.close();
    const late = await online(server, bob.store, undefined, { now: () => marker + 60_000 });
    const after = await late.client.sendText('hs-ari', 'sent after the read');
    await late.client.close();
    await companion.waitFor(
      (e) => e.type === 'message' && e.message.text === 'sent after the read',
    );
    await companion.client.idle();

    assert.equal(await store.read.readAt('hs-bea', before.message.id), marker);
    assert.equal(await store.read.readAt('hs-bea', after.message.id), undefined);
    const [chat] = await listChats(store, 'hs-ari');
    assert.equal(chat?.unread, 1, 'only the one sent after the read is unread');
    // The primary has no marker: the same message stays unread there.
    await primary.client.idle();
    assert.equal(await alice.store.read.readAt('hs-bea', before.message.id), undefined);
    await Promise.all([primary.client.close(), companion.client.close()]);
  });

  it('resumes an import cut off by a failure after a restart, without duplicates', async () => {
    const alice = await registerPrimary(server, 'hs-ada');
    const seeded = await seed(alice, server.clock.now(), 3000, undefined, true);
    const { store, linked } = await linkOne(server, alice);
    const primary = await online(server, alice.store);
    // The first run's download dies after ~60% of the blob, as a network
    // failure would (the blob client's own resume is not what is tested).
    let size = 0;
    const first = await online(server, store, (blobs) => ({
      compressor: zlibCompressor,
      blobs: {
        upload: (body, n, kind) => blobs.upload(body, n, kind),
        delete: (id) => blobs.delete(id),
        download: async function* (id, options) {
          let at = 0;
          for await (const piece of blobs.download(id, options)) {
            const cut = Math.floor(size * 0.6);
            if (size > 0 && at + piece.length > cut) {
              // Up to the cut, then fail once a batch is committed (so
              // there is something to resume after).
              yield piece.subarray(0, Math.max(0, cut - at));
              while (!(await committedSome(store))) await new Promise((r) => setTimeout(r, 10));
              throw new BlobError('unavailable', 'cut');
            }
            at += piece.length;
            yield piece;
          }
        },
      },
    }));
    const sent = await primary.client.sendHistory(linked.account.deviceId, 'all');
    size = sent.bytes ?? 0;
    const failed = await first.waitFor(isHistory('failed'));
    assert.equal(failed.type === 'history-sync' && failed.code, 'unavailable');
    await first.client.close();
    let partial = 0;
    for (const chat of ['bob', 'carol', GROUP]) partial += (await allOf(store, chat)).length;
    assert.ok(await store.settings.get('history-import'), 'the import is still recorded');

    // "Restart": a new client on the same store resumes on start.
    const second = await online(server, store);
    const done = await second.waitFor(isHistory('done'));
    assert.equal(done.type === 'history-sync' && done.messages, seeded.length + 100);
    let total = 0;
    for (const chat of ['bob', 'carol', GROUP]) total += (await allOf(store, chat)).length;
    assert.equal(total, seeded.length + 100, 'every message once');
    assert.ok(partial > 0, 'the first run had committed batches');
    assert.equal(await store.settings.get('history-import'), undefined);
    await Promise.all([primary.client.close(), second.client.close()]);
  });
});
