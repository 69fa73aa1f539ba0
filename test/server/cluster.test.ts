/**
 * Several nodes in one process over the real NATS: each `startServer`
 * shares one in-memory store object (standing in for PostgreSQL: every node
 * sees every write, and wraps it in its own caches) and talks to the others
 * only through the bus, on a subject prefix of its own per run.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { pino } from 'pino';
import type { Push } from '../../src/gen/quintet/v1/transport_pb.js';
import { encodeBusMessage } from '../../src/server/cluster/bus-frames.js';
import { ClusterSubjects } from '../../src/server/cluster/subjects.js';
import { deviceListChangedPush } from '../../src/server/linking/push-frames.js';
import { startServer, type RunningServer } from '../../src/server/main.js';
import { CachedAccountStore } from '../../src/server/store/cached-accounts.js';
import { createMemoryStore } from '../../src/server/store/memory.js';
import type { ServerStore } from '../../src/server/store/types.js';
import { serviceSkip, TEST_BUS_URL } from '../helpers/services.js';
import {
  reconnect,
  registeredDevice,
  sendTo,
  signedList,
  type ConnectedDevice,
} from './helpers/device.js';
import { assertGroupChanged, assertOk, createGroupOver } from './helpers/groups.js';
import { linkCompanion } from './helpers/linking.js';
import { RawClient, withTimeout } from './helpers/raw-client.js';
import { TEST_LIMITS } from './helpers/server.js';

/** Generous: these wait for an event, they do not measure how fast it came. */
const EVENT_TIMEOUT_MS = 15_000;

const skip = await serviceSkip('nats');

async function startNode(
  store: ServerStore,
  nodeId: string,
  prefix: string,
  bus = TEST_BUS_URL,
): Promise<RunningServer> {
  return startServer({
    port: 0,
    store,
    nodeId,
    bus,
    busSubjectPrefix: prefix,
    logger: pino({ level: 'silent' }),
    limits: TEST_LIMITS,
  });
}

async function health(node: RunningServer): Promise<{ bus: { state: string }; nodeId: string }> {
  const response = await fetch(`${node.url}/healthz`);
  return (await response.json()) as { bus: { state: string }; nodeId: string };
}

async function metric(node: RunningServer, name: string): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`));
  assert.ok(line !== undefined, `no ${name} in /metrics`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Polls `check` until it holds (an event, not a deadline: fails only after a long wait). */
async function waitFor(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + EVENT_TIMEOUT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The next push that is neither QueueDrained nor PreKeysLow. */
async function nextNotice(client: RawClient): Promise<Push> {
  for (;;) {
    const push = await client.nextPush(EVENT_TIMEOUT_MS);
    if (push.kind.case !== 'queueDrained' && push.kind.case !== 'preKeysLow') return push;
  }
}

async function nextEnvelope(client: RawClient): Promise<Uint8Array> {
  const push = await nextNotice(client);
  assert.ok(push.kind.case === 'envelope', `expected an envelope, got ${push.kind.case}`);
  return new Uint8Array(push.kind.value.content);
}

function sendOne(from: ConnectedDevice, to: ConnectedDevice, content: Uint8Array) {
  return sendTo(
    from.client,
    to.account,
    [{ deviceId: to.deviceId, registrationId: to.identity.registrationId }],
    content,
  );
}

describe('cluster: nodes over the bus', { skip }, () => {
  const prefix = `qtest${randomBytes(6).toString('hex')}`;
  const store = createMemoryStore();
  let a: RunningServer;
  let b: RunningServer;
  let n = 0;
  const name = (what: string): string => `${what}.${(n += 1)}-x`;

  before(async () => {
    a = await startNode(store, 'node-a', prefix);
    b = await startNode(store, 'node-b', prefix);
    await waitFor('both nodes on the bus', async () => {
      const [ha, hb] = await Promise.all([health(a), health(b)]);
      return ha.bus.state === 'connected' && hb.bus.state === 'connected';
    });
  });
  after(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  it('reports its node id and bus state', async () => {
    const h = await health(a);
    assert.equal(h.nodeId, 'node-a');
    assert.equal(await metric(a, 'quintet_bus_connected'), 1);
  });

  it('delivers a message sent via node A live to a device on node B', async () => {
    const alice = await registeredDevice(a.wsUrl, name('alice'));
    const bob = await registeredDevice(b.wsUrl, name('bob'));
    const sent = await sendOne(alice, bob, new Uint8Array([1, 2, 3]));
    assertOk(sent);
    // Not connected to node A: as far as A knows, only queued.
    assert.ok(sent.body.case === 'sendMessage');
    assert.equal(sent.body.value.queuedOnly, true);
    assert.deepEqual(await nextEnvelope(bob.client), new Uint8Array([1, 2, 3]));
    for (const d of [alice, bob]) d.client.close();
  });

  it('does not push again what was pushed live when a wake re-reads the queue', async () => {
    const bob = await registeredDevice(b.wsUrl, name('bob'));
    const near = await registeredDevice(b.wsUrl, name('near'));
    const far = await registeredDevice(a.wsUrl, name('far'));
    assertOk(await sendOne(near, bob, new Uint8Array([1])));
    assert.deepEqual(await nextEnvelope(bob.client), new Uint8Array([1]));
    // Unacked, [1] is still queued: the wake's read must skip it.
    assertOk(await sendOne(far, bob, new Uint8Array([2])));
    assert.deepEqual(await nextEnvelope(bob.client), new Uint8Array([2]));
    assertOk(await sendOne(near, bob, new Uint8Array([3])));
    assert.deepEqual(await nextEnvelope(bob.client), new Uint8Array([3]));
    for (const d of [bob, near, far]) d.client.close();
  });

  it('reads the queue when a wake went missing, so what it announced still arrives, in order', async () => {
    const alice = await registeredDevice(a.wsUrl, name('alice'));
    const bob = await registeredDevice(b.wsUrl, name('bob'));
    assertOk(await sendOne(alice, bob, new Uint8Array([1])));
    assert.deepEqual(await nextEnvelope(bob.client), new Uint8Array([1]));
    // Queued with no wake at all (a lost bus message): the next wake carries
    // a later envelope, and its gap must send node B to the store.
    await store.queue.enqueue([
      {
        destination: bob.account,
        destinationDevice: bob.deviceId,
        source: alice.account,
        sourceDevice: alice.deviceId,
        type: 1,
        content: new Uint8Array([2]),
        timestamp: 0,
        serverTimestamp: Date.now(),
      },
    ]);
    assertOk(await sendOne(alice, bob, new Uint8Array([3])));
    assert.deepEqual(await nextEnvelope(bob.client), new Uint8Array([2]));
    assert.deepEqual(await nextEnvelope(bob.client), new Uint8Array([3]));
    for (const d of [alice, bob]) d.client.close();
  });

  it('does not push a carried envelope that skips ahead of the queue', async () => {
    const alice = await registeredDevice(a.wsUrl, name('alice'));
    const bob = await registeredDevice(b.wsUrl, name('bob'));
    const nc = await connect({ servers: TEST_BUS_URL });
    try {
      const guid = new Uint8Array(16);
      guid[7] = 50; // sequence 50: nothing before it was seen
      nc.publish(
        new ClusterSubjects(prefix).device({ account: bob.account, deviceId: bob.deviceId }),
        encodeBusMessage({
          kind: 'envelopes',
          origin: 'elsewhere',
          envelopes: [
            {
              guid,
              destination: bob.account,
              destinationDevice: bob.deviceId,
              source: alice.account,
              sourceDevice: 1,
              type: 1,
              content: new Uint8Array([66]),
              timestamp: 0,
              serverTimestamp: Date.now(),
            },
          ],
        }),
      );
      await nc.flush();
    } finally {
      await nc.close();
    }
    // The gap sent node B to the store, which does not hold it.
    assertOk(await sendOne(alice, bob, new Uint8Array([5])));
    assert.deepEqual(await nextEnvelope(bob.client), new Uint8Array([5]));
    for (const d of [alice, bob]) d.client.close();
  });

  it('closes the older connection when the device connects to another node', async () => {
    const bob = await registeredDevice(a.wsUrl, name('bob'));
    const alice = await registeredDevice(a.wsUrl, name('alice'));
    const moved = await reconnect(b.wsUrl, bob);
    const closed = await withTimeout(bob.client.closed, EVENT_TIMEOUT_MS, 'the close');
    assert.equal(closed.code, 4001);
    // The newer one survives and receives.
    assertOk(await sendOne(alice, moved, new Uint8Array([9])));
    assert.deepEqual(await nextEnvelope(moved.client), new Uint8Array([9]));
    for (const d of [alice, moved]) d.client.close();
  });

  it('keeps one of two connections made at about the same time on two nodes', async () => {
    const bob = await registeredDevice(a.wsUrl, name('bob'));
    const alice = await registeredDevice(a.wsUrl, name('alice'));
    bob.client.close();
    const [onA, onB] = await Promise.all([reconnect(a.wsUrl, bob), reconnect(b.wsUrl, bob)]);
    // One of them is closed as replaced (neither survives both: the wait fails then)...
    const loser = await withTimeout(
      Promise.race([
        onA.client.closed.then((info) => ({ info, survivor: onB })),
        onB.client.closed.then((info) => ({ info, survivor: onA })),
      ]),
      EVENT_TIMEOUT_MS,
      'one connection to be replaced',
    );
    assert.equal(loser.info.code, 4001);
    // ...and the other still receives (not both closed).
    assertOk(await sendOne(alice, loser.survivor, new Uint8Array([3])));
    assert.deepEqual(await nextEnvelope(loser.survivor.client), new Uint8Array([3]));
    for (const c of [alice.client, onA.client, onB.client]) c.close();
  });

  it('logs out a device connected to another node', async () => {
    const primary = await registeredDevice(a.wsUrl, name('rm'));
    const linked = await linkCompanion(a.wsUrl, primary, { keyIndex: 1, listTimestamp: 1001 });
    const companion = await reconnect(b.wsUrl, linked);
    assert.equal(
      (await withTimeout(linked.client.closed, EVENT_TIMEOUT_MS, 'the close')).code,
      4001,
    );
    const removal = await primary.client.request({
      case: 'removeDevice',
      value: {
        deviceId: companion.deviceId,
        signedKeyIndexList: await signedList(primary.identity, {
          timestamp: 1002,
          currentIndex: 1,
        }),
      },
    });
    assertOk(removal);
    const push = await nextNotice(companion.client);
    assert.ok(push.kind.case === 'loggedOut', `got ${push.kind.case}`);
    assert.equal(push.kind.value.reason, 'removed');
    assert.equal(
      (await withTimeout(companion.client.closed, EVENT_TIMEOUT_MS, 'the close')).code,
      4003,
    );
    primary.client.close();
  });

  it("tells watchers on another node of a list change, and drops that node's cached list", async () => {
    const primary = await registeredDevice(a.wsUrl, name('list'));
    const watcher = await registeredDevice(b.wsUrl, name('watch'));
    const ids = async (): Promise<number[]> => {
      const response = await watcher.client.request({
        case: 'getDevices',
        value: { account: primary.account },
      });
      assert.ok(response.body.case === 'getDevices', response.error?.message);
      return response.body.value.devices.map((d) => d.deviceId);
    };
    // Read (and cached) on node B, which also records the subscription.
    assert.deepEqual(await ids(), [1]);
    const cache = b.store.accounts;
    assert.ok(cache instanceof CachedAccountStore);
    assert.ok(cache.cachedDevices(primary.account) !== undefined);
    await waitFor('the subscription', async () =>
      (await store.subscribers.listSubscribers(primary.account)).includes(watcher.account),
    );
    const companion = await linkCompanion(a.wsUrl, primary, { keyIndex: 1, listTimestamp: 1001 });
    const push = await nextNotice(watcher.client);
    assert.ok(push.kind.case === 'deviceListChanged', `got ${push.kind.case}`);
    assert.equal(push.kind.value.account, primary.account);
    // Node B's answer is the new list, not its stale cached one.
    assert.deepEqual(await ids(), [1, 2]);
    for (const d of [primary, watcher, companion]) d.client.close();
  });

  it('fans a group send out to devices on another node', async () => {
    const alice = await registeredDevice(a.wsUrl, name('ga'));
    const bob = await registeredDevice(b.wsUrl, name('gb'));
    const carol = await registeredDevice(b.wsUrl, name('gc'));
    const { groupId } = await createGroupOver(alice, [bob.account, carol.account]);
    // The group-change notice is forwarded to node B too.
    for (const d of [bob, carol]) assertGroupChanged(await nextNotice(d.client), groupId);
    const response = await alice.client.request({
      case: 'sendGroupMessage',
      value: {
        groupId,
        ciphertext: new Uint8Array([7, 7]),
        recipients: [bob, carol].map((d) => ({
          account: d.account,
          deviceIds: [d.deviceId],
          registrationIds: [d.identity.registrationId],
        })),
        timestamp: 5n,
      },
    });
    assertOk(response);
    for (const d of [bob, carol])
      assert.deepEqual(await nextEnvelope(d.client), new Uint8Array([7, 7]));
    for (const d of [alice, bob, carol]) d.client.close();
  });

  it('does not remove as inactive a companion connected to another node', async () => {
    // Linked on node B and connected there; node A runs the sweep.
    const primary = await registeredDevice(b.wsUrl, name('idle'));
    const companion = await linkCompanion(b.wsUrl, primary, { keyIndex: 1, listTimestamp: 1001 });
    // Stored as long unseen: only its live connection on B keeps it.
    await b.store.accounts.touchDevice(primary.account, companion.deviceId, 1);
    await a.sweepInactiveDevices();
    assert.deepEqual(
      (await store.accounts.listDevices(primary.account))?.map((d) => d.deviceId),
      [1, companion.deviceId],
    );
    for (const d of [primary, companion]) d.client.close();
  });

  it('reaches a connection of another node by its id (linking hand-off)', async () => {
    // A fresh node (with a store of its own: closing a node closes its
    // store): its first connection has id 1.
    const c = await startNode(createMemoryStore(), 'node-c', prefix);
    try {
      await waitFor('node C on the bus', async () => (await health(c)).bus.state === 'connected');
      const anonymous = await RawClient.connect(c.wsUrl);
      const nc = await connect({ servers: TEST_BUS_URL });
      try {
        nc.publish(
          new ClusterSubjects(prefix).node('node-c'),
          encodeBusMessage({
            kind: 'connection-op',
            origin: 'node-a',
            connectionId: 1,
            push: deviceListChangedPush('handed.over'),
            extendMs: -1,
          }),
        );
        await nc.flush();
      } finally {
        await nc.close();
      }
      const push = await anonymous.nextPush(EVENT_TIMEOUT_MS);
      assert.ok(push.kind.case === 'deviceListChanged', `got ${push.kind.case}`);
      assert.equal(push.kind.value.account, 'handed.over');
      anonymous.close();
    } finally {
      await c.close();
    }
  });

  it('drops malformed bus messages and keeps working', async () => {
    const bob = await registeredDevice(b.wsUrl, name('bob'));
    const alice = await registeredDevice(a.wsUrl, name('alice'));
    const subjects = new ClusterSubjects(prefix);
    const before = await metric(b, 'quintet_bus_messages_dropped_total');
    const nc = await connect({ servers: TEST_BUS_URL });
    try {
      const subject = subjects.device({ account: bob.account, deviceId: 1 });
      nc.publish(subject, new Uint8Array([1])); // truncated
      nc.publish(subject, new Uint8Array([9, 9, 9])); // unknown version
      nc.publish(subject, new Uint8Array([1, 3, 0, 1, 0x41, 0xff, 0xff, 0xff, 0xff])); // blob past the end
      nc.publish(subjects.lists, new Uint8Array([1, 1, 0, 1, 0x41])); // a wake on the lists subject
      await nc.flush();
    } finally {
      await nc.close();
    }
    await waitFor(
      'the malformed messages to be dropped',
      async () => (await metric(b, 'quintet_bus_messages_dropped_total')) >= before + 4,
    );
    assertOk(await sendOne(alice, bob, new Uint8Array([4])));
    assert.deepEqual(await nextEnvelope(bob.client), new Uint8Array([4]));
    for (const d of [alice, bob]) d.client.close();
  });
});

// Needs no NATS at all: runs everywhere.
describe('cluster: the bus is down', () => {
  const prefix = `qtest${randomBytes(6).toString('hex')}`;
  const store = createMemoryStore();
  let a: RunningServer;
  let b: RunningServer;

  before(async () => {
    // Nothing listens on port 1: the nodes never reach a bus.
    a = await startNode(store, 'dead-a', prefix, 'nats://127.0.0.1:1');
    b = await startNode(store, 'dead-b', prefix, 'nats://127.0.0.1:1');
  });
  after(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  it('serves degraded and delivers through the queue sweep', async () => {
    const h = await health(a);
    assert.notEqual(h.bus.state, 'connected');
    assert.equal(await metric(a, 'quintet_bus_connected'), 0);
    const alice = await registeredDevice(a.wsUrl, 'dead.alice');
    const bob = await registeredDevice(b.wsUrl, 'dead.bob');
    assertOk(await sendOne(alice, bob, new Uint8Array([5, 5])));
    // No bus to wake node B: its sweep re-reads bob's queue.
    assert.deepEqual(await nextEnvelope(bob.client), new Uint8Array([5, 5]));
    for (const d of [alice, bob]) d.client.close();
  });
});

/**
 * A TCP relay in front of NATS that the test can cut and restore: the bus
 * goes away for the nodes behind it while NATS itself (shared with other
 * test runs) stays up.
 */
class BusRelay {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  /** Each relayed connection's node side and NATS side. */
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();
  private holding = false;
  port = 0;

  /** Holds what the nodes send to NATS (their subscriptions, say) until `release`. */
  hold(): void {
    this.holding = true;
    for (const { client, upstream } of this.pairs) client.unpipe(upstream);
  }

  /** Lets the held bytes through, in order, and everything after them. */
  release(): void {
    this.holding = false;
    for (const { client, upstream } of this.pairs) client.pipe(upstream);
  }

  async open(): Promise<void> {
    const target = new URL(TEST_BUS_URL);
    const server = createServer((client) => {
      const upstream = tcpConnect(Number(target.port || 4222), target.hostname);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => socket.destroy());
      }
      const pair = { client, upstream };
      this.pairs.add(pair);
      if (!this.holding) client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => {
        this.pairs.delete(pair);
        upstream.destroy();
      });
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    const address = server.address();
    assert.ok(address !== null && typeof address !== 'string');
    this.port = address.port;
    this.server = server;
  }

  /** Stops accepting and drops every relayed connection. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server?.close(() => resolve()) ?? resolve());
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}

describe('cluster: a device subscribed late on the bus', { skip }, () => {
  const prefix = `qtest${randomBytes(6).toString('hex')}`;
  const store = createMemoryStore();
  const relay = new BusRelay();
  let a: RunningServer;
  let b: RunningServer;

  before(async () => {
    await relay.open();
    a = await startNode(store, 'late-a', prefix);
    b = await startNode(store, 'late-b', prefix, `nats://127.0.0.1:${relay.port}`);
    await waitFor('node B on the bus', async () => (await health(b)).bus.state === 'connected');
  });
  after(async () => {
    await Promise.all([a.close(), b.close()]);
    await relay.cut();
  });

  it('gets what was committed before NATS had its subscription', async () => {
    const alice = await registeredDevice(a.wsUrl, 'late.alice');
    // Node B's subscription for bob stays in the relay: node A's wake for
    // the envelope below reaches nobody, and bob's first queue read came
    // before the envelope was committed.
    relay.hold();
    const bob = await registeredDevice(b.wsUrl, 'late.bob');
    assertOk(await sendOne(alice, bob, new Uint8Array([7])));
    relay.release();
    assert.deepEqual(await nextEnvelope(bob.client), new Uint8Array([7]));
    for (const d of [alice, bob]) d.client.close();
  });
});

describe('cluster: the bus goes away and comes back', { skip }, () => {
  const prefix = `qtest${randomBytes(6).toString('hex')}`;
  const store = createMemoryStore();
  const relay = new BusRelay();
  let a: RunningServer;
  let b: RunningServer;

  before(async () => {
    await relay.open();
    const url = `nats://127.0.0.1:${relay.port}`;
    a = await startNode(store, 'flap-a', prefix, url);
    b = await startNode(store, 'flap-b', prefix, url);
    await waitFor('both nodes on the bus', async () => {
      const [ha, hb] = await Promise.all([health(a), health(b)]);
      return ha.bus.state === 'connected' && hb.bus.state === 'connected';
    });
  });
  after(async () => {
    await Promise.all([a.close(), b.close()]);
    await relay.cut();
  });

  it('serves degraded while it is away and recovers by itself', async () => {
    const alice = await registeredDevice(a.wsUrl, 'flap.alice');
    const bob = await registeredDevice(b.wsUrl, 'flap.bob');
    await relay.cut();
    await waitFor('node B to notice', async () => (await metric(b, 'quintet_bus_connected')) === 0);
    assertOk(await sendOne(alice, bob, new Uint8Array([1])));
    // Through node B's sweep: no bus to ring.
    assert.deepEqual(await nextEnvelope(bob.client), new Uint8Array([1]));

    await relay.open();
    await waitFor('both nodes back on the bus', async () => {
      const [ha, hb] = await Promise.all([health(a), health(b)]);
      return ha.bus.state === 'connected' && hb.bus.state === 'connected';
    });
    assert.ok((await metric(b, 'quintet_bus_reconnects_total')) >= 1);
    assertOk(await sendOne(alice, bob, new Uint8Array([2])));
    assert.deepEqual(await nextEnvelope(bob.client), new Uint8Array([2]));
    for (const d of [alice, bob]) d.client.close();
  });
});
