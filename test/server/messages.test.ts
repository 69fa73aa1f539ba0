import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Push } from '../../src/gen/quintet/v1/transport_pb.js';
import {
  registeredDevice,
  reconnect,
  sendTo,
  newIdentity,
  type ConnectedDevice,
} from './helpers/device.js';
import { startTestServer, type TestServer } from './helpers/server.js';

function envelopeOf(push: Push) {
  assert.equal(push.kind.case, 'envelope');
  assert.ok(push.kind.case === 'envelope');
  return push.kind.value;
}

function primary(device: ConnectedDevice) {
  return [{ deviceId: 1, registrationId: device.identity.registrationId }];
}

describe('messages', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ limits: { maxEnvelopeBytes: 1000, maxEnvelopesPerRequest: 4 } });
  });
  after(() => t.close());

  it('pushes to a connected device at once, and deletes on ack', async () => {
    const alice = await registeredDevice(t.wsUrl, 'alice1');
    const bob = await registeredDevice(t.wsUrl, 'bob1');
    const response = await sendTo(alice.client, 'bob1', primary(bob), new Uint8Array([9, 9]));
    assert.equal(response.error, undefined);
    assert.ok(response.body.case === 'sendMessage');
    assert.equal(response.body.value.queuedOnly, false);
    const envelope = envelopeOf(await bob.client.nextPush());
    assert.equal(envelope.source, 'alice1');
    assert.equal(envelope.sourceDevice, 1);
    assert.equal(envelope.destinationDevice, 1);
    assert.deepEqual([...envelope.content], [9, 9]);
    assert.equal(envelope.timestamp, 1234n);
    assert.equal(envelope.serverTimestamp, BigInt(t.clock.now()));
    assert.equal(envelope.serverGuid.length, 16);
    assert.equal(await t.store.queue.count('bob1', 1), 1);
    const ack = await bob.client.request({
      case: 'ack',
      value: { serverGuids: [envelope.serverGuid] },
    });
    assert.equal(ack.error, undefined);
    assert.equal(await t.store.queue.count('bob1', 1), 0);
    alice.client.close();
    bob.client.close();
  });

  it('queues for an offline device and delivers the backlog in order, then QueueDrained', async () => {
    const alice = await registeredDevice(t.wsUrl, 'alice2');
    const bob = await registeredDevice(t.wsUrl, 'bob2');
    bob.client.close();
    await bob.client.closed;
    for (let i = 0; i < 5; i++) {
      const response = await sendTo(alice.client, 'bob2', primary(bob), new Uint8Array([i]));
      assert.equal(response.error, undefined);
      assert.ok(response.body.case === 'sendMessage');
      assert.equal(response.body.value.queuedOnly, true);
    }
    const back = await reconnect(t.wsUrl, bob);
    const got: number[] = [];
    const guids: Uint8Array[] = [];
    for (let i = 0; i < 5; i++) {
      const envelope = envelopeOf(await back.client.nextPush());
      got.push(envelope.content[0] ?? -1);
      guids.push(envelope.serverGuid);
    }
    assert.deepEqual(got, [0, 1, 2, 3, 4]);
    assert.equal((await back.client.nextPush()).kind.case, 'queueDrained');
    // Live messages follow the drain.
    await sendTo(alice.client, 'bob2', primary(bob), new Uint8Array([5]));
    assert.equal(envelopeOf(await back.client.nextPush()).content[0], 5);
    await back.client.request({ case: 'ack', value: { serverGuids: guids } });
    assert.equal(await t.store.queue.count('bob2', 1), 1);
    alice.client.close();
    back.client.close();
  });

  it('redelivers unacked envelopes on the next connection', async () => {
    const alice = await registeredDevice(t.wsUrl, 'alice3');
    const bob = await registeredDevice(t.wsUrl, 'bob3');
    await sendTo(alice.client, 'bob3', primary(bob), new Uint8Array([1]));
    const first = envelopeOf(await bob.client.nextPush());
    bob.client.close();
    await bob.client.closed;
    const back = await reconnect(t.wsUrl, bob);
    const again = envelopeOf(await back.client.nextPush());
    assert.deepEqual(again.serverGuid, first.serverGuid);
    assert.equal((await back.client.nextPush()).kind.case, 'queueDrained');
    alice.client.close();
    back.client.close();
  });

  it('never lets a device delete (or learn about) another device’s envelope', async () => {
    const alice = await registeredDevice(t.wsUrl, 'alice4');
    const bob = await registeredDevice(t.wsUrl, 'bob4');
    const carol = await registeredDevice(t.wsUrl, 'carol4');
    await sendTo(alice.client, 'bob4', primary(bob), new Uint8Array([7]));
    const envelope = envelopeOf(await bob.client.nextPush());
    const ack = await carol.client.request({
      case: 'ack',
      value: { serverGuids: [envelope.serverGuid] },
    });
    // The response is the same as for an unknown guid: nothing leaks.
    assert.equal(ack.error, undefined);
    assert.equal(await t.store.queue.count('bob4', 1), 1);
    assert.deepEqual(await carol.client.drainPushesFor(50), []);
    for (const d of [alice, bob, carol]) d.client.close();
  });

  it('refuses a send whose device set is missing or has extra devices, queueing nothing', async () => {
    const alice = await registeredDevice(t.wsUrl, 'alice5');
    const bob = await registeredDevice(t.wsUrl, 'bob5');
    // A second device for bob, added directly (linking is a later feature).
    const second = await newIdentity(4242);
    await t.store.accounts.addDevice('bob5', {
      identityKey: second.identity.publicKey.serialize(),
      registrationId: second.registrationId,
      name: 'laptop',
      createdAt: t.clock.now(),
    });
    const missing = await sendTo(alice.client, 'bob5', primary(bob));
    assert.equal(missing.error?.code, 'mismatched-devices');
    assert.deepEqual(missing.error?.missingDevices, [2]);
    assert.deepEqual(missing.error?.extraDevices, []);
    const extra = await sendTo(alice.client, 'bob5', [
      ...primary(bob),
      { deviceId: 2, registrationId: 4242 },
      { deviceId: 3, registrationId: 1 },
    ]);
    assert.equal(extra.error?.code, 'mismatched-devices');
    assert.deepEqual(extra.error?.missingDevices, []);
    assert.deepEqual(extra.error?.extraDevices, [3]);
    const stale = await sendTo(alice.client, 'bob5', [
      ...primary(bob),
      { deviceId: 2, registrationId: 4241 },
    ]);
    assert.equal(stale.error?.code, 'stale-devices');
    assert.deepEqual(stale.error?.staleDevices, [2]);
    assert.equal(await t.store.queue.count('bob5', 1), 0);
    assert.equal(await t.store.queue.count('bob5', 2), 0);
    assert.deepEqual(await bob.client.drainPushesFor(50), []);
    const ok = await sendTo(alice.client, 'bob5', [
      ...primary(bob),
      { deviceId: 2, registrationId: 4242 },
    ]);
    assert.equal(ok.error, undefined);
    assert.equal(await t.store.queue.count('bob5', 2), 1);
    alice.client.close();
    bob.client.close();
  });

  it('expects the sender’s own other devices, never the sender itself', async () => {
    const alice = await registeredDevice(t.wsUrl, 'alice6');
    await t.store.accounts.addDevice('alice6', {
      identityKey: (await newIdentity()).identity.publicKey.serialize(),
      registrationId: 77,
      name: 'laptop',
      createdAt: t.clock.now(),
    });
    const withSelf = await sendTo(alice.client, 'alice6', [
      { deviceId: 1, registrationId: alice.identity.registrationId },
      { deviceId: 2, registrationId: 77 },
    ]);
    assert.equal(withSelf.error?.code, 'mismatched-devices');
    assert.deepEqual(withSelf.error?.extraDevices, [1]);
    const ok = await sendTo(alice.client, 'alice6', [{ deviceId: 2, registrationId: 77 }]);
    assert.equal(ok.error, undefined);
    assert.equal(await t.store.queue.count('alice6', 2), 1);
    alice.client.close();
  });

  it('enforces the envelope size and count limits, and rejects unknown accounts', async () => {
    const alice = await registeredDevice(t.wsUrl, 'alice7');
    const bob = await registeredDevice(t.wsUrl, 'bob7');
    const big = await sendTo(alice.client, 'bob7', primary(bob), new Uint8Array(1001));
    assert.equal(big.error?.code, 'envelope-too-large');
    const many = await sendTo(
      alice.client,
      'bob7',
      [1, 2, 3, 4, 5].map((deviceId) => ({ deviceId, registrationId: 1 })),
    );
    assert.equal(many.error?.code, 'too-many-envelopes');
    const nobody = await sendTo(alice.client, 'nobody7', primary(bob));
    assert.equal(nobody.error?.code, 'unknown-account');
    const badName = await sendTo(alice.client, 'No Body', primary(bob));
    assert.equal(badName.error?.code, 'invalid-account-name');
    const badAck = await alice.client.request({
      case: 'ack',
      value: { serverGuids: [new Uint8Array(3)] },
    });
    assert.equal(badAck.error?.code, 'malformed-request');
    assert.equal(await t.store.queue.count('bob7', 1), 0);
    // The connection survived all of it.
    const ok = await sendTo(alice.client, 'bob7', primary(bob), new Uint8Array(1000));
    assert.equal(ok.error, undefined);
    alice.client.close();
    bob.client.close();
  });

  it('expires undelivered envelopes after the configured lifetime', async () => {
    const alice = await registeredDevice(t.wsUrl, 'alice8');
    const bob = await registeredDevice(t.wsUrl, 'bob8');
    bob.client.close();
    await bob.client.closed;
    await sendTo(alice.client, 'bob8', primary(bob), new Uint8Array([1]));
    t.clock.advance(29 * 24 * 3600 * 1000);
    await sendTo(alice.client, 'bob8', primary(bob), new Uint8Array([2]));
    await t.server.sweepExpired();
    assert.equal(await t.store.queue.count('bob8', 1), 2);
    t.clock.advance(2 * 24 * 3600 * 1000);
    // Other tests' leftovers expire too, so count only this device's queue.
    assert.ok((await t.server.sweepExpired()) >= 1);
    assert.equal(await t.store.queue.count('bob8', 1), 1);
    assert.ok(t.server.metrics.messagesExpired >= 1);
    const back = await reconnect(t.wsUrl, bob);
    assert.equal(envelopeOf(await back.client.nextPush()).content[0], 2);
    assert.equal((await back.client.nextPush()).kind.case, 'queueDrained');
    alice.client.close();
    back.client.close();
  });
});

describe('batched acks', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ limits: { maxAcksPerRequest: 4 } });
  });
  after(() => t.close());

  it('takes up to the limit per frame; an oversized or malformed batch deletes nothing', async () => {
    const alice = await registeredDevice(t.wsUrl, 'alice-b1');
    const bob = await registeredDevice(t.wsUrl, 'bob-b1');
    const guids: Uint8Array[] = [];
    for (let i = 0; i < 5; i++) {
      await sendTo(alice.client, 'bob-b1', primary(bob), new Uint8Array([i]));
      guids.push(envelopeOf(await bob.client.nextPush()).serverGuid);
    }
    const ack = (serverGuids: Uint8Array[]) =>
      bob.client.request({ case: 'ack', value: { serverGuids } });
    // Over the limit: refused as a whole, the connection stays.
    assert.equal((await ack(guids)).error?.code, 'malformed-request');
    assert.equal(await t.store.queue.count('bob-b1', 1), 5);
    // One malformed guid among good ones: the whole batch is refused.
    const bad = [guids[0], guids[1], new Uint8Array(15)].filter((g) => g !== undefined);
    assert.equal((await ack(bad)).error?.code, 'malformed-request');
    assert.equal(await t.store.queue.count('bob-b1', 1), 5);
    // An empty batch is a no-op.
    assert.equal((await ack([])).error, undefined);
    assert.equal(await t.store.queue.count('bob-b1', 1), 5);
    // Another device's batch deletes nothing of bob's.
    const foreign = await alice.client.request({
      case: 'ack',
      value: { serverGuids: guids.slice(0, 4) },
    });
    assert.equal(foreign.error, undefined);
    assert.equal(await t.store.queue.count('bob-b1', 1), 5);
    // At the limit (a duplicate counts toward it): one frame deletes them all.
    const [g0, g1, g2, g3, g4] = guids;
    assert.ok(g0 && g1 && g2 && g3 && g4);
    assert.equal((await ack([g0, g1, g2, g2])).error, undefined);
    assert.equal(await t.store.queue.count('bob-b1', 1), 2);
    assert.equal((await ack([g3, g4])).error, undefined);
    assert.equal(await t.store.queue.count('bob-b1', 1), 0);
    alice.client.close();
    bob.client.close();
  });
});
