/**
 * NATS stopped for 10 s while three senders stream 2,000 messages to an
 * account with a device on every node. PostgreSQL is the truth and the bus
 * only a doorbell: nothing is lost, nothing shows twice, a message sent
 * while the bus is down still arrives within seconds (the degraded sweep;
 * asserted ≤ 8 s, the target is 5 s), and delivery resumes soon
 * after the bus's return (the issue asks ≤ 5 s; the assertion allows 15 s
 * for a loaded 2-core machine). The measured figures are printed.
 * `/healthz` shows the bus down and up again while the database stays ok.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestSchema, serviceSkip, type TestSchema } from '../helpers/services.js';
import { ensureBuilt } from '../e2e/harness.js';
import { Cluster, natsBinarySkip, sleep } from './harness.js';
import { RECIPIENT, startFleet, type Fleet } from './fleet.js';
import { check, firstArrival, runLoad, summarizeSends, waitForAll } from './load.js';

const skip = (await serviceSkip('postgres')) ?? natsBinarySkip();
const MESSAGES = Number(process.env['QUINTET_CLUSTER_MESSAGES'] ?? 2_000);
const OUTAGE_MS = 10_000;
/** The bound asserted on the resume time (the target is 5 s). */
const RESUME_BOUND_MS = 15_000;
/**
 * The bound on the delay of a message sent while the bus is down: the
 * degraded sweep keeps it within ~5 s; without the sweep it would wait for
 * the bus's return, up to the whole 10 s outage.
 */
const DURING_BOUND_MS = 8_000;

function busState(health: Record<string, unknown>): unknown {
  return (health['bus'] as Record<string, unknown> | undefined)?.['state'];
}

describe('cluster: the bus stopped for 10 s under load', { skip, timeout: 600_000 }, () => {
  let schema: TestSchema | undefined;
  let cluster: Cluster | undefined;
  let fleet: Fleet | undefined;

  before(async () => {
    ensureBuilt();
    schema = await createTestSchema('bus');
    cluster = await Cluster.start({ database: { url: schema.url, schema: schema.name } });
    const nodes = cluster;
    fleet = await startFleet(
      { ids: ['node1', 'node2', 'node3'], urls: (h) => nodes.urls(h) },
      'bus',
    );
  });

  after(async () => {
    await fleet?.stop();
    await cluster?.close();
    await schema?.drop();
  });

  it('loses nothing and resumes delivery soon after the bus returns', async () => {
    assert.ok(cluster && fleet, 'setup failed');
    const nodes = cluster;
    const upState = busState(await nodes.health('node1'));
    let downAt = 0;
    let upAt = 0;
    let downState: unknown;
    let downHealth: Record<string, unknown> = {};
    const load = await runLoad({
      senders: fleet.senders,
      recipient: RECIPIENT,
      total: MESSAGES,
      // Spread the messages over ~40 s so the load runs before, during and after the outage.
      pauseMs: 60,
      atFraction: 0.25,
      disrupt: async () => {
        downAt = Date.now();
        await nodes.nats.stop();
        await sleep(OUTAGE_MS / 2);
        downHealth = await nodes.health('node2');
        downState = busState(downHealth);
        await sleep(OUTAGE_MS / 2);
        await nodes.nats.start();
        upAt = Date.now();
      },
    });
    assert.ok(upAt > downAt && downAt > 0, 'the bus was stopped during the load');
    const lastSent = Math.max(...load.sent.map((r) => r.ackedAt));
    assert.ok(lastSent > upAt + 5_000, 'the load went on well after the bus returned');
    await waitForAll(fleet.receivers, load.sent);

    for (const report of fleet.receivers.map((r) => check(r, load.sent))) {
      assert.deepEqual(report.missing, [], `${report.label} lost messages`);
      assert.deepEqual(report.duplicated, [], `${report.label} showed messages twice`);
      assert.deepEqual(report.ambiguousTwice, [], `${report.label} showed messages twice`);
      assert.deepEqual(report.outOfOrder, [], `${report.label} showed messages out of order`);
    }

    // Resume: how long after the bus's return each device had everything
    // sent before the return, and the worst delay of what was sent during
    // the outage and in the 10 s after it.
    const before = new Set(load.sent.filter((r) => r.ackedAt <= upAt).map((r) => r.text));
    const during = load.sent.filter((r) => r.ackedAt > downAt && r.ackedAt <= upAt);
    const afterReturn = load.sent.filter((r) => r.ackedAt > upAt && r.ackedAt <= upAt + 10_000);
    let resumeMs = 0;
    let worstDuringMs = 0;
    let worstAfterMs = 0;
    for (const receiver of fleet.receivers) {
      const first = firstArrival(receiver, new Set(load.sent.map((r) => r.text)));
      for (const text of before) resumeMs = Math.max(resumeMs, (first.get(text)?.at ?? 0) - upAt);
      for (const r of during)
        worstDuringMs = Math.max(worstDuringMs, (first.get(r.text)?.at ?? 0) - r.ackedAt);
      for (const r of afterReturn)
        worstAfterMs = Math.max(worstAfterMs, (first.get(r.text)?.at ?? 0) - r.ackedAt);
    }
    console.log(
      `# bus-outage: ${load.sent.length} messages in ${load.sendMs} ms, bus down ${upAt - downAt} ms; ` +
        `backlog delivered ${resumeMs} ms after the bus returned; worst delay of a message sent ` +
        `during the outage ${worstDuringMs} ms, in the 10 s after it ${worstAfterMs} ms; ` +
        `bus state up=${String(upState)} down=${String(downState)}; ${summarizeSends(load.sent)}`,
    );
    assert.ok(
      resumeMs <= RESUME_BOUND_MS,
      `backlog delivered ${resumeMs} ms after the bus returned`,
    );
    assert.ok(
      worstDuringMs <= DURING_BOUND_MS,
      `a message sent while the bus was down took ${worstDuringMs} ms (the sweep bounds it)`,
    );
    assert.ok(
      worstAfterMs <= RESUME_BOUND_MS,
      `a message sent after the return took ${worstAfterMs} ms`,
    );

    // The nodes kept serving, showed the bus down, and reconnected by themselves.
    assert.deepEqual((downHealth['database'] as Record<string, unknown> | undefined)?.['ok'], true);
    assert.notEqual(downState, upState, '/healthz shows the bus down');
    for (const node of nodes.nodes) {
      const deadline = Date.now() + 30_000;
      while (busState(await nodes.health(node.nodeId)) !== upState) {
        assert.ok(Date.now() < deadline, `${node.nodeId} did not reconnect to the bus`);
        await sleep(200);
      }
    }
  });
});
