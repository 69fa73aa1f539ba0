import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  decodeSignedDeviceIdentity,
  encodeSignedDeviceIdentity,
} from '../../src/protocol/adv/index.js';
import {
  authenticateOver,
  newIdentity,
  registeredDevice,
  registerOver,
  sendTo,
  signAuth,
  signedList,
} from './helpers/device.js';
import {
  approveOver,
  assertError,
  completeOver,
  linkApproved,
  linkCompanion,
  openCompanion,
} from './helpers/linking.js';
import { RawClient } from './helpers/raw-client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

describe('linking a companion', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.close());

  it('links with real ADV signatures and serves the companion with its identity', async () => {
    const primary = await registeredDevice(t.wsUrl, 'link1');
    const watcher = await registeredDevice(t.wsUrl, 'watch1');
    const companion = await openCompanion(t.wsUrl);
    assert.match(companion.ref, /^[A-Za-z0-9_-]{22,}$/);
    assert.equal(companion.expiresAt, BigInt(t.clock.now() + 60_000));

    const approval = await approveOver(primary, companion, { keyIndex: 1, listTimestamp: 1001 });
    assert.equal(approval.error, undefined, approval.error?.message);
    assert.ok(approval.body.case === 'approveLink');
    assert.equal(approval.body.value.deviceId, 2);
    const approved = await linkApproved(companion);
    assert.equal(approved.account, 'link1');
    assert.equal(approved.deviceId, 2);
    assert.equal(approved.keyIndex, 1);
    assert.equal(approved.linkToken.length, 32);

    // Approved but not completed: not a device yet.
    const before = await watcher.client.request({
      case: 'getDevices',
      value: { account: 'link1' },
    });
    assert.ok(before.body.case === 'getDevices');
    assert.deepEqual(
      before.body.value.devices.map((d) => d.deviceId),
      [1],
    );
    assert.equal(
      (
        await sendTo(watcher.client, 'link1', [
          { deviceId: 1, registrationId: primary.identity.registrationId },
        ])
      ).error,
      undefined,
    );

    const completed = await completeOver(companion, approved);
    assert.equal(completed.error, undefined, completed.error?.message);
    assert.ok(completed.body.case === 'completeLink');
    assert.deepEqual(completed.body.value.account, 'link1');
    assert.equal(completed.body.value.deviceId, 2);
    assert.equal((await companion.client.nextPush()).kind.case, 'queueDrained');

    // The primary got the watcher's message, then hears about its own account's change.
    assert.equal((await primary.client.nextPush()).kind.case, 'envelope');
    const notice = await primary.client.nextPush();
    assert.ok(notice.kind.case === 'deviceListChanged');
    assert.equal(notice.kind.value.account, 'link1');

    const devices = await watcher.client.request({
      case: 'getDevices',
      value: { account: 'link1' },
    });
    assert.ok(devices.body.case === 'getDevices');
    const [first, second] = devices.body.value.devices;
    assert.equal(first?.keyIndex, 0);
    assert.equal(first?.signedDeviceIdentity.length, 0);
    assert.equal(second?.deviceId, 2);
    assert.equal(second?.keyIndex, 1);
    assert.ok((second?.signedDeviceIdentity.length ?? 0) > 100);
    const list = devices.body.value.signedKeyIndexList;
    assert.deepEqual(
      list,
      await t.store.accounts.getDeviceList('link1').then((l) => l?.signedList),
    );

    const bundles = await watcher.client.request({
      case: 'getPreKeyBundles',
      value: { account: 'link1', deviceId: 0 },
    });
    assert.ok(bundles.body.case === 'getPreKeyBundles');
    assert.deepEqual(bundles.body.value.signedKeyIndexList, list);
    const companionBundle = bundles.body.value.bundles.find((b) => b.deviceId === 2);
    assert.equal(companionBundle?.keyIndex, 1);
    assert.deepEqual(companionBundle?.signedDeviceIdentity, second?.signedDeviceIdentity);
    assert.equal(t.server.metrics.devicesLinked >= 1, true);

    // The linked companion can log in again on a new connection.
    companion.client.close();
    const again = await RawClient.connect(t.wsUrl);
    const login = await authenticateOver(again, 'link1', 2, companion.identity);
    assert.equal(login.error, undefined, login.error?.message);
    again.close();
    primary.client.close();
    watcher.client.close();
  });

  it('refuses an expired reference, then a fresh one works', async () => {
    const primary = await registeredDevice(t.wsUrl, 'link2');
    const companion = await openCompanion(t.wsUrl);
    t.clock.advance(60_001);
    assertError(
      await approveOver(primary, companion, { keyIndex: 1, listTimestamp: 1001 }),
      'link-expired',
    );
    const fresh = await companion.client.request({ case: 'openLink', value: {} });
    assert.ok(fresh.body.case === 'openLink');
    const renewed = { ...companion, ref: fresh.body.value.ref };
    assert.equal(
      (await approveOver(primary, renewed, { keyIndex: 1, listTimestamp: 1001 })).error,
      undefined,
    );
    // The expired attempt reserved nothing.
    assert.equal((await linkApproved(companion)).deviceId, 2);
    primary.client.close();
    companion.client.close();
  });

  it('refuses unknown, reused and replaced references', async () => {
    const primary = await registeredDevice(t.wsUrl, 'link3');
    const companion = await openCompanion(t.wsUrl);
    assertError(
      await approveOver(primary, companion, { keyIndex: 1, listTimestamp: 1001, ref: 'nope' }),
      'unknown-link',
    );
    // Asking again invalidates the first reference.
    const second = await companion.client.request({ case: 'openLink', value: {} });
    assert.ok(second.body.case === 'openLink');
    assertError(
      await approveOver(primary, companion, { keyIndex: 1, listTimestamp: 1001 }),
      'unknown-link',
    );
    const current = { ...companion, ref: second.body.value.ref };
    assert.equal(
      (await approveOver(primary, current, { keyIndex: 1, listTimestamp: 1001 })).error,
      undefined,
    );
    assertError(
      await approveOver(primary, current, { keyIndex: 2, listTimestamp: 1002 }),
      'unknown-link',
    );
    assertError(
      await approveOver(primary, current, { keyIndex: 1, listTimestamp: 1001, ref: '' }),
      'malformed-request',
    );
    primary.client.close();
    companion.client.close();
  });

  it('lets only the primary approve', async () => {
    const primary = await registeredDevice(t.wsUrl, 'link4');
    const linked = await linkCompanion(t.wsUrl, primary, { keyIndex: 1, listTimestamp: 1001 });
    const next = await openCompanion(t.wsUrl);
    assertError(
      await approveOver(linked, next, { keyIndex: 2, listTimestamp: 1002 }),
      'not-primary',
    );
    // The refused attempt did not burn the reference.
    assert.equal(
      (await approveOver(primary, next, { keyIndex: 2, listTimestamp: 1002, otherIndexes: [1] }))
        .error,
      undefined,
    );
    // Unauthenticated connections cannot approve at all.
    const anonymous = await RawClient.connect(t.wsUrl);
    const refused = await anonymous.request({
      case: 'approveLink',
      value: { ref: next.ref, keyIndex: 1 },
    });
    assertError(refused, 'unauthenticated');
    // An authenticated device cannot open a link.
    assertError(await primary.client.request({ case: 'openLink', value: {} }), 'forbidden');
    for (const c of [primary.client, linked.client, next.client, anonymous]) c.close();
  });

  it('refuses a fifth companion with too-many-devices', async () => {
    const primary = await registeredDevice(t.wsUrl, 'link5');
    const companions = [];
    for (let i = 1; i <= 4; i++) {
      companions.push(
        await linkCompanion(t.wsUrl, primary, {
          keyIndex: i,
          listTimestamp: 1000 + i,
          otherIndexes: Array.from({ length: i - 1 }, (_, k) => k + 1),
        }),
      );
    }
    const fifth = await openCompanion(t.wsUrl);
    assertError(
      await approveOver(primary, fifth, {
        keyIndex: 5,
        listTimestamp: 1005,
        otherIndexes: [1, 2, 3, 4],
      }),
      'too-many-devices',
    );
    primary.client.close();
    fifth.client.close();
    for (const c of companions) c.client.close();
  });

  it('counts approved-but-incomplete links against the limit', async () => {
    const small = await startTestServer({ limits: { maxCompanions: 1 } });
    try {
      const primary = await registeredDevice(small.wsUrl, 'limit1');
      const a = await openCompanion(small.wsUrl);
      const b = await openCompanion(small.wsUrl);
      assert.equal(
        (await approveOver(primary, a, { keyIndex: 1, listTimestamp: 1001 })).error,
        undefined,
      );
      assertError(
        await approveOver(primary, b, { keyIndex: 2, listTimestamp: 1002 }),
        'too-many-devices',
      );
      for (const c of [primary.client, a.client, b.client]) c.close();
    } finally {
      await small.close();
    }
  });

  it('refuses garbage, foreign, stale and inconsistent device lists', async () => {
    const primary = await registeredDevice(t.wsUrl, 'link6');
    const companion = await openCompanion(t.wsUrl);
    const attempt = (options: Partial<Parameters<typeof approveOver>[2]>) =>
      approveOver(primary, companion, { keyIndex: 1, listTimestamp: 1001, ...options });
    assertError(
      await attempt({ signedKeyIndexList: new Uint8Array([1, 2, 3]) }),
      'invalid-device-list',
    );
    assertError(await attempt({ signedKeyIndexList: new Uint8Array(0) }), 'invalid-device-list');
    const stranger = await newIdentity();
    assertError(
      await attempt({
        signedKeyIndexList: await signedList(stranger, { timestamp: 1001, validIndexes: [1] }),
      }),
      'invalid-device-list',
    );
    // The list must name the new companion's index.
    assertError(
      await attempt({
        signedKeyIndexList: await signedList(primary.identity, {
          timestamp: 1001,
          validIndexes: [2],
        }),
      }),
      'invalid-device-list',
    );
    // Not newer than the registration list (timestamp 1000).
    assertError(await attempt({ listTimestamp: 1000 }), 'device-list-rollback');
    assertError(await attempt({ listTimestamp: 999 }), 'device-list-rollback');
    const indexZero = await primary.client.request({
      case: 'approveLink',
      value: {
        ref: companion.ref,
        companionIdentityKey: companion.identity.identity.publicKey.serialize(),
        payload: new Uint8Array([1]),
        signedKeyIndexList: await signedList(primary.identity, { timestamp: 1001 }),
        keyIndex: 0,
      },
    });
    assertError(indexZero, 'malformed-request');
    // None of that burnt the reference or a device id.
    assert.equal((await attempt({})).error, undefined);
    assert.equal((await linkApproved(companion)).deviceId, 2);
    primary.client.close();
    companion.client.close();
  });

  it('reserves nothing when the companion is gone', async () => {
    const primary = await registeredDevice(t.wsUrl, 'link7');
    const gone = await openCompanion(t.wsUrl);
    gone.client.close();
    await gone.client.closed;
    await new Promise((resolve) => setTimeout(resolve, 20));
    const response = await approveOver(primary, gone, { keyIndex: 1, listTimestamp: 1001 });
    assert.ok(
      response.error?.code === 'link-expired' || response.error?.code === 'unknown-link',
      response.error?.code,
    );
    const linked = await linkCompanion(t.wsUrl, primary, { keyIndex: 1, listTimestamp: 1001 });
    assert.equal(linked.deviceId, 2);
    primary.client.close();
    linked.client.close();
  });

  it('refuses a completion with another identity key, once and for good', async () => {
    const primary = await registeredDevice(t.wsUrl, 'link8');
    const companion = await openCompanion(t.wsUrl);
    await approveOver(primary, companion, { keyIndex: 1, listTimestamp: 1001 });
    const approved = await linkApproved(companion);
    const intruder = await newIdentity();
    assertError(await completeOver(companion, approved, { identity: intruder }), 'invalid-link');
    // The token was single use.
    assertError(await completeOver(companion, approved), 'unknown-link');
    const devices = await primary.client.request({
      case: 'getDevices',
      value: { account: 'link8' },
    });
    assert.ok(devices.body.case === 'getDevices');
    assert.equal(devices.body.value.devices.length, 1);
    primary.client.close();
    companion.client.close();
  });

  it('refuses a forged completion signature and a bad signed identity', async () => {
    const primary = await registeredDevice(t.wsUrl, 'link9');
    const one = await openCompanion(t.wsUrl);
    await approveOver(primary, one, { keyIndex: 1, listTimestamp: 1001 });
    const approvedOne = await linkApproved(one);
    const wrongDevice = await signAuth(one.identity, new Uint8Array(32), 'link9', 2);
    assertError(
      await completeOver(one, approvedOne, { signature: wrongDevice }),
      'invalid-signature',
    );

    const two = await openCompanion(t.wsUrl);
    await approveOver(primary, two, { keyIndex: 2, listTimestamp: 1002, otherIndexes: [1] });
    const approvedTwo = await linkApproved(two);
    // The primary's half alone (no device signature) is not a linked identity.
    const hmacPayload = approvedTwo.payload;
    const { decodeSignedDeviceIdentityHmac } = await import('../../src/protocol/adv/index.js');
    const unsigned = decodeSignedDeviceIdentityHmac(hmacPayload).details;
    assertError(
      await completeOver(two, approvedTwo, { signedDeviceIdentity: unsigned }),
      'invalid-device-identity',
    );

    const three = await openCompanion(t.wsUrl);
    await approveOver(primary, three, { keyIndex: 3, listTimestamp: 1003, otherIndexes: [1, 2] });
    const approvedThree = await linkApproved(three);
    // A tampered device signature.
    const garbled = decodeSignedDeviceIdentity(
      decodeSignedDeviceIdentityHmac(approvedThree.payload).details,
    );
    const forged = encodeSignedDeviceIdentity({
      ...garbled,
      deviceSignature: new Uint8Array(64).fill(3),
    });
    assertError(
      await completeOver(three, approvedThree, { signedDeviceIdentity: forged }),
      'invalid-device-identity',
    );
    assertError(
      await completeOver(three, approvedThree, { linkToken: new Uint8Array(5) }),
      'malformed-request',
    );
    for (const c of [primary.client, one.client, two.client, three.client]) c.close();
  });

  it('requires a device list signed by the registering key', async () => {
    const client = await RawClient.connect(t.wsUrl);
    const identity = await newIdentity();
    const stranger = await newIdentity();
    assertError(
      await registerOver(client, 'reg1', identity, { signedKeyIndexList: new Uint8Array(0) }),
      'invalid-device-list',
    );
    assertError(
      await registerOver(client, 'reg1', identity, {
        signedKeyIndexList: await signedList(stranger),
      }),
      'invalid-device-list',
    );
    assert.equal((await registerOver(client, 'reg1', identity)).error, undefined);
    client.close();
  });
});
