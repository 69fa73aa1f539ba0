import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Push } from '../../src/gen/quintet/v1/transport_pb.js';
import { EnvelopeType } from '../../src/gen/quintet/v1/transport_pb.js';
import {
  authenticateOver,
  registeredDevice,
  sendTo,
  signedList,
  type ConnectedDevice,
} from './helpers/device.js';
import { assertError, linkCompanion } from './helpers/linking.js';
import { RawClient, type RawClient as RawClientType } from './helpers/raw-client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/** The next push that is not an envelope or QueueDrained. */
async function nextNotice(client: RawClientType): Promise<Push> {
  for (;;) {
    const push = await client.nextPush();
    if (push.kind.case !== 'envelope' && push.kind.case !== 'queueDrained') return push;
  }
}

async function expectListChanged(client: RawClientType, account: string): Promise<void> {
  const push = await nextNotice(client);
  assert.ok(push.kind.case === 'deviceListChanged', `got ${push.kind.case}`);
  assert.equal(push.kind.value.account, account);
}

async function expectLoggedOut(client: RawClientType, reason: string): Promise<void> {
  const push = await nextNotice(client);
  assert.ok(push.kind.case === 'loggedOut', `got ${push.kind.case}`);
  assert.equal(push.kind.value.reason, reason);
  const closed = await client.closed;
  assert.equal(closed.code, 4003);
}

async function deviceIds(viewer: ConnectedDevice, account: string): Promise<number[]> {
  const response = await viewer.client.request({ case: 'getDevices', value: { account } });
  assert.ok(response.body.case === 'getDevices', response.error?.message);
  return response.body.value.devices.map((d) => d.deviceId);
}

describe('device management', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.close());

  it('removes a companion: LoggedOut, closed, keys and queue gone, login refused', async () => {
    const primary = await registeredDevice(t.wsUrl, 'rm1');
    const companion = await linkCompanion(t.wsUrl, primary, { keyIndex: 1, listTimestamp: 1001 });
    await expectListChanged(primary.client, 'rm1');
    const watcher = await registeredDevice(t.wsUrl, 'rmwatch1');
    assert.deepEqual(await deviceIds(watcher, 'rm1'), [1, 2]);
    // Something queued for the companion, which then goes offline... no: stays connected.
    const sent = await sendTo(watcher.client, 'rm1', [
      { deviceId: 1, registrationId: primary.identity.registrationId },
      { deviceId: 2, registrationId: companion.identity.registrationId },
    ]);
    assert.equal(sent.error, undefined);
    assert.equal(await t.store.queue.count('rm1', 2), 1);

    const removal = await primary.client.request({
      case: 'removeDevice',
      value: {
        deviceId: 2,
        signedKeyIndexList: await signedList(primary.identity, {
          timestamp: 1002,
          currentIndex: 1,
        }),
      },
    });
    assert.equal(removal.error, undefined, removal.error?.message);
    await expectLoggedOut(companion.client, 'removed');
    assert.equal(await t.store.queue.count('rm1', 2), 0);
    assert.equal(await t.store.preKeys.getSignedPreKey('rm1', 2), undefined);
    assert.equal(await t.store.preKeys.countOneTimePreKeys('rm1', 2), 0);
    assert.deepEqual(await deviceIds(watcher, 'rm1'), [1]);
    await expectListChanged(watcher.client, 'rm1');
    assert.equal(t.server.metrics.devicesRemoved.get('removed'), 1);

    const back = await RawClient.connect(t.wsUrl);
    const login = await authenticateOver(back, 'rm1', 2, companion.identity);
    assertError(login, 'device-removed');
    assert.match(login.error?.message ?? '', /removed/);
    // A device that never existed is still just unknown.
    assertError(await authenticateOver(back, 'rm1', 9, companion.identity), 'unknown-device');
    // Sends now expect the primary alone.
    const stale = await sendTo(watcher.client, 'rm1', [
      { deviceId: 1, registrationId: primary.identity.registrationId },
      { deviceId: 2, registrationId: companion.identity.registrationId },
    ]);
    assertError(stale, 'mismatched-devices');
    assert.deepEqual(stale.error?.extraDevices, [2]);
    for (const c of [primary.client, watcher.client, back]) c.close();
  });

  it('refuses bad removals', async () => {
    const primary = await registeredDevice(t.wsUrl, 'rm2');
    const companion = await linkCompanion(t.wsUrl, primary, { keyIndex: 1, listTimestamp: 1001 });
    const remove = async (who: ConnectedDevice, deviceId: number, list: Uint8Array) =>
      who.client.request({ case: 'removeDevice', value: { deviceId, signedKeyIndexList: list } });
    const good = await signedList(primary.identity, { timestamp: 1002, currentIndex: 1 });
    assertError(await remove(companion, 2, good), 'not-primary');
    assertError(await remove(primary, 1, good), 'malformed-request');
    assertError(await remove(primary, 7, good), 'unknown-device');
    // The new list must drop the device's index, be signed, and be newer.
    const stillThere = await signedList(primary.identity, { timestamp: 1002, validIndexes: [1] });
    assertError(await remove(primary, 2, stillThere), 'invalid-device-list');
    assertError(await remove(primary, 2, new Uint8Array([9, 9])), 'invalid-device-list');
    const old = await signedList(primary.identity, { timestamp: 1001, currentIndex: 1 });
    assertError(await remove(primary, 2, old), 'device-list-rollback');
    assert.deepEqual(await deviceIds(primary, 'rm2'), [1, 2]);
    primary.client.close();
    companion.client.close();
  });

  it('lets a companion log itself out, but not the primary', async () => {
    const primary = await registeredDevice(t.wsUrl, 'out1');
    const companion = await linkCompanion(t.wsUrl, primary, { keyIndex: 1, listTimestamp: 1001 });
    await expectListChanged(primary.client, 'out1');
    assertError(
      await primary.client.request({ case: 'logout', value: {} }),
      'primary-cannot-logout',
    );
    const response = await companion.client.request({ case: 'logout', value: {} });
    assert.equal(response.error, undefined, response.error?.message);
    await expectLoggedOut(companion.client, 'logout');
    await expectListChanged(primary.client, 'out1');
    assert.deepEqual(await deviceIds(primary, 'out1'), [1]);
    const back = await RawClient.connect(t.wsUrl);
    const login = await authenticateOver(back, 'out1', 2, companion.identity);
    assertError(login, 'device-removed');
    assert.match(login.error?.message ?? '', /logout/);
    // The primary then publishes a list without the index.
    const published = await primary.client.request({
      case: 'publishDeviceList',
      value: {
        signedKeyIndexList: await signedList(primary.identity, {
          timestamp: 1002,
          currentIndex: 1,
        }),
      },
    });
    assert.equal(published.error, undefined, published.error?.message);
    primary.client.close();
    back.close();
  });

  it('publishes newer lists only, from the primary only, and tells subscribers', async () => {
    const primary = await registeredDevice(t.wsUrl, 'pub1');
    const companion = await linkCompanion(t.wsUrl, primary, { keyIndex: 1, listTimestamp: 1001 });
    await expectListChanged(primary.client, 'pub1');
    const watcher = await registeredDevice(t.wsUrl, 'pubwatch1');
    await deviceIds(watcher, 'pub1'); // subscribes
    const publish = (who: ConnectedDevice, list: Uint8Array) =>
      who.client.request({ case: 'publishDeviceList', value: { signedKeyIndexList: list } });
    const newer = await signedList(primary.identity, { timestamp: 2000, validIndexes: [1] });
    assertError(await publish(companion, newer), 'not-primary');
    assertError(await publish(primary, new Uint8Array(0)), 'invalid-device-list');
    assertError(
      await publish(primary, await signedList(companion.identity, { timestamp: 3000 })),
      'invalid-device-list',
    );
    assertError(
      await publish(
        primary,
        await signedList(primary.identity, { timestamp: 1001, validIndexes: [1] }),
      ),
      'device-list-rollback',
    );
    assert.equal((await publish(primary, newer)).error, undefined);
    await expectListChanged(companion.client, 'pub1');
    await expectListChanged(watcher.client, 'pub1');
    assert.deepEqual((await t.store.accounts.getDeviceList('pub1'))?.timestamp, 2000);
    for (const c of [primary.client, companion.client, watcher.client]) c.close();
  });

  it('tells an account that messaged another when that account links a device', async () => {
    const primary = await registeredDevice(t.wsUrl, 'sub1');
    const sender = await registeredDevice(t.wsUrl, 'subsender1');
    const bystander = await registeredDevice(t.wsUrl, 'subby1');
    const sent = await sendTo(sender.client, 'sub1', [
      { deviceId: 1, registrationId: primary.identity.registrationId },
    ]);
    assert.equal(sent.error, undefined);
    await new Promise((resolve) => setTimeout(resolve, 20)); // the subscription is written off-path
    assert.deepEqual(await t.store.subscribers.listSubscribers('sub1'), ['subsender1']);
    const companion = await linkCompanion(t.wsUrl, primary, { keyIndex: 1, listTimestamp: 1001 });
    await expectListChanged(sender.client, 'sub1');
    assert.deepEqual(await bystander.client.drainPushesFor(50), []);
    for (const c of [primary.client, sender.client, bystander.client, companion.client]) c.close();
  });

  it('accepts refused devices in a send, and copies the sender identity onto PREKEY envelopes', async () => {
    const alice = await registeredDevice(t.wsUrl, 'ref1');
    const aliceCompanion = await linkCompanion(t.wsUrl, alice, {
      keyIndex: 1,
      listTimestamp: 1001,
    });
    const bob = await registeredDevice(t.wsUrl, 'refbob1');
    const toAlice = [{ deviceId: 1, registrationId: alice.identity.registrationId }];
    const send = (
      refusedDevices: number[],
      type = EnvelopeType.SIGNAL,
      identity = new Uint8Array(0),
    ) =>
      bob.client.request({
        case: 'sendMessage',
        value: {
          destination: 'ref1',
          timestamp: 1n,
          envelopes: toAlice.map((d) => ({ ...d, type, content: new Uint8Array([1]) })),
          refusedDevices,
          senderDeviceIdentity: identity,
        },
      });
    const missing = await send([]);
    assertError(missing, 'mismatched-devices');
    assert.deepEqual(missing.error?.missingDevices, [2]);
    assert.equal((await send([2])).error, undefined);
    const extra = await send([2, 7]);
    assertError(extra, 'mismatched-devices');
    assert.deepEqual(extra.error?.extraDevices, [7]);
    assertError(await send([1, 2]), 'malformed-request');
    assertError(await send([2], EnvelopeType.SIGNAL, new Uint8Array(5000)), 'malformed-request');

    const identity = new Uint8Array(150).fill(6);
    assert.equal((await send([2], EnvelopeType.PREKEY, identity)).error, undefined);
    const envelopes = [];
    for (;;) {
      const push = await alice.client.nextPush();
      if (push.kind.case === 'envelope') envelopes.push(push.kind.value);
      if (envelopes.length === 2) break;
    }
    assert.equal(envelopes[0]?.sourceDeviceIdentity.length, 0);
    assert.deepEqual(envelopes[1]?.sourceDeviceIdentity, identity);
    for (const c of [alice.client, aliceCompanion.client, bob.client]) c.close();
  });

  it("shows names and times only for the caller's own devices; others get ids and keys", async () => {
    const owner = await registeredDevice(t.wsUrl, 'priv1', { deviceName: 'Home laptop' });
    const companion = await linkCompanion(t.wsUrl, owner, { keyIndex: 1, listTimestamp: 1001 });
    const stranger = await registeredDevice(t.wsUrl, 'privwatch1');
    const ownView = await companion.client.request({
      case: 'getDevices',
      value: { account: 'priv1' },
    });
    assert.ok(ownView.body.case === 'getDevices', ownView.error?.message);
    const mine = ownView.body.value.devices.find((d) => d.deviceId === 1);
    assert.equal(mine?.name, 'Home laptop');
    assert.ok((mine?.createdAt ?? 0n) > 0n && (mine?.lastSeenAt ?? 0n) > 0n);

    const otherView = await stranger.client.request({
      case: 'getDevices',
      value: { account: 'priv1' },
    });
    assert.ok(otherView.body.case === 'getDevices', otherView.error?.message);
    assert.deepEqual(
      otherView.body.value.devices.map((d) => d.deviceId),
      [1, 2],
    );
    for (const device of otherView.body.value.devices) {
      assert.equal(device.name, '');
      assert.equal(device.createdAt, 0n);
      assert.equal(device.lastSeenAt, 0n);
      // What a sender needs is still there.
      assert.equal(device.identityKey.length, 33);
      assert.ok(device.registrationId > 0);
    }
    assert.ok((otherView.body.value.devices[1]?.signedDeviceIdentity.length ?? 0) > 0);
    for (const c of [owner.client, companion.client, stranger.client]) c.close();
  });
});
