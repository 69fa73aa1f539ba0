/**
 * Cluster mode end to end with real processes: three `quintet server` nodes
 * on one PostgreSQL schema and a private NATS, and the real `quintet` CLI
 * pinned to one node per profile (`--server <that node>`), so every step
 * crosses nodes: alice's primary is on node1, her companions on node2 and
 * node3, bob on node2, carol on node3.
 *
 * - a companion waiting for approval on node3 (and one on node2) links
 *   through the primary's approval on node1;
 * - 1:1 messages both ways reach `receive --follow` processes connected to
 *   other nodes, with the sender's self-sync copies;
 * - a group message fans out to devices on every node;
 * - `DeviceListChanged` reaches connected devices on every node (SDK
 *   devices, since the CLI prints no such line);
 * - a companion connected to node3 is logged out by the primary on node1;
 * - a `receive --follow --server node3,node1` process moves to node1 when
 *   node3 is killed, and keeps receiving.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestSchema, serviceSkip, type TestSchema } from '../helpers/services.js';
import { Follower } from '../e2e/follower.js';
import { ensureBuilt, linkWithCli, runCli, tempDir } from '../e2e/harness.js';
import { Cluster, natsBinarySkip } from './harness.js';
import { FailoverDevice, linkSdkDevice, registerSdkDevice, type SdkDevice } from './sdk-devices.js';

const PIN = '2468';
const skip = (await serviceSkip('postgres')) ?? natsBinarySkip();

describe('cluster: three nodes with CLI clients', { skip, timeout: 300_000 }, () => {
  const dir = tempDir('quintet-cluster-cli-');
  let schema: TestSchema | undefined;
  let cluster: Cluster | undefined;
  const followers = new Map<string, Follower>();
  const devices: FailoverDevice[] = [];
  /** Which node each profile is pinned to. */
  const home = new Map<string, string>();

  before(async () => {
    ensureBuilt();
    schema = await createTestSchema('cli');
    cluster = await Cluster.start({ database: { url: schema.url, schema: schema.name } });
  });

  after(async () => {
    await Promise.all([...followers.values()].map((f) => f.stop()));
    await Promise.all(devices.map((d) => d.stop()));
    await cluster?.close();
    await schema?.drop();
    dir.cleanup();
  });

  const profile = (name: string): string => join(dir.path, `profile-${name}`);
  const url = (nodeId: string): string => {
    assert.ok(cluster, 'setup failed');
    return cluster.node(nodeId).url;
  };
  const serverOf = (name: string): string => url(home.get(name) ?? 'node1');

  /** `quintet <args>` for profile `name` on its node; fails the test on a non-zero exit. */
  async function cli(name: string, ...args: string[]): Promise<string> {
    const result = await runCli([...args, '--profile', profile(name), '--server', serverOf(name)], {
      QUINTET_PIN: PIN,
    });
    assert.equal(result.code, 0, `quintet ${args.join(' ')} (${name}) failed:\n${result.stderr}`);
    return result.stdout;
  }

  function follow(name: string): Follower {
    const follower = new Follower(profile(name), ['--server', serverOf(name)]);
    followers.set(name, follower);
    return follower;
  }

  /**
   * Runs `args` for `name` with its follower paused (one process per profile
   * at a time). Every other follower is connected first, so what they show
   * came through the bus's doorbell to their node, not a queue read at connect.
   */
  async function paused(name: string, ...args: string[]): Promise<string> {
    const follower = followers.get(name);
    await follower?.stop();
    const counts = new Map<string, number>();
    for (const [other, f] of followers) {
      const nodeId = home.get(other) ?? 'node1';
      if (f.running) counts.set(nodeId, (counts.get(nodeId) ?? 0) + 1);
    }
    assert.ok(cluster, 'setup failed');
    await cluster.waitAuthenticated(counts);
    try {
      return await cli(name, ...args);
    } finally {
      if (follower !== undefined) follow(name);
    }
  }

  /** Waits until every follower in `names` printed a message line matching `match`. */
  async function allSee(
    names: readonly string[],
    match: (line: Record<string, unknown>) => boolean,
  ): Promise<void> {
    for (const name of names) {
      const follower = followers.get(name);
      assert.ok(follower, `no follower for ${name}`);
      await follower.line((l) => l['type'] === 'message' && match(l), 30_000);
    }
  }

  it('answers /healthz on every node with its node id, the database and the bus', async () => {
    assert.ok(cluster, 'setup failed');
    for (const node of cluster.nodes) {
      const health = await cluster.health(node.nodeId);
      assert.equal(health['nodeId'], node.nodeId);
      assert.deepEqual((health['database'] as Record<string, unknown> | undefined)?.['ok'], true);
      assert.equal(
        typeof (health['bus'] as Record<string, unknown> | undefined)?.['state'],
        'string',
      );
    }
  });

  it('links companions waiting on node2 and node3 through the primary on node1', async () => {
    home.set('alice', 'node1');
    home.set('alice-n2', 'node2');
    home.set('alice-n3', 'node3');
    home.set('bob', 'node2');
    await cli('alice', 'register', 'alice', '--pin', PIN);
    await cli('bob', 'register', 'bob', '--pin', PIN);
    for (const name of ['alice-n2', 'alice-n3']) {
      const id = await linkWithCli(serverOf(name), profile(name), name, (code) =>
        runCli(
          ['devices', 'approve', code, '--profile', profile('alice'), '--server', url('node1')],
          {
            QUINTET_PIN: PIN,
          },
        ),
      );
      assert.ok(id >= 2, `${name} got device id ${id}`);
    }
    const listed = await cli('alice-n3', 'devices', '--json');
    assert.equal(listed.match(/"deviceId":/g)?.length, 3, `three devices listed: ${listed}`);
  });

  it('delivers 1:1 messages both ways to devices connected to other nodes', async () => {
    for (const name of ['alice', 'alice-n2', 'alice-n3', 'bob']) follow(name);
    await paused('alice', 'send', 'bob', 'hello bob, from node1');
    await allSee(['bob'], (l) => l['text'] === 'hello bob, from node1' && l['from'] === 'alice');
    // alice's companions show her message as sent, in the chat with bob.
    await allSee(
      ['alice-n2', 'alice-n3'],
      (l) => l['text'] === 'hello bob, from node1' && l['outgoing'] === true && l['chat'] === 'bob',
    );
    await paused('bob', 'send', 'alice', 'hi alice, from node2');
    await allSee(
      ['alice', 'alice-n2', 'alice-n3'],
      (l) => l['text'] === 'hi alice, from node2' && l['from'] === 'bob',
    );
  });

  it('fans a group message out to devices on every node', async () => {
    home.set('carol', 'node3');
    await cli('carol', 'register', 'carol', '--pin', PIN);
    follow('carol');
    const gid = (await paused('alice', 'group', 'create', 'team', 'bob', 'carol')).trim();
    assert.match(gid, /^[0-9a-f-]{36}$/);
    await paused('alice', 'group', 'send', gid, 'hello team');
    await allSee(
      ['bob', 'carol', 'alice-n2', 'alice-n3'],
      (l) => l['chat'] === gid && l['text'] === 'hello team' && l['from'] === 'alice',
    );
    // And back the other way, from node3 to nodes 1 and 2.
    await paused('carol', 'group', 'send', gid, 'hello from carol');
    await allSee(
      ['alice', 'alice-n2', 'bob'],
      (l) => l['chat'] === gid && l['text'] === 'hello from carol' && l['from'] === 'carol',
    );
  });

  it('pushes DeviceListChanged to connected devices on every node', async () => {
    assert.ok(cluster, 'setup failed');
    const dave: SdkDevice = await registerSdkDevice(url('node1'), 'dave');
    const watchers: FailoverDevice[] = [];
    for (const nodeId of ['node1', 'node2', 'node3']) {
      const watcher = await registerSdkDevice(url(nodeId), `watch-${nodeId}`);
      const device = new FailoverDevice(`watch@${nodeId}`, watcher, [url(nodeId)]);
      devices.push(device);
      watchers.push(device);
      device.start();
      // Sending to dave subscribes the watcher to dave's device list.
      await (await device.client()).sendText('dave', `hi dave from ${nodeId}`);
    }
    // A companion of dave waits on node3; dave approves through node1.
    const companion = await linkSdkDevice(url('node3'), url('node1'), dave, 'dave-laptop');
    for (const watcher of watchers) {
      await watcher.until(
        'devices-changed for dave',
        () =>
          watcher.seen.some(
            (e) =>
              e.type === 'devices-changed' &&
              e.account === 'dave' &&
              e.added.includes(companion.deviceId),
          ),
        30_000,
      );
    }
  });

  it('logs out a companion connected to node3 from the primary on node1', async () => {
    const follower = followers.get('alice-n3');
    assert.ok(follower, 'alice-n3 follows since the 1:1 test');
    const listed = JSON.parse(await cli('alice', 'devices', '--json')) as Array<
      Record<string, unknown>
    >;
    const target = listed.find((d) => d['name'] === 'alice-n3');
    assert.ok(target, `alice-n3 in ${JSON.stringify(listed)}`);
    await paused('alice', 'devices', 'remove', String(target['deviceId']), '--pin', PIN);
    await follower.line((l) => l['type'] === 'logged-out', 30_000);
    await follower.exited(30_000);
    assert.equal(follower.running, false);
  });

  // Last: it kills node3.
  it('moves a `--server node3,node1` follower to node1 when node3 is killed', async () => {
    assert.ok(cluster, 'setup failed');
    await followers.get('carol')?.stop();
    const follower = new Follower(profile('carol'), [
      '--server',
      `${url('node3')},${url('node1')}`,
    ]);
    followers.set('carol', follower);
    await cluster.waitAuthenticated(new Map([['node3', 1]]));
    await paused('bob', 'send', 'carol', 'before node3 dies');
    await follower.message('before node3 dies', 30_000);
    await cluster.kill('node3');
    // From here carol's follower belongs on node1: `paused` waits until it is there.
    home.set('carol', 'node1');
    await paused('bob', 'send', 'carol', 'after node3 died');
    await follower.message('after node3 died', 60_000);
    assert.equal(follower.running, true);
    assert.deepEqual(
      follower.texts.filter((t) => t.startsWith('before node3') || t.startsWith('after node3')),
      ['before node3 dies', 'after node3 died'],
    );
  });
});
