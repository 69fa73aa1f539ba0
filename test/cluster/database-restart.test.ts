/**
 * PostgreSQL restarted under load, on a private instance (initdb in a
 * temporary directory) so the machine's shared one is never touched. While
 * it is down a send either waits for it or gets a clear retryable refusal
 * (`unavailable`, or a retry delay) — never an unclear error, a dropped
 * connection, or a success for a message that was not committed (every
 * acknowledged message must arrive); `/healthz` says the database is down;
 * after it returns every message shows exactly once, in order, on every
 * device.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { serviceSkip } from '../helpers/services.js';
import { ensureBuilt } from '../e2e/harness.js';
import { Cluster, natsBinarySkip, sleep } from './harness.js';
import { PrivatePostgres, privatePostgresSkip } from './private-postgres.js';
import { RECIPIENT, startFleet, type Fleet } from './fleet.js';
import { check, runLoad, summarizeSends, waitForAll } from './load.js';

// The shared PostgreSQL is not used here, but its absence means the
// machine is not set up for the cluster suites at all.
const skip = (await serviceSkip('postgres')) ?? natsBinarySkip() ?? privatePostgresSkip();
const MESSAGES = Number(process.env['QUINTET_CLUSTER_MESSAGES'] ?? 2_000);
const DOWN_MS = 5_000;

describe('cluster: PostgreSQL restarted under load', { skip, timeout: 600_000 }, () => {
  let postgres: PrivatePostgres | undefined;
  let cluster: Cluster | undefined;
  let fleet: Fleet | undefined;

  before(async () => {
    ensureBuilt();
    postgres = await PrivatePostgres.start();
    const schema = `q_restart_${randomBytes(4).toString('hex')}`;
    await postgres.createSchema(schema);
    cluster = await Cluster.start({ database: { url: postgres.url, schema } });
    const nodes = cluster;
    fleet = await startFleet(
      { ids: ['node1', 'node2', 'node3'], urls: (h) => nodes.urls(h) },
      'pgr',
    );
  });

  after(async () => {
    await fleet?.stop();
    await cluster?.close();
    postgres?.close();
  });

  it('refuses clearly while it is down and loses nothing', async () => {
    assert.ok(cluster && fleet && postgres, 'setup failed');
    const nodes = cluster;
    const database = postgres;
    let downHealth: Record<string, unknown> = {};
    let downAt = 0;
    // When the restart began, and when the test saw it answer queries. A send
    // held by the outage may be answered between the two (the nodes' pools
    // reconnect before the test's own probe does), so "held until it
    // returned" is measured against the first.
    let restartAt = 0;
    let upAt = 0;
    const load = await runLoad({
      senders: fleet.senders,
      recipient: RECIPIENT,
      total: MESSAGES,
      pauseMs: 30,
      atFraction: 0.3,
      disrupt: async () => {
        database.stop('fast');
        downAt = Date.now();
        await sleep(DOWN_MS / 2);
        downHealth = await nodes.health('node1');
        await sleep(DOWN_MS / 2);
        restartAt = Date.now();
        await database.start();
        upAt = Date.now();
      },
    });
    assert.ok(upAt > downAt && downAt > 0, 'PostgreSQL was restarted during the load');
    await waitForAll(fleet.receivers, load.sent);
    // Sends in flight while it was down: refused, or held until it returned.
    const met = load.sent.filter((r) => r.startedAt < upAt && r.ackedAt > downAt);
    const longest = Math.max(0, ...met.map((r) => r.ackedAt - r.startedAt));
    console.log(
      `# database-restart: ${load.sent.length} messages in ${load.sendMs} ms, down ${upAt - downAt} ms; ` +
        `${met.length} sends in flight while it was down (longest ${longest} ms); ${summarizeSends(load.sent)}`,
    );

    const attempts = load.sent.flatMap((r) => r.attempts);
    assert.deepEqual(
      attempts.filter((a) => a.kind === 'unclear' || a.kind === 'ambiguous'),
      [],
      'every failure during the outage is a clear retryable refusal (`unavailable` or a retry delay)',
    );
    assert.ok(
      met.some((r) => r.attempts.length > 1 || r.ackedAt >= restartAt),
      'some sends met the outage, refused or held until it returned (else this test proved nothing)',
    );
    for (const report of fleet.receivers.map((r) => check(r, load.sent))) {
      assert.deepEqual(report.missing, [], `${report.label} lost messages`);
      assert.deepEqual(report.duplicated, [], `${report.label} showed messages twice`);
      assert.deepEqual(report.ambiguousTwice, [], `${report.label} showed messages twice`);
      assert.deepEqual(report.outOfOrder, [], `${report.label} showed messages out of order`);
    }
    assert.notDeepEqual(
      (downHealth['database'] as Record<string, unknown> | undefined)?.['ok'],
      true,
      '/healthz says the database is down',
    );
    const health = await nodes.health('node1');
    assert.deepEqual((health['database'] as Record<string, unknown> | undefined)?.['ok'], true);
  });
});
