/**
 * /healthz and /metrics name the node and report its database and bus; a
 * node whose database is down answers 503 so a load balancer stops sending
 * it clients. No bus or database needed: the store's `health` is stubbed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { startServer } from '../../src/server/main.js';
import { createMemoryStore } from '../../src/server/store/memory.js';

describe('node health', () => {
  it('reports the node id, the database and no bus on a single node', async () => {
    const server = await startServer({
      port: 0,
      memory: true,
      nodeId: 'solo "1"',
      logger: pino({ level: 'silent' }),
    });
    try {
      const response = await fetch(`${server.url}/healthz`);
      assert.equal(response.status, 200);
      const health = (await response.json()) as Record<string, unknown>;
      assert.equal(health.status, 'ok');
      assert.equal(health.nodeId, 'solo "1"');
      assert.deepEqual(health.database, { ok: true });
      assert.deepEqual(health.bus, { state: 'none' });
      assert.equal(typeof health.connections, 'number');
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      assert.match(metrics, /^quintet_node_info\{node="solo \\"1\\""\} 1$/m);
      assert.doesNotMatch(metrics, /quintet_bus_connected/);
    } finally {
      await server.close();
    }
  });

  it('answers 503 while the database is down', async () => {
    let ok = false;
    const store = Object.assign(createMemoryStore(), {
      health: () => Promise.resolve(ok ? { ok: true } : { ok: false, error: 'connection refused' }),
    });
    const server = await startServer({ port: 0, store, logger: pino({ level: 'silent' }) });
    try {
      const down = await fetch(`${server.url}/healthz`);
      assert.equal(down.status, 503);
      const body = (await down.json()) as Record<string, unknown>;
      assert.notEqual(body.status, 'ok');
      assert.deepEqual(body.database, { ok: false, error: 'connection refused' });
      ok = true;
      assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    } finally {
      await server.close();
    }
  });
});
