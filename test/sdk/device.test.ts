/**
 * The SDK's public surface against the real server: typed events (a
 * message, its delivery receipt, a read receipt), the stable error codes of
 * bad input and refusals, and what `close()` promises (idempotent, pending
 * calls reject with `closed`, the event iterator ends, the store is closed).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunningServer } from '../../src/server/main.js';
import {
  ClientError,
  LinkingError,
  nodePlatform,
  openProfileStore,
  openSession,
  parseAccountName,
  parseDeviceId,
  profileExists,
  QuintetDevice,
  registerDevice,
  type MessageEvent,
  type QuintetEvent,
  type ReceiptEvent,
} from '../../src/sdk/index.js';
import { memoryStore, nextEvent, registeredDevice, sdkServer } from './helpers.js';

const isMessage = (event: QuintetEvent): event is MessageEvent => event.type === 'message';
const isReceipt =
  (kind: 'delivery' | 'read') =>
  (event: QuintetEvent): event is ReceiptEvent =>
    event.type === 'receipt' && event.kind === kind;

describe('SDK: QuintetDevice', { timeout: 120_000 }, () => {
  let server: RunningServer;
  const opened: QuintetDevice[] = [];
  const dirs: string[] = [];

  before(async () => {
    server = await sdkServer();
  });
  after(async () => {
    for (const device of opened) await device.close();
    await server.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  async function device(name: string): Promise<QuintetDevice> {
    const made = await registeredDevice(name, server.url);
    opened.push(made);
    return made;
  }

  it('delivers a text as a typed message event, with delivery and read receipts back', async () => {
    const alice = await device('sdk-alice');
    const bob = await device('sdk-bob');
    assert.equal(alice.account, 'sdk-alice');
    assert.equal(alice.deviceId, 1);
    assert.equal(alice.isPrimary, true);
    const bobEvents = bob.events[Symbol.asyncIterator]();
    const aliceEvents = alice.events[Symbol.asyncIterator]();

    const sent = await alice.sendText(parseAccountName('sdk-bob'), 'hello bob');
    const got = await nextEvent(bobEvents, isMessage);
    assert.equal(got.message.text, 'hello bob');
    assert.equal(got.message.sender, 'sdk-alice');
    assert.deepEqual(got.message.id, sent.message.id);

    const delivered = await nextEvent(aliceEvents, isReceipt('delivery'));
    assert.equal(delivered.from, 'sdk-bob');
    assert.deepEqual(delivered.messageIds, [sent.message.id]);

    await bob.markRead(parseAccountName('sdk-alice'), [got.message.id]);
    const read = await nextEvent(aliceEvents, isReceipt('read'));
    assert.deepEqual(read.messageIds, [sent.message.id]);
  });

  it('lists its devices', async () => {
    const carol = await device('sdk-carol');
    const devices = await carol.listDevices();
    assert.deepEqual(
      devices.map((d) => [d.deviceId, d.primary, d.current]),
      [[1, true, true]],
    );
  });

  it('refuses bad input with stable codes, and loses nothing', async () => {
    for (const bad of ['', 'Bob', 'b', '1abc', 'bob!', 'аlice']) {
      assert.throws(
        () => parseAccountName(bad),
        (error) => ClientError.is(error, 'invalid-argument'),
      );
    }
    for (const bad of [0, -1, 1.5, 2 ** 31, '', '2x', ' 2']) {
      assert.throws(
        () => parseDeviceId(bad),
        (error) => ClientError.is(error, 'invalid-argument'),
      );
    }
    assert.equal(parseDeviceId('7'), 7);

    // An empty store cannot be opened; a registered one cannot register again.
    await assert.rejects(
      QuintetDevice.open({ store: memoryStore(), platform: nodePlatform }),
      (error) => ClientError.is(error, 'not-registered'),
    );
    const dave = await device('sdk-dave');
    await assert.rejects(
      registerDevice({
        store: dave.store,
        platform: nodePlatform,
        servers: server.url,
        account: 'sdk-dave2',
      }),
      (error) => ClientError.is(error, 'already-registered'),
    );
    // A taken name is the server's refusal, with its wire code.
    await assert.rejects(
      registerDevice({
        store: memoryStore(),
        platform: nodePlatform,
        servers: server.url,
        account: 'sdk-dave',
      }),
      (error) => ClientError.isServer(error, 'account-taken'),
    );
    // A bad server list is refused before any connection.
    await assert.rejects(
      registerDevice({
        store: memoryStore(),
        platform: nodePlatform,
        servers: 'ftp://example',
        account: 'sdk-erin',
      }),
      (error) => ClientError.is(error, 'invalid-argument'),
    );
    // A companion-only call on the primary, a primary-only call guarded.
    await assert.rejects(dave.logout(), (error) => LinkingError.is(error, 'primary-cannot-logout'));
    // The device still works after every refusal.
    const sent = await dave.sendText(parseAccountName('sdk-dave'), 'note to self');
    assert.equal(sent.message.text, 'note to self');
  });

  it('a refused local-auth step links nothing', async () => {
    const frank = await device('sdk-frank');
    const refusal = new Error('PIN refused');
    let asked = false;
    await assert.rejects(
      frank.approve('quintet://link#not-even-decoded', {
        authorize: () => {
          asked = true;
          return Promise.reject(refusal);
        },
      }),
      (error) => error === refusal,
    );
    assert.equal(asked, true);
  });

  it('close(): idempotent, pending calls reject with closed, events end, store closed', async () => {
    const gina = await device('sdk-gina');
    const events: QuintetEvent[] = [];
    const drained = (async () => {
      for await (const event of gina.events) events.push(event);
    })();
    // Opened on a port nobody listens on: calls wait for a connection.
    const offline = await QuintetDevice.open({
      store: gina.store,
      platform: nodePlatform,
      servers: 'http://127.0.0.1:9',
      ownsStore: false,
    });
    const pending = assert.rejects(
      offline.sendText(parseAccountName('sdk-gina'), 'never sent'),
      (error) => ClientError.is(error, 'closed'),
    );
    const ready = assert.rejects(offline.ready(), (error) => ClientError.is(error, 'closed'));
    await offline.close();
    await pending;
    await ready;
    await assert.rejects(offline.listDevices(), (error) => ClientError.is(error, 'closed'));

    const first = gina.close();
    const second = gina.close();
    await Promise.all([first, second]);
    await drained;
    const last = events.at(-1);
    assert.equal(last?.type, 'connection');
    assert.equal(last.type === 'connection' && last.state, 'stopped');
    assert.equal(gina.stopReason, 'stopped');
    await assert.rejects(gina.sendText(parseAccountName('sdk-gina'), 'late'), (error) =>
      ClientError.is(error, 'closed'),
    );
    // The store went with the device (opened without ownsStore: false).
    await assert.rejects(gina.store.account.get());
  });

  it('a profile directory holds a device across runs; openSession sends one-shot', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'quintet-sdk-'));
    dirs.push(dir);
    const helen = await device('sdk-helen');
    const made = await registerDevice({
      store: () => openProfileStore(dir, { create: true }),
      platform: nodePlatform,
      servers: server.url,
      account: 'sdk-ivan',
    });
    await made.store.close();
    assert.equal(profileExists(dir), true);

    const store = openProfileStore(dir);
    const session = await openSession({ store, platform: nodePlatform, receive: false });
    try {
      assert.equal(session.account.account, 'sdk-ivan');
      await session.client.sendText('sdk-helen', 'from a one-shot session');
    } finally {
      await session.close();
      await store.close();
    }
    const got = await nextEvent(helen.events[Symbol.asyncIterator](), isMessage);
    assert.equal(got.message.text, 'from a one-shot session');
  });

  it('registering against no reachable server leaves no store behind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'quintet-sdk-'));
    dirs.push(dir);
    await assert.rejects(
      registerDevice({
        store: () => openProfileStore(join(dir, 'p'), { create: true }),
        platform: nodePlatform,
        servers: 'http://127.0.0.1:9',
        account: 'sdk-jane',
      }),
      (error) => ClientError.is(error, 'connect-failed'),
    );
    assert.equal(profileExists(join(dir, 'p')), false);
  });
});
