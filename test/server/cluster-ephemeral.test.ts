/**
 * Ephemeral sends (typing) on a cluster: two nodes in one process over the
 * real NATS, sharing one in-memory store (as test/server/cluster.test.ts).
 * An ephemeral envelope crosses the bus to the node holding the device and
 * is pushed there; a device connected nowhere never gets it, and nothing is
 * queued on any node.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import type { Push } from '../../src/gen/quintet/v1/transport_pb.js';
import { startServer, type RunningServer } from '../../src/server/main.js';
import { createMemoryStore } from '../../src/server/store/memory.js';
import type { ServerStore } from '../../src/server/store/types.js';
import { serviceSkip, TEST_BUS_URL } from '../helpers/services.js';
import { reconnect, registeredDevice, sendTo, type ConnectedDevice } from './helpers/device.js';
import { assertGroupChanged, assertOk, createGroupOver } from './helpers/groups.js';
import type { RawClient } from './helpers/raw-client.js';
import { TEST_LIMITS } from './helpers/server.js';

/** Generous: these wait for an event, they do not measure how fast it came. */
const EVENT_TIMEOUT_MS = 15_000;

const skip = await serviceSkip('nats');

function startNode(store: ServerStore, nodeId: string, prefix: string): Promise<RunningServer> {
  return startServer({
    port: 0,
    store,
    nodeId,
    bus: TEST_BUS_URL,
    busSubjectPrefix: prefix,
    logger: pino({ level: 'silent' }),
    limits: TEST_LIMITS,
  });
}

async function busConnected(node: RunningServer): Promise<boolean> {
  const body = (await (await fetch(`${node.url}/healthz`)).json()) as { bus: { state: string } };
  return body.bus.state === 'connected';
}

/** The next push that is neither QueueDrained nor PreKeysLow. */
async function nextNotice(client: RawClient): Promise<Push> {
  for (;;) {
    const push = await client.nextPush(EVENT_TIMEOUT_MS);
    if (push.kind.case !== 'queueDrained' && push.kind.case !== 'preKeysLow') return push;
  }
}

function ephemeralTo(from: ConnectedDevice, to: ConnectedDevice, content: Uint8Array) {
  return from.client.request({
    case: 'sendMessage',
    value: {
      destination: to.account,
      timestamp: 1n,
      ephemeral: true,
      envelopes: [
        { deviceId: to.deviceId, registrationId: to.identity.registrationId, type: 1, content },
      ],
    },
  });
}

describe('cluster: ephemeral sends over the bus', { skip }, () => {
  const prefix = `qtest${randomBytes(6).toString('hex')}`;
  const store = createMemoryStore();
  let a: RunningServer;
  let b: RunningServer;
  let n = 0;
  const name = (what: string): string => `${what}.${(n += 1)}-e`;

  before(async () => {
    a = await startNode(store, 'node-a', prefix);
    b = await startNode(store, 'node-b', prefix);
    const deadline = Date.now() + EVENT_TIMEOUT_MS;
    while (!((await busConnected(a)) && (await busConnected(b)))) {
      if (Date.now() > deadline) throw new Error('nodes did not join the bus');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  });
  after(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  it('pushes an ephemeral envelope sent via node A to a device on node B, storing nothing', async () => {
    const alice = await registeredDevice(a.wsUrl, name('alice'));
    const bob = await registeredDevice(b.wsUrl, name('bob'));
    assertOk(await ephemeralTo(alice, bob, new Uint8Array([4, 2])));
    const push = await nextNotice(bob.client);
    assert.ok(push.kind.case === 'envelope');
    assert.equal(push.kind.value.ephemeral, true);
    assert.deepEqual([...push.kind.value.content], [4, 2]);
    assert.equal(await store.queue.count(bob.account, 1), 0);
    for (const d of [alice, bob]) d.client.close();
  });

  it('a device connected to no node never gets it, also after connecting to node B', async () => {
    const alice = await registeredDevice(a.wsUrl, name('alice'));
    const bob = await registeredDevice(b.wsUrl, name('bob'));
    bob.client.close();
    await bob.client.closed;
    assertOk(await ephemeralTo(alice, bob, new Uint8Array([9])));
    assert.equal(await store.queue.count(bob.account, 1), 0);
    const back = await reconnect(b.wsUrl, bob);
    // A durable message sent afterwards is the first envelope it sees.
    assertOk(
      await sendTo(
        alice.client,
        bob.account,
        [{ deviceId: 1, registrationId: bob.identity.registrationId }],
        new Uint8Array([1]),
      ),
    );
    const push = await nextNotice(back.client);
    assert.ok(push.kind.case === 'envelope');
    assert.equal(push.kind.value.ephemeral, false);
    assert.deepEqual([...push.kind.value.content], [1]);
    for (const d of [alice, back]) d.client.close();
  });

  it('pushes an ephemeral group send to member devices on another node', async () => {
    const alice = await registeredDevice(a.wsUrl, name('ga'));
    const bob = await registeredDevice(b.wsUrl, name('gb'));
    const { groupId } = await createGroupOver(alice, [bob.account]);
    assertGroupChanged(await nextNotice(bob.client), groupId);
    const response = await alice.client.request({
      case: 'sendGroupMessage',
      value: {
        groupId,
        ciphertext: new Uint8Array([5, 5]),
        recipients: [
          {
            account: bob.account,
            deviceIds: [1],
            registrationIds: [bob.identity.registrationId],
          },
        ],
        timestamp: 5n,
        ephemeral: true,
      },
    });
    assertOk(response);
    const push = await nextNotice(bob.client);
    assert.ok(push.kind.case === 'envelope');
    assert.equal(push.kind.value.ephemeral, true);
    assert.deepEqual([...push.kind.value.groupId], [...groupId]);
    assert.equal(await store.queue.count(bob.account, 1), 0);
    // A sender key cannot travel ephemerally: distributions are refused.
    const withKey = await alice.client.request({
      case: 'sendGroupMessage',
      value: {
        groupId,
        ciphertext: new Uint8Array([5]),
        recipients: [
          {
            account: bob.account,
            deviceIds: [1],
            registrationIds: [bob.identity.registrationId],
          },
        ],
        distributions: [{ destination: bob.account, envelopes: [] }],
        ephemeral: true,
      },
    });
    assert.equal(withKey.error?.code, 'malformed-request');
    for (const d of [alice, bob]) d.client.close();
  });
});
