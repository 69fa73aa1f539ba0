/**
 * Cluster mode: the limits a client could multiply by spreading over the
 * nodes hold once for the whole cluster — registrations per address here
 * (the buckets live in PostgreSQL, rate-limit-backend.ts). Skipped (with
 * the reason) without PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { startServer, type RunningServer } from '../../src/server/main.js';
import { createTestSchema, serviceSkip, type TestSchema } from '../helpers/services.js';
import { newIdentity, registerOver } from './helpers/device.js';
import { RawClient } from './helpers/raw-client.js';

const skip = await serviceSkip('postgres');

describe('rate limits across cluster nodes', { skip }, () => {
  let schema: TestSchema;
  let a: RunningServer;
  let b: RunningServer;
  before(async () => {
    schema = await createTestSchema('ratecluster');
    const node = (nodeId: string): Promise<RunningServer> =>
      startServer({
        port: 0,
        database: schema.url,
        databaseSchema: schema.name,
        nodeId,
        logger: pino({ level: 'silent' }),
        limits: { registrationBurst: 3, registrationsPerHour: 1 },
      });
    a = await node('rate-a');
    b = await node('rate-b');
  });
  after(async () => {
    await a.close();
    await b.close();
    await schema.drop();
  });

  it('counts registrations from one address on every node against one budget', async () => {
    const attempt = async (server: RunningServer, account: string): Promise<string | undefined> => {
      const client = await RawClient.connect(server.wsUrl);
      try {
        const response = await registerOver(client, account, await newIdentity());
        return response.error?.code;
      } finally {
        client.close();
      }
    };
    // Three through either node; each node alone would allow three.
    assert.equal(await attempt(a, 'ratea1'), undefined);
    assert.equal(await attempt(b, 'rateb1'), undefined);
    assert.equal(await attempt(a, 'ratea2'), undefined);
    assert.equal(await attempt(b, 'rateb2'), 'rate-limited');
    assert.equal(await attempt(a, 'ratea3'), 'rate-limited');
  });
});
