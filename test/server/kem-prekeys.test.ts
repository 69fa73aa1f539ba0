/**
 * KEM prekeys (PQXDH) through the real server: upload, bundle hand-out
 * (one-time at most once, then the last-resort key), counts and
 * `PreKeysLow`, refusals of bad uploads with nothing stored, and v3-only
 * devices that upload none.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KemPreKey, PreKeyBundle } from '../../src/gen/quintet/v1/transport_pb.js';
import {
  newIdentity,
  oneTimePreKeys,
  registerOver,
  registeredDevice,
  type ConnectedDevice,
} from './helpers/device.js';
import { linkCompanion } from './helpers/linking.js';
import { kemPreKey, kemPreKeys, realKemPreKey, type WireKemPreKey } from './helpers/kem.js';
import { RawClient } from './helpers/raw-client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

interface Upload {
  preKeys?: Array<{ id: number; publicKey: Uint8Array }>;
  kemPreKeys?: WireKemPreKey[];
  lastResortKemPreKey?: WireKemPreKey;
}

/** A bundle's KEM prekey without its message type tag. */
function wire(key: KemPreKey | undefined): WireKemPreKey | undefined {
  return key === undefined
    ? undefined
    : { id: key.id, publicKey: key.publicKey, signature: key.signature };
}

describe('KEM prekeys', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({
      limits: {
        maxKemPreKeysPerUpload: 4,
        maxKemPreKeysStored: 6,
        preKeyLowThreshold: 3,
        bundleRateBurst: 100,
      },
    });
  });
  after(() => t.close());

  async function upload(device: ConnectedDevice, value: Upload): Promise<string | undefined> {
    const response = await device.client.request({ case: 'uploadPreKeys', value });
    return response.error?.code;
  }

  async function bundleOf(by: ConnectedDevice, account: string): Promise<PreKeyBundle> {
    const response = await by.client.request({
      case: 'getPreKeyBundles',
      value: { account, deviceId: 1 },
    });
    assert.ok(response.body.case === 'getPreKeyBundles', response.error?.message);
    const bundle = response.body.value.bundles[0];
    assert.ok(bundle !== undefined);
    return bundle;
  }

  async function kemStatus(device: ConnectedDevice): Promise<number> {
    const response = await device.client.request({ case: 'preKeyStatus', value: {} });
    assert.ok(response.body.case === 'preKeyStatus');
    return response.body.value.kemPreKeysRemaining;
  }

  it('stores an upload and serves its keys in bundles, signature and all', async () => {
    const bob = await registeredDevice(t.wsUrl, 'bob', { preKeys: 10 });
    const alice = await registeredDevice(t.wsUrl, 'alice');
    // A real Kyber1024 record as the client generates it, and the last resort.
    const oneTime = await realKemPreKey(bob.identity, 7);
    const lastResort = await realKemPreKey(bob.identity, 1000);
    assert.equal(
      await upload(bob, { kemPreKeys: [oneTime], lastResortKemPreKey: lastResort }),
      undefined,
    );
    assert.equal(await kemStatus(bob), 1);

    const first = await bundleOf(alice, 'bob');
    assert.deepEqual(wire(first.kemPreKey), oneTime);
    const second = await bundleOf(alice, 'bob');
    assert.deepEqual(wire(second.kemPreKey), lastResort);
    assert.ok(second.signedPreKey !== undefined && second.preKey !== undefined);
    alice.client.close();
    bob.client.close();
  });

  it('never hands a one-time KEM prekey out twice, then serves the last resort without deleting it', async () => {
    const dora = await registeredDevice(t.wsUrl, 'dora', { preKeys: 10 });
    assert.equal(
      await upload(dora, {
        kemPreKeys: await kemPreKeys(dora.identity, 4, 1),
        lastResortKemPreKey: await kemPreKey(dora.identity, 99),
      }),
      undefined,
    );
    const fetchers = [
      await registeredDevice(t.wsUrl, 'fetcher1'),
      await registeredDevice(t.wsUrl, 'fetcher2'),
    ];
    // Both fetchers at once, twice each: the four one-time keys, each once.
    const bundles = await Promise.all(
      [0, 1, 0, 1].map((i) => bundleOf(fetchers[i] as ConnectedDevice, 'dora')),
    );
    const ids = bundles.map((b) => b.kemPreKey?.id);
    assert.deepEqual([...ids].sort(), [1, 2, 3, 4]);
    assert.equal(await t.store.kemPreKeys.countOneTimeKemPreKeys('dora', 1), 0);
    // Then the last resort, again and again, still stored.
    for (const fetcher of fetchers)
      assert.equal((await bundleOf(fetcher, 'dora')).kemPreKey?.id, 99);
    assert.equal((await t.store.kemPreKeys.getLastResortKemPreKey('dora', 1))?.id, 99);
    for (const d of [dora, ...fetchers]) d.client.close();
  });

  it('tells a post-quantum device when its one-time KEM prekeys run low', async () => {
    const erin = await registeredDevice(t.wsUrl, 'erin', { preKeys: 10 });
    assert.equal(
      await upload(erin, {
        kemPreKeys: await kemPreKeys(erin.identity, 3),
        lastResortKemPreKey: await kemPreKey(erin.identity, 50),
      }),
      undefined,
    );
    const fetcher = await registeredDevice(t.wsUrl, 'erinfetcher');
    await bundleOf(fetcher, 'erin'); // 9 EC and 2 KEM left: KEM under 3
    const low = await erin.client.nextPush();
    assert.ok(low.kind.case === 'preKeysLow', `got ${low.kind.case}`);
    assert.equal(low.kind.value.preKeysRemaining, 9);
    assert.equal(low.kind.value.kemPreKeysRemaining, 2);
    erin.client.close();
    fetcher.client.close();
  });

  it('refuses bad KEM prekeys with typed errors and stores nothing of the upload', async () => {
    const gus = await registeredDevice(t.wsUrl, 'gus', { preKeys: 0 });
    const good = await kemPreKeys(gus.identity, 4, 1);
    const lastResort = await kemPreKey(gus.identity, 90);
    assert.equal(
      await upload(gus, { kemPreKeys: good, lastResortKemPreKey: lastResort }),
      undefined,
    );
    const stranger = await newIdentity();
    const fresh = async (id: number): Promise<WireKemPreKey> => kemPreKey(gus.identity, id);
    const forged = await kemPreKey(stranger, 20);
    const wrongType = await kemPreKey(gus.identity, 21, { type: 0x0a });
    const unknownType = await kemPreKey(gus.identity, 22, { type: 0x05 });
    const short = await kemPreKey(gus.identity, 23, { length: 1568 });
    const long = await kemPreKey(gus.identity, 24, { length: 1570 });
    const ecSized = await kemPreKey(gus.identity, 25, { length: 33 });
    const badSignatureLength = { ...(await fresh(26)), signature: new Uint8Array(63) };
    const tampered = await fresh(27);
    tampered.publicKey[100] = (tampered.publicKey[100] ?? 0) ^ 1;
    const cases: Array<[string, Upload, string]> = [
      ['forged one-time', { kemPreKeys: [await fresh(10), forged] }, 'invalid-signature'],
      [
        'forged last resort',
        { kemPreKeys: [await fresh(11)], lastResortKemPreKey: forged },
        'invalid-signature',
      ],
      ['tampered key', { kemPreKeys: [tampered] }, 'invalid-signature'],
      ['ML-KEM type byte', { kemPreKeys: [wrongType] }, 'malformed-request'],
      ['unknown type byte', { lastResortKemPreKey: unknownType }, 'malformed-request'],
      ['one byte short', { kemPreKeys: [short] }, 'malformed-request'],
      ['one byte long', { kemPreKeys: [long] }, 'malformed-request'],
      ['an EC-sized key', { kemPreKeys: [ecSized] }, 'malformed-request'],
      ['63-byte signature', { kemPreKeys: [badSignatureLength] }, 'malformed-request'],
      ['duplicate ids', { kemPreKeys: [await fresh(30), await fresh(30)] }, 'malformed-request'],
      [
        'last resort id reused',
        { kemPreKeys: [await fresh(31)], lastResortKemPreKey: await fresh(31) },
        'malformed-request',
      ],
      [
        'too many in one upload',
        { kemPreKeys: await kemPreKeys(gus.identity, 5, 40) },
        'too-many-pre-keys',
      ],
      // 4 stored + 3 > 6; the EC keys of the same upload must not be kept either.
      [
        'too many stored',
        {
          preKeys: await oneTimePreKeys(2, 300),
          kemPreKeys: await kemPreKeys(gus.identity, 3, 50),
        },
        'too-many-pre-keys',
      ],
    ];
    for (const [what, value, code] of cases) {
      assert.equal(await upload(gus, value), code, what);
      assert.equal(await t.store.kemPreKeys.countOneTimeKemPreKeys('gus', 1), 4, what);
      assert.deepEqual(await t.store.kemPreKeys.getLastResortKemPreKey('gus', 1), lastResort, what);
      assert.equal(await t.store.preKeys.countOneTimePreKeys('gus', 1), 0, what);
    }
    // Room for exactly two more.
    assert.equal(
      await upload(gus, { kemPreKeys: await kemPreKeys(gus.identity, 2, 60) }),
      undefined,
    );
    assert.equal(await kemStatus(gus), 6);
    gus.client.close();
  });

  it('bounds one upload by its own limit, below the per-device room', async () => {
    const jay = await registeredDevice(t.wsUrl, 'jay', { preKeys: 0 });
    // Five fit the device (6) but not one upload (4).
    assert.equal(
      await upload(jay, { kemPreKeys: await kemPreKeys(jay.identity, 5) }),
      'too-many-pre-keys',
    );
    assert.equal(await kemStatus(jay), 0);
    assert.equal(await upload(jay, { kemPreKeys: await kemPreKeys(jay.identity, 4) }), undefined);
    assert.equal(await kemStatus(jay), 4);
    jay.client.close();
  });

  it('a device that uploads no KEM prekeys keeps getting v3 bundles', async () => {
    const hal = await registeredDevice(t.wsUrl, 'hal', { preKeys: 10 });
    const fetcher = await registeredDevice(t.wsUrl, 'halfetcher');
    for (let i = 0; i < 3; i++) {
      const bundle = await bundleOf(fetcher, 'hal');
      assert.equal(bundle.kemPreKey, undefined);
      assert.ok(bundle.preKey !== undefined && bundle.signedPreKey !== undefined);
    }
    assert.equal(await kemStatus(hal), 0);
    // Above the EC threshold, a v3 device is not told about KEM prekeys it never had.
    assert.deepEqual(await hal.client.drainPushesFor(50), []);
    hal.client.close();
    fetcher.client.close();
  });

  it('a device that logs out loses its KEM prekeys', async () => {
    const primary = await registeredDevice(t.wsUrl, 'ivy');
    const companion = await linkCompanion(t.wsUrl, primary, { keyIndex: 1, listTimestamp: 1001 });
    assert.equal(
      await upload(companion, {
        kemPreKeys: await kemPreKeys(companion.identity, 2),
        lastResortKemPreKey: await kemPreKey(companion.identity, 9),
      }),
      undefined,
    );
    assert.equal(await t.store.kemPreKeys.countOneTimeKemPreKeys('ivy', companion.deviceId), 2);
    const response = await companion.client.request({ case: 'logout', value: {} });
    assert.equal(response.error, undefined, response.error?.message);
    await companion.client.closed;
    assert.equal(await t.store.kemPreKeys.countOneTimeKemPreKeys('ivy', companion.deviceId), 0);
    assert.equal(
      await t.store.kemPreKeys.getLastResortKemPreKey('ivy', companion.deviceId),
      undefined,
    );
    primary.client.close();
  });
});

describe('KEM prekeys: account reset', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ allowReregistration: true });
  });
  after(() => t.close());

  it('drops the old primary’s KEM prekeys, signed by the replaced identity key', async () => {
    const old = await registeredDevice(t.wsUrl, 'kay');
    const response = await old.client.request({
      case: 'uploadPreKeys',
      value: {
        kemPreKeys: await kemPreKeys(old.identity, 2),
        lastResortKemPreKey: await kemPreKey(old.identity, 9),
      },
    });
    assert.equal(response.error, undefined, response.error?.message);
    const client = await RawClient.connect(t.wsUrl);
    const registered = await registerOver(client, 'kay', await newIdentity());
    assert.equal(registered.error, undefined, registered.error?.message);
    assert.equal(await t.store.kemPreKeys.countOneTimeKemPreKeys('kay', 1), 0);
    assert.equal(await t.store.kemPreKeys.getLastResortKemPreKey('kay', 1), undefined);
    const fetcher = await registeredDevice(t.wsUrl, 'kayfetcher');
    const bundles = await fetcher.client.request({
      case: 'getPreKeyBundles',
      value: { account: 'kay', deviceId: 1 },
    });
    assert.ok(bundles.body.case === 'getPreKeyBundles', bundles.error?.message);
    assert.equal(bundles.body.value.bundles[0]?.kemPreKey, undefined);
    for (const c of [old.client, client, fetcher.client]) c.close();
  });
});
