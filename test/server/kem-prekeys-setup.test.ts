/**
 * First KEM prekeys sent with the registration (`RegisterRequest` fields
 * 11, 12) and with the link completion (`CompleteLinkRequest` fields 10,
 * 11), through the real server: stored and served like uploaded ones, so a
 * new device's first bundle already offers PQXDH; bad ones refused with
 * the upload's typed errors before the account or device exists — nothing
 * stored, the name still free.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Response } from '../../src/gen/quintet/v1/transport_pb.js';
import {
  newIdentity,
  registerOver,
  registeredDevice,
  type ConnectedDevice,
  type TestIdentity,
} from './helpers/device.js';
import { kemPreKey, kemPreKeys, type WireKemPreKey } from './helpers/kem.js';
import {
  approveOver,
  completeOver,
  linkApproved,
  openCompanion,
  type CompleteOptions,
} from './helpers/linking.js';
import { RawClient } from './helpers/raw-client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

type KemOptions = Pick<CompleteOptions, 'kemPreKeys' | 'lastResortKemPreKey'>;

/** The bad first uploads every setup path refuses, with their codes. */
async function badUploads(identity: TestIdentity): Promise<Array<[string, KemOptions, string]>> {
  const stranger = await newIdentity();
  const fresh = (id: number): Promise<WireKemPreKey> => kemPreKey(identity, id);
  return [
    ['forged one-time', { kemPreKeys: [await kemPreKey(stranger, 1)] }, 'invalid-signature'],
    [
      'forged last resort',
      { kemPreKeys: [await fresh(1)], lastResortKemPreKey: await kemPreKey(stranger, 9) },
      'invalid-signature',
    ],
    [
      'ML-KEM type byte',
      { kemPreKeys: [await kemPreKey(identity, 1, { type: 0x0a })] },
      'malformed-request',
    ],
    [
      'one byte short',
      { kemPreKeys: [await kemPreKey(identity, 1, { length: 1568 })] },
      'malformed-request',
    ],
    ['duplicate ids', { kemPreKeys: [await fresh(1), await fresh(1)] }, 'malformed-request'],
    [
      'last resort id reused',
      { kemPreKeys: [await fresh(1)], lastResortKemPreKey: await fresh(1) },
      'malformed-request',
    ],
    // Over one upload (5 > 4), and over what a device may keep (4 > 3).
    ['too many in one request', { kemPreKeys: await kemPreKeys(identity, 5) }, 'too-many-pre-keys'],
    ['too many for a device', { kemPreKeys: await kemPreKeys(identity, 4) }, 'too-many-pre-keys'],
  ];
}

function codeOf(response: Response): string | undefined {
  return response.error?.code;
}

describe('KEM prekeys with registration and link completion', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({
      // A refused completion still burns its reserved device id: room for every case.
      limits: {
        maxKemPreKeysPerUpload: 4,
        maxKemPreKeysStored: 3,
        bundleRateBurst: 100,
        maxCompanions: 16,
      },
    });
  });
  after(() => t.close());

  async function kemBundle(by: ConnectedDevice, account: string, deviceId: number) {
    const response = await by.client.request({
      case: 'getPreKeyBundles',
      value: { account, deviceId },
    });
    assert.ok(response.body.case === 'getPreKeyBundles', response.error?.message);
    return response.body.value.bundles[0]?.kemPreKey;
  }

  it('a registration carrying KEM prekeys is served v4 bundles at once', async () => {
    const identity = await newIdentity();
    const oneTime = await kemPreKeys(identity, 2);
    const lastResort = await kemPreKey(identity, 3);
    const ana = await (async () => {
      const client = await RawClient.connect(t.wsUrl);
      const response = await registerOver(client, 'ana', identity, {
        kemPreKeys: oneTime,
        lastResortKemPreKey: lastResort,
      });
      assert.equal(codeOf(response), undefined, response.error?.message);
      return { client, account: 'ana', deviceId: 1, identity };
    })();
    assert.equal(await t.store.kemPreKeys.countOneTimeKemPreKeys('ana', 1), 2);
    const fetcher = await registeredDevice(t.wsUrl, 'ana-fetcher');
    const served = [];
    for (let i = 0; i < 3; i++) served.push((await kemBundle(fetcher, 'ana', 1))?.id);
    assert.deepEqual(served, [1, 2, 3], 'the one-time keys once each, then the last resort');
    ana.client.close();
    fetcher.client.close();
  });

  it('refuses bad KEM prekeys at registration before the account exists', async () => {
    const identity = await newIdentity();
    for (const [what, kem, code] of await badUploads(identity)) {
      const client = await RawClient.connect(t.wsUrl);
      assert.equal(codeOf(await registerOver(client, 'bea', identity, kem)), code, what);
      client.close();
      assert.equal(await t.store.accounts.getDevice('bea', 1), undefined, what);
      assert.equal(await t.store.kemPreKeys.countOneTimeKemPreKeys('bea', 1), 0, what);
      assert.equal(await t.store.kemPreKeys.getLastResortKemPreKey('bea', 1), undefined, what);
      assert.equal(await t.store.preKeys.countOneTimePreKeys('bea', 1), 0, what);
    }
    // The name is still free: a good registration takes it.
    const client = await RawClient.connect(t.wsUrl);
    const ok = await registerOver(client, 'bea', identity, {
      kemPreKeys: await kemPreKeys(identity, 3),
    });
    assert.equal(codeOf(ok), undefined, ok.error?.message);
    assert.equal(await t.store.kemPreKeys.countOneTimeKemPreKeys('bea', 1), 3);
    client.close();
  });

  it('a companion completing its link with KEM prekeys is served v4 bundles at once', async () => {
    const primary = await registeredDevice(t.wsUrl, 'cid');
    const companion = await openCompanion(t.wsUrl);
    const approval = await approveOver(primary, companion, { keyIndex: 1, listTimestamp: 1001 });
    assert.equal(approval.error, undefined, approval.error?.message);
    const approved = await linkApproved(companion);
    const completed = await completeOver(companion, approved, {
      kemPreKeys: await kemPreKeys(companion.identity, 3),
      lastResortKemPreKey: await kemPreKey(companion.identity, 7),
    });
    assert.equal(codeOf(completed), undefined, completed.error?.message);
    assert.equal(await t.store.kemPreKeys.countOneTimeKemPreKeys('cid', approved.deviceId), 3);
    assert.equal((await kemBundle(primary, 'cid', approved.deviceId))?.id, 1);
    assert.equal(
      (await t.store.kemPreKeys.getLastResortKemPreKey('cid', approved.deviceId))?.id,
      7,
    );
    primary.client.close();
    companion.client.close();
  });

  it('refuses bad KEM prekeys at link completion before the device exists', async () => {
    const primary = await registeredDevice(t.wsUrl, 'dov');
    let keyIndex = 1;
    for (const [what, , code] of await badUploads(await newIdentity())) {
      const companion = await openCompanion(t.wsUrl);
      const approval = await approveOver(primary, companion, {
        keyIndex,
        listTimestamp: 1000 + keyIndex,
        otherIndexes: [],
      });
      keyIndex += 1;
      assert.equal(approval.error, undefined, approval.error?.message);
      const approved = await linkApproved(companion);
      // The same case, signed by this companion's own key.
      const cases = await badUploads(companion.identity);
      const kem = cases.find(([name]) => name === what)?.[1];
      assert.ok(kem !== undefined);
      assert.equal(codeOf(await completeOver(companion, approved, kem)), code, what);
      companion.client.close();
      assert.equal(await t.store.accounts.getDevice('dov', approved.deviceId), undefined, what);
      const kemStore = t.store.kemPreKeys;
      assert.equal(await kemStore.countOneTimeKemPreKeys('dov', approved.deviceId), 0, what);
      assert.equal(await kemStore.getLastResortKemPreKey('dov', approved.deviceId), undefined);
      assert.equal(await t.store.preKeys.countOneTimePreKeys('dov', approved.deviceId), 0, what);
    }
    primary.client.close();
  });
});
