/**
 * A node killed with `kill -9` while three senders (homed on node1, node2,
 * node3) stream 2,000 messages to an account with a device on every node.
 * The dead node's clients (a sender and a receiver) move to a surviving
 * node; every receiving device shows every message exactly once, in each
 * sender's order — including a send cut off by the kill, which the client
 * core sends again under the same message id (see load.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestSchema, serviceSkip, type TestSchema } from '../helpers/services.js';
import { ensureBuilt } from '../e2e/harness.js';
import { Cluster, natsBinarySkip } from './harness.js';
import { RECIPIENT, startFleet, type Fleet } from './fleet.js';
import { check, runLoad, summarizeSends, waitForAll } from './load.js';

const skip = (await serviceSkip('postgres')) ?? natsBinarySkip();
const MESSAGES = Number(process.env['QUINTET_CLUSTER_MESSAGES'] ?? 2_000);

describe('cluster: a node killed under load', { skip, timeout: 600_000 }, () => {
  let schema: TestSchema | undefined;
  let cluster: Cluster | undefined;
  let fleet: Fleet | undefined;

  before(async () => {
    ensureBuilt();
    schema = await createTestSchema('kill');
    cluster = await Cluster.start({ database: { url: schema.url, schema: schema.name } });
    const nodes = cluster;
    fleet = await startFleet(
      { ids: ['node1', 'node2', 'node3'], urls: (h) => nodes.urls(h) },
      'kill',
    );
  });

  after(async () => {
    await fleet?.stop();
    await cluster?.close();
    await schema?.drop();
  });

  it('loses and duplicates nothing; the dead node’s clients fail over', async () => {
    assert.ok(cluster && fleet, 'setup failed');
    const dead = cluster.node('node3');
    let killedAt = 0;
    const load = await runLoad({
      senders: fleet.senders,
      recipient: RECIPIENT,
      total: MESSAGES,
      pauseMs: 10,
      atFraction: 0.3,
      disrupt: async () => {
        killedAt = Date.now();
        await cluster?.kill('node3');
      },
    });
    assert.ok(killedAt > 0, 'the node was killed during the load');
    assert.equal(dead.alive, false);
    await waitForAll(fleet.receivers, load.sent);
    const reports = fleet.receivers.map((r) => check(r, load.sent));
    const twice = reports.reduce((n, r) => n + r.ambiguousTwice.length, 0);
    console.log(
      `# node-failure: ${load.sent.length} messages in ${load.sendMs} ms; ${summarizeSends(load.sent)}; ` +
        `shown twice after a send the client gave up on: ${twice}`,
    );
    for (const report of reports) {
      assert.deepEqual(report.missing, [], `${report.label} lost messages`);
      assert.deepEqual(report.duplicated, [], `${report.label} showed messages twice`);
      assert.deepEqual(report.ambiguousTwice, [], `${report.label} showed re-sent messages twice`);
      assert.deepEqual(report.outOfOrder, [], `${report.label} showed messages out of order`);
    }
    // Both devices homed on node3 carried on through another node.
    for (const device of [...fleet.senders, ...fleet.receivers].filter((d) =>
      d.label.endsWith('@node3'),
    )) {
      assert.equal(device.connectedTo[0], dead.url, `${device.label} started on node3`);
      assert.notEqual(device.url, dead.url, `${device.label} moved to a surviving node`);
    }
    for (const nodeId of ['node1', 'node2']) {
      const health = await cluster.health(nodeId);
      assert.deepEqual((health['database'] as Record<string, unknown> | undefined)?.['ok'], true);
    }
  });
});
