import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Push, Response } from '../../src/gen/quintet/v1/transport_pb.js';
import { EnvelopeType } from '../../src/gen/quintet/v1/transport_pb.js';
import {
  authenticateOver,
  newIdentity,
  registeredDevice,
  type ConnectedDevice,
} from './helpers/device.js';
import {
  assertGroupChanged,
  assertOk,
  createGroupOver,
  GroupChange_Action,
  linkHash,
  signChange,
} from './helpers/groups.js';
import { assertError } from './helpers/linking.js';
import { RawClient } from './helpers/raw-client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

function envelopeOf(push: Push) {
  assert.ok(push.kind.case === 'envelope', `expected an envelope, got ${push.kind.case}`);
  return push.kind.value;
}

describe('groups: sending', () => {
  let t: TestServer;
  let n = 0;
  before(async () => {
    t = await startTestServer({ limits: { maxEnvelopeBytes: 1000 } });
  });
  after(() => t.close());

  /** A second device of `owner`'s account, written through the store and connected. */
  async function secondDevice(owner: ConnectedDevice): Promise<ConnectedDevice> {
    const identity = await newIdentity();
    const record = await t.store.accounts.addDevice(owner.account, {
      identityKey: identity.identity.publicKey.serialize(),
      registrationId: identity.registrationId,
      name: 'second',
      createdAt: t.clock.now(),
    });
    const client = await RawClient.connect(t.wsUrl);
    assertOk(await authenticateOver(client, owner.account, record.deviceId, identity));
    // Stored without one-time prekeys: told so at login, before the backlog.
    assert.equal((await client.nextPush()).kind.case, 'preKeysLow');
    assert.equal((await client.nextPush()).kind.case, 'queueDrained');
    return { client, account: owner.account, deviceId: record.deviceId, identity };
  }

  /** alice (1 device), bob (2 devices), carol (1 device) in one group. */
  async function setup() {
    n += 1;
    const alice = await registeredDevice(t.wsUrl, `sa${n}`);
    const bob = await registeredDevice(t.wsUrl, `sb${n}`);
    const bob2 = await secondDevice(bob);
    const carol = await registeredDevice(t.wsUrl, `sc${n}`);
    const { groupId } = await createGroupOver(alice, [bob.account, carol.account]);
    for (const d of [bob, bob2, carol]) assertGroupChanged(await d.client.nextPush(), groupId);
    return { alice, bob, bob2, carol, groupId };
  }

  function recipient(...devices: ConnectedDevice[]) {
    const first = devices[0];
    assert.ok(first !== undefined);
    return {
      account: first.account,
      deviceIds: devices.map((d) => d.deviceId),
      registrationIds: devices.map((d) => d.identity.registrationId),
    };
  }

  function send(
    from: ConnectedDevice,
    value: Omit<
      Parameters<RawClient['request']>[0] & { case: 'sendGroupMessage' },
      'case'
    >['value'],
  ): Promise<Response> {
    return from.client.request({ case: 'sendGroupMessage', value });
  }

  it('fans one ciphertext out to every recipient device, with the group id', async () => {
    const { alice, bob, bob2, carol, groupId } = await setup();
    const response = await send(alice, {
      groupId,
      ciphertext: new Uint8Array([7, 7, 7]),
      recipients: [recipient(bob, bob2), recipient(carol)],
      timestamp: 99n,
    });
    assertOk(response);
    assert.ok(response.body.case === 'sendGroupMessage');
    assert.equal(response.body.value.queuedOnly, false);
    for (const d of [bob, bob2, carol]) {
      const envelope = envelopeOf(await d.client.nextPush());
      assert.equal(envelope.type, EnvelopeType.SENDER_KEY);
      assert.deepEqual(new Uint8Array(envelope.groupId), groupId);
      assert.deepEqual(new Uint8Array(envelope.content), new Uint8Array([7, 7, 7]));
      assert.equal(envelope.source, alice.account);
      assert.equal(envelope.destinationDevice, d.deviceId);
    }
    // Queued durably too: a reconnecting device would get it from the store.
    assert.equal(await t.store.queue.count(bob.account, bob2.deviceId), 1);
  });

  it('queues distributions before the ciphertext, only to the devices named', async () => {
    const { alice, bob, bob2, carol, groupId } = await setup();
    assertOk(
      await send(alice, {
        groupId,
        ciphertext: new Uint8Array([5]),
        recipients: [recipient(bob, bob2), recipient(carol)],
        distributions: [
          {
            destination: bob.account,
            envelopes: [
              {
                deviceId: bob2.deviceId,
                registrationId: bob2.identity.registrationId,
                type: EnvelopeType.SIGNAL,
                content: new Uint8Array([1]),
              },
            ],
          },
          {
            destination: carol.account,
            envelopes: [
              {
                deviceId: 1,
                registrationId: carol.identity.registrationId,
                type: EnvelopeType.PREKEY,
                content: new Uint8Array([2]),
              },
            ],
          },
        ],
      }),
    );
    const first = envelopeOf(await bob2.client.nextPush());
    assert.equal(first.type, EnvelopeType.SIGNAL);
    assert.equal(envelopeOf(await bob2.client.nextPush()).type, EnvelopeType.SENDER_KEY);
    assert.equal(envelopeOf(await carol.client.nextPush()).type, EnvelopeType.PREKEY);
    assert.equal(envelopeOf(await carol.client.nextPush()).type, EnvelopeType.SENDER_KEY);
    // bob's first device already had the key: just the message.
    assert.equal(envelopeOf(await bob.client.nextPush()).type, EnvelopeType.SENDER_KEY);
    assert.deepEqual(await bob.client.drainPushesFor(30), []);

    // Offline order is the same: read back from the store.
    const page = await t.store.queue.page(carol.account, 1, 0, 10);
    assert.deepEqual(
      page.envelopes.map((e) => e.type),
      [EnvelopeType.PREKEY, EnvelopeType.SENDER_KEY],
    );
  });

  it('refuses wrong recipient sets per account, and queues nothing', async () => {
    const { alice, bob, bob2, carol, groupId } = await setup();
    const base = { groupId, ciphertext: new Uint8Array([1]) };
    // bob2 missing, an extra device for carol.
    const missing = await send(alice, {
      ...base,
      recipients: [
        recipient(bob),
        {
          account: carol.account,
          deviceIds: [1, 9],
          registrationIds: [carol.identity.registrationId, 1],
        },
      ],
    });
    assertError(missing, 'mismatched-devices');
    const mismatches = missing.error?.accountMismatches ?? [];
    assert.deepEqual(
      mismatches.map((m) => [m.account, [...m.missingDevices], [...m.extraDevices]]),
      [
        [bob.account, [bob2.deviceId], []],
        [carol.account, [], [9]],
      ],
    );
    // A non-member account named: all of its devices are extra.
    const outsider = await send(alice, {
      ...base,
      recipients: [
        recipient(bob, bob2),
        recipient(carol),
        { account: 'zz-outsider', deviceIds: [1], registrationIds: [1] },
      ],
    });
    assertError(outsider, 'mismatched-devices');
    assert.deepEqual(
      outsider.error?.accountMismatches.map((m) => [m.account, [...m.extraDevices]]),
      [['zz-outsider', [1]]],
    );
    // The sending device itself is not a recipient.
    assertError(
      await send(alice, {
        ...base,
        recipients: [recipient(alice), recipient(bob, bob2), recipient(carol)],
      }),
      'mismatched-devices',
    );
    const stale = await send(alice, {
      ...base,
      recipients: [
        recipient(bob, bob2),
        {
          account: carol.account,
          deviceIds: [1],
          registrationIds: [carol.identity.registrationId + 1],
        },
      ],
    });
    assertError(stale, 'stale-devices');
    assert.deepEqual(
      stale.error?.accountMismatches.map((m) => [m.account, [...m.staleDevices]]),
      [[carol.account, [1]]],
    );
    // A distribution for a device that is not a recipient, or stale.
    const badDistribution = await send(alice, {
      ...base,
      recipients: [recipient(bob), recipient(carol)],
      refused: [{ account: bob.account, deviceIds: [bob2.deviceId] }],
      distributions: [
        {
          destination: bob.account,
          envelopes: [
            {
              deviceId: bob2.deviceId,
              registrationId: bob2.identity.registrationId,
              type: 1,
              content: new Uint8Array([1]),
            },
          ],
        },
      ],
    });
    assertError(badDistribution, 'mismatched-devices');
    assertError(
      await send(alice, {
        ...base,
        recipients: [recipient(bob, bob2), recipient(carol)],
        distributions: [
          {
            destination: carol.account,
            envelopes: [
              { deviceId: 1, registrationId: 12345678, type: 1, content: new Uint8Array([1]) },
            ],
          },
        ],
      }),
      'stale-devices',
    );
    for (const d of [bob, bob2, carol]) {
      assert.equal(await t.store.queue.count(d.account, d.deviceId), 0);
    }
  });

  it('gives refused devices nothing', async () => {
    const { alice, bob, bob2, carol, groupId } = await setup();
    assertOk(
      await send(alice, {
        groupId,
        ciphertext: new Uint8Array([3]),
        recipients: [recipient(bob), recipient(carol)],
        refused: [{ account: bob.account, deviceIds: [bob2.deviceId] }],
      }),
    );
    envelopeOf(await bob.client.nextPush());
    envelopeOf(await carol.client.nextPush());
    assert.deepEqual(await bob2.client.drainPushesFor(50), []);
    assert.equal(await t.store.queue.count(bob.account, bob2.deviceId), 0);
  });

  it('gives a removed member nothing, though it stays connected', async () => {
    n += 1;
    const alice = await registeredDevice(t.wsUrl, `sa${n}`);
    const bob = await registeredDevice(t.wsUrl, `sb${n}`);
    const carol = await registeredDevice(t.wsUrl, `sc${n}`);
    const { groupId, head } = await createGroupOver(alice, [bob.account, carol.account]);
    for (const d of [bob, carol]) assertGroupChanged(await d.client.nextPush(), groupId);
    const removeCarol = await signChange(alice, {
      groupId,
      version: 1,
      previousHash: await linkHash(head),
      action: GroupChange_Action.REMOVE,
      target: carol.account,
      members: [
        { account: alice.account, admin: true },
        { account: bob.account, admin: false },
      ],
    });
    assertOk(await alice.client.request({ case: 'updateGroup', value: { change: removeCarol } }));
    for (const d of [bob, carol]) assertGroupChanged(await d.client.nextPush(), groupId);

    // A sender that still lists carol is refused, and nothing is queued.
    const stale = await send(alice, {
      groupId,
      ciphertext: new Uint8Array([8]),
      recipients: [recipient(bob), recipient(carol)],
    });
    assert.notEqual(stale.error, undefined, 'a send naming a removed member is refused');
    assert.equal(await t.store.queue.count(bob.account, bob.deviceId), 0);
    // The right set reaches bob; carol, connected all along, gets no push.
    assertOk(
      await send(alice, { groupId, ciphertext: new Uint8Array([9]), recipients: [recipient(bob)] }),
    );
    assert.deepEqual(
      new Uint8Array(envelopeOf(await bob.client.nextPush()).content),
      new Uint8Array([9]),
    );
    assert.deepEqual(await carol.client.drainPushesFor(100), []);
    assert.equal(await t.store.queue.count(carol.account, carol.deviceId), 0);
    // Nor can carol send into the group any more.
    assertError(
      await send(carol, {
        groupId,
        ciphertext: new Uint8Array([1]),
        recipients: [recipient(alice), recipient(bob)],
      }),
      'not-group-member',
    );
  });

  it('refuses non-members, unknown groups and malformed sends', async () => {
    const { alice, bob, bob2, carol, groupId } = await setup();
    const outsider = await registeredDevice(t.wsUrl, `so${n}`);
    const everyone = [recipient(alice), recipient(bob, bob2), recipient(carol)];
    assertError(
      await send(outsider, { groupId, ciphertext: new Uint8Array([1]), recipients: everyone }),
      'not-group-member',
    );
    assertError(
      await send(alice, { groupId: new Uint8Array(16), ciphertext: new Uint8Array([1]) }),
      'unknown-group',
    );
    assertError(
      await send(alice, { groupId: new Uint8Array(5), ciphertext: new Uint8Array([1]) }),
      'malformed-request',
    );
    assertError(await send(alice, { groupId, recipients: everyone.slice(1) }), 'malformed-request');
    assertError(
      await send(alice, {
        groupId,
        ciphertext: new Uint8Array(1001),
        recipients: everyone.slice(1),
      }),
      'envelope-too-large',
    );
    assertError(
      await send(alice, {
        groupId,
        ciphertext: new Uint8Array([1]),
        recipients: [recipient(bob, bob2), recipient(carol), recipient(carol)],
      }),
      'malformed-request',
    );
    assertError(
      await send(alice, {
        groupId,
        ciphertext: new Uint8Array([1]),
        recipients: [
          { account: bob.account, deviceIds: [1, 2], registrationIds: [1] },
          recipient(carol),
        ],
      }),
      'malformed-request',
    );
    // A SENDER_KEY envelope is not a pairwise distribution.
    assertError(
      await send(alice, {
        groupId,
        ciphertext: new Uint8Array([1]),
        recipients: everyone.slice(1),
        distributions: [
          {
            destination: carol.account,
            envelopes: [
              {
                deviceId: 1,
                registrationId: carol.identity.registrationId,
                type: EnvelopeType.SENDER_KEY,
                content: new Uint8Array([1]),
              },
            ],
          },
        ],
      }),
      'malformed-request',
    );
    const tooMany = Array.from({ length: 1024 * 5 + 1 }, (_, i) => i + 1);
    assertError(
      await send(alice, {
        groupId,
        ciphertext: new Uint8Array([1]),
        recipients: [{ account: bob.account, deviceIds: tooMany, registrationIds: tooMany }],
      }),
      'too-many-envelopes',
    );
  });

  it('accepts a distributions-only chunk (empty ciphertext)', async () => {
    const { alice, bob, bob2, carol, groupId } = await setup();
    assertOk(
      await send(alice, {
        groupId,
        recipients: [recipient(bob, bob2), recipient(carol)],
        distributions: [
          {
            destination: carol.account,
            envelopes: [
              {
                deviceId: 1,
                registrationId: carol.identity.registrationId,
                type: 1,
                content: new Uint8Array([4]),
              },
            ],
          },
        ],
      }),
    );
    assert.equal(envelopeOf(await carol.client.nextPush()).type, EnvelopeType.SIGNAL);
    assert.deepEqual(await bob.client.drainPushesFor(30), []);
  });
});
