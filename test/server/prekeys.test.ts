import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  newIdentity,
  oneTimePreKeys,
  registeredDevice,
  signedPreKey,
  type ConnectedDevice,
} from './helpers/device.js';
import { startTestServer, type TestServer } from './helpers/server.js';

describe('prekeys', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({
      limits: {
        maxPreKeysPerUpload: 20,
        maxPreKeysStored: 30,
        preKeyLowThreshold: 3,
        bundleRateBurst: 5,
        bundleRatePerSecond: 1,
      },
    });
  });
  after(() => t.close());

  it('hands out each one-time prekey once, then the signed prekey alone', async () => {
    const bob = await registeredDevice(t.wsUrl, 'bob', { preKeys: 2 });
    const alice = await registeredDevice(t.wsUrl, 'alice');
    const seen = new Set<number>();
    for (let i = 0; i < 3; i++) {
      const response = await alice.client.request({
        case: 'getPreKeyBundles',
        value: { account: 'bob', deviceId: 1 },
      });
      assert.equal(response.error, undefined);
      assert.ok(response.body.case === 'getPreKeyBundles');
      const bundle = response.body.value.bundles[0];
      assert.ok(bundle !== undefined);
      assert.equal(response.body.value.bundles.length, 1);
      assert.equal(bundle.deviceId, 1);
      assert.equal(bundle.registrationId, bob.identity.registrationId);
      assert.deepEqual(bundle.identityKey, bob.identity.identity.publicKey.serialize());
      assert.equal(bundle.signedPreKey?.publicKey.length, 33);
      if (i < 2) {
        assert.ok(bundle.preKey !== undefined);
        assert.ok(!seen.has(bundle.preKey.id), 'one-time prekey handed out twice');
        seen.add(bundle.preKey.id);
      } else {
        assert.equal(bundle.preKey, undefined);
      }
    }
    // bob went below the threshold (3) and was told so.
    const low = await bob.client.nextPush();
    assert.equal(low.kind.case, 'preKeysLow');
    assert.ok(low.kind.case === 'preKeysLow');
    assert.ok(low.kind.value.preKeysRemaining < 3);
    alice.client.close();
    bob.client.close();
  });

  it('fetches every device of an account, and excludes the caller on its own account', async () => {
    const carol = await registeredDevice(t.wsUrl, 'carol', { preKeys: 1 });
    const second = await newIdentity();
    await t.store.accounts.addDevice('carol', {
      identityKey: second.identity.publicKey.serialize(),
      registrationId: second.registrationId,
      name: 'laptop',
      createdAt: 0,
    });
    await t.store.preKeys.setSignedPreKey('carol', 2, {
      ...(await signedPreKey(second)),
    });
    const own = await carol.client.request({
      case: 'getPreKeyBundles',
      value: { account: 'carol', deviceId: 0 },
    });
    assert.ok(own.body.case === 'getPreKeyBundles');
    assert.deepEqual(
      own.body.value.bundles.map((b) => b.deviceId),
      [2],
    );
    const dave = await registeredDevice(t.wsUrl, 'dave');
    const all = await dave.client.request({
      case: 'getPreKeyBundles',
      value: { account: 'carol', deviceId: 0 },
    });
    assert.ok(all.body.case === 'getPreKeyBundles');
    assert.deepEqual(
      all.body.value.bundles.map((b) => [b.deviceId, b.preKey !== undefined]),
      [
        [1, true],
        [2, false],
      ],
    );
    const unknown = await dave.client.request({
      case: 'getPreKeyBundles',
      value: { account: 'carol', deviceId: 9 },
    });
    assert.equal(unknown.error?.code, 'unknown-device');
    const noAccount = await dave.client.request({
      case: 'getPreKeyBundles',
      value: { account: 'nobody', deviceId: 0 },
    });
    assert.equal(noAccount.error?.code, 'unknown-account');
    carol.client.close();
    dave.client.close();
  });

  it('rate-limits bundle fetches per requesting device with a retry hint', async () => {
    await registeredDevice(t.wsUrl, 'erin').then((d) => d.client.close());
    const frank = await registeredDevice(t.wsUrl, 'frank');
    const codes: Array<string | undefined> = [];
    let retry = 0;
    for (let i = 0; i < 7; i++) {
      const response = await frank.client.request({
        case: 'getPreKeyBundles',
        value: { account: 'erin', deviceId: 1 },
      });
      codes.push(response.error?.code);
      retry = Math.max(retry, response.error?.retryAfterMs ?? 0);
    }
    assert.deepEqual(codes.slice(0, 5), [undefined, undefined, undefined, undefined, undefined]);
    assert.deepEqual(codes.slice(5), ['rate-limited', 'rate-limited']);
    assert.ok(retry > 0 && retry <= 1000);
    const refused = await frank.client.request({
      case: 'getPreKeyBundles',
      value: { account: 'erin', deviceId: 1 },
    });
    assert.equal(refused.error?.limit, 'prekey-bundles-per-device');
    t.clock.advance(1000);
    const again = await frank.client.request({
      case: 'getPreKeyBundles',
      value: { account: 'erin', deviceId: 1 },
    });
    assert.equal(again.error, undefined);
    frank.client.close();
  });

  it('uploads prekeys, verifies the signed prekey, and bounds batch and total', async () => {
    const grace = await registeredDevice(t.wsUrl, 'grace', { preKeys: 0 });
    const status = async (): Promise<number> => {
      const response = await grace.client.request({ case: 'preKeyStatus', value: {} });
      assert.ok(response.body.case === 'preKeyStatus');
      assert.equal(response.body.value.preKeyThreshold, 3);
      return response.body.value.preKeysRemaining;
    };
    assert.equal(await status(), 0);
    const upload = await grace.client.request({
      case: 'uploadPreKeys',
      value: {
        signedPreKey: await signedPreKey(grace.identity, 2),
        preKeys: await oneTimePreKeys(20),
      },
    });
    assert.equal(upload.error, undefined);
    assert.equal(await status(), 20);
    assert.equal((await t.store.preKeys.getSignedPreKey('grace', 1))?.id, 2);

    const forged = await grace.client.request({
      case: 'uploadPreKeys',
      value: { signedPreKey: await signedPreKey(await newIdentity(), 3) },
    });
    assert.equal(forged.error?.code, 'invalid-signature');
    assert.equal((await t.store.preKeys.getSignedPreKey('grace', 1))?.id, 2);

    const batch = await grace.client.request({
      case: 'uploadPreKeys',
      value: { preKeys: await oneTimePreKeys(21, 100) },
    });
    assert.equal(batch.error?.code, 'too-many-pre-keys');
    const total = await grace.client.request({
      case: 'uploadPreKeys',
      value: { preKeys: await oneTimePreKeys(11, 100) },
    });
    assert.equal(total.error?.code, 'too-many-pre-keys');
    assert.equal(await status(), 20);

    const badKey = await grace.client.request({
      case: 'uploadPreKeys',
      value: { preKeys: [{ id: 500, publicKey: new Uint8Array(33) }] },
    });
    assert.equal(badKey.error?.code, 'malformed-request');
    const duplicate = await grace.client.request({
      case: 'uploadPreKeys',
      value: { preKeys: [...(await oneTimePreKeys(1, 600)), ...(await oneTimePreKeys(1, 600))] },
    });
    assert.equal(duplicate.error?.code, 'malformed-request');
    assert.equal(await status(), 20);
    grace.client.close();
  });
});

describe('prekeys: per-target budget', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({
      limits: { bundleRateBurst: 100, bundleTargetBurst: 4, bundleTargetPerSecond: 0.5 },
    });
  });
  after(() => t.close());

  /** One bundle fetch of `account`'s primary by `by`; whether it carried a one-time prekey. */
  async function fetchHasOneTime(by: ConnectedDevice, account: string): Promise<boolean> {
    const response = await by.client.request({
      case: 'getPreKeyBundles',
      value: { account, deviceId: 1 },
    });
    assert.ok(response.body.case === 'getPreKeyBundles', response.error?.message);
    const bundle = response.body.value.bundles[0];
    assert.ok(bundle?.signedPreKey !== undefined, 'the signed prekey is always served');
    return bundle.preKey !== undefined;
  }

  it('throwaway requesters cannot drain a victim: past the budget bundles carry the signed prekey only', async () => {
    const victim = await registeredDevice(t.wsUrl, 'victim', { preKeys: 20 });
    const attackers: ConnectedDevice[] = [];
    for (let i = 0; i < 3; i++) attackers.push(await registeredDevice(t.wsUrl, `throwaway${i}`));
    const served: boolean[] = [];
    // Each attacker is well inside its own per-requester budget.
    for (const attacker of attackers) {
      for (let i = 0; i < 3; i++) served.push(await fetchHasOneTime(attacker, 'victim'));
    }
    assert.deepEqual(served, [true, true, true, true, false, false, false, false, false]);
    assert.equal(await t.store.preKeys.countOneTimePreKeys('victim', 1), 16);
    // A legitimate new contact still reaches the victim (signed prekey only).
    const friend = await registeredDevice(t.wsUrl, 'friend');
    assert.equal(await fetchHasOneTime(friend, 'victim'), false);
    // The budget refills with time: one-time prekeys are handed out again.
    t.clock.advance(2_000);
    assert.equal(await fetchHasOneTime(friend, 'victim'), true);
    assert.equal(await fetchHasOneTime(friend, 'victim'), false);
    assert.equal(await t.store.preKeys.countOneTimePreKeys('victim', 1), 15);
    // Another account's budget is its own.
    await registeredDevice(t.wsUrl, 'bystander', { preKeys: 2 }).then((d) => d.client.close());
    assert.equal(await fetchHasOneTime(friend, 'bystander'), true);
    for (const d of [victim, friend, ...attackers]) d.client.close();
  });

  it('tells the owner right after a fetch takes its count under the threshold', async () => {
    const owner = await registeredDevice(t.wsUrl, 'lowowner', { preKeys: 11 });
    const other = await registeredDevice(t.wsUrl, 'lowfetcher');
    assert.equal(await fetchHasOneTime(other, 'lowowner'), true); // 10 left: not low yet
    assert.deepEqual(await owner.client.drainPushesFor(50), []);
    assert.equal(await fetchHasOneTime(other, 'lowowner'), true); // 9 left: under 10
    const low = await owner.client.nextPush();
    assert.ok(low.kind.case === 'preKeysLow', `got ${low.kind.case}`);
    assert.equal(low.kind.value.preKeysRemaining, 9);
    owner.client.close();
    other.client.close();
  });
});
