/**
 * The SDK's `postQuantum` option (default on) reaches the client through
 * `registerDevice`, `QuintetDevice.open` (and its reconnector) and
 * `openSession`: KEM prekeys are published, and a new session between two
 * such devices is v4; `false` opts out.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { protocolAddress } from '../../src/protocol/address.js';
import type { RunningServer } from '../../src/server/main.js';
import {
  nodePlatform,
  openSession,
  parseAccountName,
  registerDevice,
  type MessageEvent,
  type QuintetDevice,
  type QuintetEvent,
} from '../../src/sdk/index.js';
import { memoryStore, nextEvent, registeredDevice, sdkServer } from './helpers.js';

const isMessage = (event: QuintetEvent): event is MessageEvent => event.type === 'message';

describe('SDK: postQuantum option', { timeout: 120_000 }, () => {
  let server: RunningServer;
  const opened: QuintetDevice[] = [];
  before(async () => {
    server = await sdkServer();
  });
  after(async () => {
    for (const device of opened) await device.close();
    await server.close();
  });

  it('QuintetDevice.open({ postQuantum: true }) publishes KEM prekeys and talks v4', async () => {
    const alice = await registeredDevice('sdk-pq-alice', server.url, { postQuantum: true });
    const bob = await registeredDevice('sdk-pq-bob', server.url, { postQuantum: true });
    opened.push(alice, bob);
    await alice.client?.idle();
    await bob.client?.idle();
    const kem = server.store.kemPreKeys;
    assert.equal(await kem.countOneTimeKemPreKeys('sdk-pq-bob', 1), 20);
    const bobEvents = bob.events[Symbol.asyncIterator]();
    await alice.sendText(parseAccountName('sdk-pq-bob'), 'post-quantum hello');
    assert.equal((await nextEvent(bobEvents, isMessage)).message.text, 'post-quantum hello');
    const record = await alice.store.protocol.sessions.loadSession(
      protocolAddress('sdk-pq-bob', 1),
    );
    assert.equal(record?.current?.sessionVersion, 4);
  });

  it('KEM prekeys by default (at registration, or at the first open); none with postQuantum: false', async () => {
    const kem = server.store.kemPreKeys;
    // [name, registerDevice's option, openSession's option, after registering, after opening]
    for (const [name, atRegister, atOpen, registered, opened] of [
      ['sdk-pq-carol', undefined, undefined, 20, 20],
      ['sdk-pq-dave', false, false, 0, 0],
      // Made v3-only, then opened with the default: published at that start.
      ['sdk-pq-erin', false, undefined, 0, 20],
    ] as const) {
      const made = await registerDevice({
        store: memoryStore(),
        platform: nodePlatform,
        servers: server.url,
        account: name,
        ...(atRegister === undefined ? {} : { postQuantum: atRegister }),
      });
      assert.equal(await kem.countOneTimeKemPreKeys(name, 1), registered, name);
      const session = await openSession({
        store: made.store,
        platform: nodePlatform,
        ...(atOpen === undefined ? {} : { postQuantum: atOpen }),
      });
      await session.client.idle();
      await session.close();
      assert.equal(await kem.countOneTimeKemPreKeys(name, 1), opened, name);
      assert.equal((await kem.getLastResortKemPreKey(name, 1)) !== undefined, opened > 0, name);
    }
  });
});
