/**
 * The SDK device over a list of server URLs: it connects to the first that
 * answers, and when its server goes away it reconnects to the next one and
 * keeps sending and receiving. Two in-process servers share one in-memory
 * store, as cluster nodes share PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { startServer, type RunningServer } from '../../src/server/main.js';
import { createMemoryStore } from '../../src/server/store/memory.js';
import type { ServerStore } from '../../src/server/store/types.js';
import {
  parseAccountName,
  type ConnectionStateEvent,
  type MessageEvent,
  type QuintetDevice,
  type QuintetEvent,
} from '../../src/sdk/index.js';
import { nextEvent, registeredDevice } from './helpers.js';

/** Nobody listens here: connecting fails at once. */
const DEAD_URL = 'http://127.0.0.1:9';

const isOnline = (event: QuintetEvent): event is ConnectionStateEvent =>
  event.type === 'connection' && event.state === 'online';
const isMessage = (event: QuintetEvent): event is MessageEvent => event.type === 'message';

describe('SDK: server lists', { timeout: 120_000 }, () => {
  const servers: RunningServer[] = [];
  const devices: QuintetDevice[] = [];
  let store: ServerStore | undefined;

  after(async () => {
    for (const device of devices) await device.close();
    for (const server of servers) await server.close();
    await store?.close();
  });

  async function pair(): Promise<[RunningServer, RunningServer]> {
    store = createMemoryStore();
    // Each server closes its store when it stops; the survivor keeps using it.
    const shared: ServerStore = { ...store, close: () => Promise.resolve() };
    const start = (): Promise<RunningServer> =>
      startServer({
        port: 0,
        store: shared,
        logLevel: 'silent',
        limits: { registrationBurst: 1_000_000 },
      });
    const one = await start();
    const two = await start();
    servers.push(one, two);
    return [one, two];
  }

  it('skips an unreachable first URL, and moves to the next server when its own goes away', async () => {
    const [one, two] = await pair();
    const fast = { backoff: { baseDelayMs: 20, maxDelayMs: 100 } };
    const alice = await registeredDevice('fo-alice', [DEAD_URL, one.url, two.url], fast);
    devices.push(alice);
    assert.equal(alice.server, one.url, 'the first reachable server');
    // Without a bus a server pushes only what it stored itself: bob follows alice's moves.
    const bob = await registeredDevice('fo-bob', [one.url, two.url], fast);
    devices.push(bob);
    const aliceEvents = alice.events[Symbol.asyncIterator]();
    const bobEvents = bob.events[Symbol.asyncIterator]();

    await alice.sendText(parseAccountName('fo-bob'), 'via one');
    assert.equal((await nextEvent(bobEvents, isMessage)).message.text, 'via one');

    // Server one goes away: the device rotates (past the dead URL) to two.
    const closing = one.close();
    servers.splice(servers.indexOf(one), 1);
    await closing;
    await nextEvent(aliceEvents, isOnline, 30_000);
    await nextEvent(bobEvents, isOnline, 30_000);
    assert.equal(alice.server, two.url);
    assert.equal(bob.server, two.url);

    await alice.sendText(parseAccountName('fo-bob'), 'via two');
    assert.equal((await nextEvent(bobEvents, isMessage)).message.text, 'via two');
    await bob.sendText(parseAccountName('fo-alice'), 'back to alice');
    assert.equal((await nextEvent(aliceEvents, isMessage)).message.text, 'back to alice');
  });
});
