/**
 * Ephemeral sends (typing indicators, src/server/ephemeral.ts): pushed to
 * connected devices only, never queued; bounded in size and rate.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Push, Response } from '../../src/gen/quintet/v1/transport_pb.js';
import type { RawClient } from './helpers/raw-client.js';
import { DEFAULT_LIMITS } from '../../src/server/config.js';
import { registeredDevice, reconnect, sendTo, type ConnectedDevice } from './helpers/device.js';
import { startTestServer, type TestServer } from './helpers/server.js';

function envelopeOf(push: Push) {
  assert.ok(push.kind.case === 'envelope', `expected an envelope, got ${push.kind.case}`);
  return push.kind.value;
}

function primary(device: ConnectedDevice) {
  return [{ deviceId: 1, registrationId: device.identity.registrationId }];
}

function sendEphemeral(
  client: RawClient,
  to: ConnectedDevice,
  content: Uint8Array = new Uint8Array([7, 7]),
  type = 1,
): Promise<Response> {
  return client.request({
    case: 'sendMessage',
    value: {
      destination: to.account,
      timestamp: 99n,
      ephemeral: true,
      envelopes: primary(to).map((d) => ({ ...d, type, content })),
    },
  });
}

describe('ephemeral sends', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ limits: { ephemeralRateBurst: 3, ephemeralRatePerSecond: 1 } });
  });
  after(() => t.close());

  it('reaches a connected device, unstored and without a guid', async () => {
    const alice = await registeredDevice(t.wsUrl, 'eph-alice1');
    const bob = await registeredDevice(t.wsUrl, 'eph-bob1');
    const response = await sendEphemeral(alice.client, bob);
    assert.equal(response.error, undefined);
    assert.ok(response.body.case === 'sendMessage');
    assert.equal(response.body.value.queuedOnly, false);
    const envelope = envelopeOf(await bob.client.nextPush());
    assert.equal(envelope.ephemeral, true);
    assert.equal(envelope.serverGuid.length, 0, 'nothing to ack');
    assert.equal(envelope.source, 'eph-alice1');
    assert.deepEqual([...envelope.content], [7, 7]);
    assert.equal(envelope.timestamp, 99n);
    assert.equal(await t.store.queue.count('eph-bob1', 1), 0, 'never stored');
    // An ack of it names no queued envelope: refused, nothing changes.
    const ack = await bob.client.request({
      case: 'ack',
      value: { serverGuids: [envelope.serverGuid] },
    });
    assert.equal(ack.error?.code, 'malformed-request');
    alice.client.close();
    bob.client.close();
  });

  it('never reaches a device that was offline, not even later', async () => {
    const alice = await registeredDevice(t.wsUrl, 'eph-alice2');
    const bob = await registeredDevice(t.wsUrl, 'eph-bob2');
    bob.client.close();
    await bob.client.closed;
    const response = await sendEphemeral(alice.client, bob);
    assert.equal(response.error, undefined);
    assert.ok(response.body.case === 'sendMessage');
    assert.equal(response.body.value.queuedOnly, true);
    assert.equal(await t.store.queue.count('eph-bob2', 1), 0);
    const back = await reconnect(t.wsUrl, bob);
    assert.equal((await back.client.nextPush()).kind.case, 'queueDrained');
    // The next push is a durable message sent afterwards, not the typing one.
    await sendTo(alice.client, 'eph-bob2', primary(bob), new Uint8Array([1]));
    const next = envelopeOf(await back.client.nextPush());
    assert.equal(next.ephemeral, false);
    assert.deepEqual([...next.content], [1]);
    alice.client.close();
    back.client.close();
  });

  it('refuses oversized content and plaintext, storing and pushing nothing', async () => {
    const alice = await registeredDevice(t.wsUrl, 'eph-alice3');
    const bob = await registeredDevice(t.wsUrl, 'eph-bob3');
    const bound = DEFAULT_LIMITS.maxEphemeralBytes;
    // The bound fits a v4 (PQXDH) prekey message: typing can start a session.
    assert.ok(bound >= 2048);
    const big = await sendEphemeral(alice.client, bob, new Uint8Array(bound + 1));
    assert.equal(big.error?.code, 'envelope-too-large');
    const plain = await sendEphemeral(alice.client, bob, new Uint8Array([1]), 4);
    assert.equal(plain.error?.code, 'malformed-request');
    // Exactly the bound is within it.
    const fits = await sendEphemeral(alice.client, bob, new Uint8Array(bound));
    assert.equal(fits.error, undefined);
    assert.equal(envelopeOf(await bob.client.nextPush()).content.length, bound);
    assert.equal(await t.store.queue.count('eph-bob3', 1), 0);
    alice.client.close();
    bob.client.close();
  });

  it('rate-limits per sending device, with a typed error', async () => {
    const alice = await registeredDevice(t.wsUrl, 'eph-alice4');
    const bob = await registeredDevice(t.wsUrl, 'eph-bob4');
    for (let i = 0; i < 3; i++) {
      assert.equal((await sendEphemeral(alice.client, bob)).error, undefined);
    }
    const limited = await sendEphemeral(alice.client, bob);
    assert.equal(limited.error?.code, 'rate-limited');
    assert.equal(limited.error?.limit, 'ephemeral-per-device');
    assert.ok((limited.error?.retryAfterMs ?? 0) > 0);
    // Durable sends are not affected by the ephemeral bucket.
    assert.equal((await sendTo(alice.client, 'eph-bob4', primary(bob))).error, undefined);
    t.clock.advance(1000);
    assert.equal((await sendEphemeral(alice.client, bob)).error, undefined);
    alice.client.close();
    bob.client.close();
  });
});
