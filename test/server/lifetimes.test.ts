import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Push } from '../../src/gen/quintet/v1/transport_pb.js';
import {
  authenticateOver,
  newIdentity,
  reconnect,
  registeredDevice,
  registerOver,
  sendTo,
} from './helpers/device.js';
import { assertError, linkCompanion } from './helpers/linking.js';
import { RawClient } from './helpers/raw-client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const DAY = 24 * 60 * 60 * 1000;

async function withServer(
  body: (t: TestServer) => Promise<void>,
  options: Parameters<typeof startTestServer>[0] = {},
): Promise<void> {
  const t = await startTestServer(options);
  try {
    await body(t);
  } finally {
    await t.close();
  }
}

async function loggedOutReason(client: RawClient): Promise<string> {
  for (;;) {
    const push: Push = await client.nextPush();
    if (push.kind.case === 'loggedOut') return push.kind.value.reason;
  }
}

/** Closes a client and waits until the server recorded its last-seen time. */
async function disconnect(client: RawClient): Promise<void> {
  client.close();
  await client.closed;
  await new Promise((resolve) => setTimeout(resolve, 30));
}

describe('device lifetimes', () => {
  it('logs companions out (even online ones) when the primary is away 14 days', () =>
    withServer(async (t) => {
      const primary = await registeredDevice(t.wsUrl, 'life1');
      const online = await linkCompanion(t.wsUrl, primary, { keyIndex: 1, listTimestamp: 1001 });
      await disconnect(primary.client);
      t.clock.advance(14 * DAY - 1000);
      assert.equal(await t.server.sweepInactiveDevices(), 0);
      t.clock.advance(2000);
      assert.equal(await t.server.sweepInactiveDevices(), 1);
      assert.equal(await loggedOutReason(online.client), 'primary-inactive');
      assert.equal((await online.client.closed).code, 4003);
      assert.equal(await t.store.accounts.getDevice('life1', 2), undefined);
      assert.equal(t.server.metrics.devicesRemoved.get('primary-inactive'), 1);
    }));

  it('keeps companions of a connected primary, but removes one idle for 30 days', () =>
    withServer(async (t) => {
      const primary = await registeredDevice(t.wsUrl, 'life2');
      const companion = await linkCompanion(t.wsUrl, primary, { keyIndex: 1, listTimestamp: 1001 });
      await disconnect(companion.client);
      t.clock.advance(29 * DAY);
      assert.equal(await t.server.sweepInactiveDevices(), 0);
      t.clock.advance(2 * DAY);
      assert.equal(await t.server.sweepInactiveDevices(), 1);
      const back = await RawClient.connect(t.wsUrl);
      const login = await authenticateOver(back, 'life2', 2, companion.identity);
      assertError(login, 'device-removed');
      assert.match(login.error?.message ?? '', /inactive/);
      // The primary, connected all along, is told about its own account.
      let push = await primary.client.nextPush();
      while (push.kind.case !== 'deviceListChanged') push = await primary.client.nextPush();
      back.close();
      primary.client.close();
    }));

  it('refuses a companion at login once its primary has been away too long', () =>
    withServer(async (t) => {
      const primary = await registeredDevice(t.wsUrl, 'life3');
      const companion = await linkCompanion(t.wsUrl, primary, { keyIndex: 1, listTimestamp: 1001 });
      await disconnect(companion.client);
      await disconnect(primary.client);
      t.clock.advance(15 * DAY);
      const back = await RawClient.connect(t.wsUrl);
      const login = await authenticateOver(back, 'life3', 2, companion.identity);
      assertError(login, 'device-removed');
      assert.match(login.error?.message ?? '', /primary-inactive/);
      // The primary itself is never removed for inactivity.
      const primaryBack = await reconnect(t.wsUrl, primary);
      primaryBack.client.close();
      back.close();
    }));

  it('honours configured lifetimes', () =>
    withServer(
      async (t) => {
        const primary = await registeredDevice(t.wsUrl, 'life4');
        await linkCompanion(t.wsUrl, primary, { keyIndex: 1, listTimestamp: 1001 });
        await disconnect(primary.client);
        t.clock.advance(1001);
        assert.equal(await t.server.sweepInactiveDevices(), 1);
      },
      { limits: { primaryInactiveMs: 1000 } },
    ));
});

describe('re-registration of an account name', () => {
  it('is refused without --allow-reregistration', () =>
    withServer(async (t) => {
      const primary = await registeredDevice(t.wsUrl, 'again1');
      const client = await RawClient.connect(t.wsUrl);
      assertError(await registerOver(client, 'again1', await newIdentity()), 'account-taken');
      client.close();
      primary.client.close();
    }));

  it('replaces the primary, logs companions out and clears queues when allowed', () =>
    withServer(
      async (t) => {
        const old = await registeredDevice(t.wsUrl, 'again2');
        const companion = await linkCompanion(t.wsUrl, old, { keyIndex: 1, listTimestamp: 1001 });
        const watcher = await registeredDevice(t.wsUrl, 'againwatch2');
        const devices = [
          { deviceId: 1, registrationId: old.identity.registrationId },
          { deviceId: 2, registrationId: companion.identity.registrationId },
        ];
        await disconnect(old.client);
        assert.equal((await sendTo(watcher.client, 'again2', devices)).error, undefined);
        assert.equal(await t.store.queue.count('again2', 1), 1);

        const fresh = await newIdentity();
        const client = await RawClient.connect(t.wsUrl);
        const response = await registerOver(client, 'again2', fresh);
        assert.equal(response.error, undefined, response.error?.message);
        assert.equal(await loggedOutReason(companion.client), 'account-reset');
        let push = await watcher.client.nextPush();
        while (push.kind.case !== 'deviceListChanged') push = await watcher.client.nextPush();
        assert.equal(push.kind.value.account, 'again2');

        assert.equal(await t.store.queue.count('again2', 1), 0);
        assert.equal(await t.store.queue.count('again2', 2), 0);
        const listed = await t.store.accounts.listDevices('again2');
        assert.deepEqual(
          listed?.map((d) => d.deviceId),
          [1],
        );
        assert.deepEqual(listed?.[0]?.identityKey, fresh.identity.publicKey.serialize());
        const back = await RawClient.connect(t.wsUrl);
        const login = await authenticateOver(back, 'again2', 2, companion.identity);
        assertError(login, 'device-removed');
        assert.match(login.error?.message ?? '', /account-reset/);
        assertError(await authenticateOver(back, 'again2', 1, old.identity), 'invalid-signature');
        assert.equal(t.server.metrics.devicesRemoved.get('account-reset'), 1);
        // Sends now need the new registration id.
        const stale = await sendTo(watcher.client, 'again2', devices.slice(0, 1));
        assertError(stale, 'stale-devices');
        for (const c of [client, back, watcher.client]) c.close();
      },
      { allowReregistration: true },
    ));
});
