/**
 * The linking hand-off between nodes: the companion waits on node A, the
 * primary approves through node B. Both servers share one account store and
 * keep link sessions in one PostgreSQL schema; there is no bus between them
 * here, so this is the "bus dropped the message" case: the approval must
 * still reach the companion, once, from its own node's check of the store.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import { startServer, type RunningServer } from '../../src/server/main.js';
import { linkApprovedPush } from '../../src/server/linking/push-frames.js';
import { LINKS_MIGRATION_SQL } from '../../src/server/store/postgres/links-schema.js';
import { RATE_BUCKETS_MIGRATION_SQL } from '../../src/server/store/postgres/rate-buckets-schema.js';
import { createMemoryStore } from '../../src/server/store/memory.js';
import { createTestSchema, serviceSkip, type TestSchema } from '../helpers/services.js';
import { registeredDevice } from './helpers/device.js';
import {
  approveOver,
  assertError,
  completeOver,
  linkApproved,
  openCompanion,
} from './helpers/linking.js';
import { TEST_LIMITS } from './helpers/server.js';

const skip = await serviceSkip('postgres');

describe('linking across two nodes', { skip }, () => {
  let schema: TestSchema;
  let pool: pg.Pool;
  let nodeA: RunningServer;
  let nodeB: RunningServer;

  before(async () => {
    schema = await createTestSchema('handoff');
    pool = new pg.Pool({ connectionString: schema.url, options: `-c search_path=${schema.name}` });
    await pool.query(LINKS_MIGRATION_SQL);
    await pool.query(RATE_BUCKETS_MIGRATION_SQL);
    // One account store for both; the pool beside it makes each server keep
    // its link sessions (and its cluster-wide rate buckets) in PostgreSQL,
    // as a cluster node does.
    const shared = { ...createMemoryStore(), pool, close: () => Promise.resolve() };
    const common = {
      port: 0,
      store: shared,
      logger: pino({ level: 'silent' }),
      limits: TEST_LIMITS,
    };
    nodeA = await startServer({ ...common, nodeId: 'node-a' });
    nodeB = await startServer({ ...common, nodeId: 'node-b' });
  });
  after(async () => {
    await nodeA.close();
    await nodeB.close();
    await pool.end();
    await schema.drop();
  });

  /**
   * Whether `condition` came true within ~10 s of checking (bounded, so a
   * node that never does it fails the test instead of hanging it).
   */
  async function until(condition: () => Promise<boolean>): Promise<boolean> {
    for (let i = 0; i < 1000; i++) {
      if (await condition()) return true;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return false;
  }

  async function pendingPushes(): Promise<number> {
    return (await pool.query('SELECT 1 FROM link_approvals WHERE push IS NOT NULL')).rows.length;
  }

  it('delivers an approval made on another node, once, and the link completes', async () => {
    const primary = await registeredDevice(nodeB.wsUrl, 'handoff1');
    const companion = await openCompanion(nodeA.wsUrl);
    const approval = await approveOver(primary, companion, { keyIndex: 1, listTimestamp: 1001 });
    assert.equal(approval.error, undefined, approval.error?.message);
    const approved = await linkApproved(companion);
    assert.equal(approved.deviceId, 2);
    assert.equal(approved.account, 'handoff1');
    // The same push arriving by the second path (here: filed again, as if
    // the bus copy had come first) is not sent to the companion again.
    await pool.query('UPDATE link_approvals SET push = $1 WHERE account = $2', [
      linkApprovedPush({ ...approved }),
      'handoff1',
    ]);
    assert.ok(await until(async () => (await pendingPushes()) === 0), 'node A never took it');
    const completed = await completeOver(companion, approved);
    assert.equal(completed.error, undefined, completed.error?.message);
    // The next push is the drained queue, not the approval again.
    assert.equal((await companion.client.nextPush()).kind.case, 'queueDrained');
    assert.equal(await pendingPushes(), 0);
    primary.client.close();
    companion.client.close();
  });

  it('refuses, on another node, a reference whose companion went away', async () => {
    const primary = await registeredDevice(nodeB.wsUrl, 'handoff2');
    const gone = await openCompanion(nodeA.wsUrl);
    gone.client.close();
    await gone.client.closed;
    // Node A drops the reference when it sees the close.
    const dropped = await until(async () => {
      const { rows } = await pool.query('SELECT 1 FROM link_refs WHERE ref = $1', [gone.ref]);
      return rows.length === 0;
    });
    assert.ok(dropped, "node A kept the closed companion's reference");
    assertError(
      await approveOver(primary, gone, { keyIndex: 1, listTimestamp: 1001 }),
      'unknown-link',
    );
    primary.client.close();
  });
});
