import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import { FrameSchema, PushSchema } from '../../src/gen/quintet/v1/transport_pb.js';
import { registeredDevice } from './helpers/device.js';
import { RawClient } from './helpers/raw-client.js';
import { startTestServer, type TestServer } from './helpers/server.js';

describe('frames and connection abuse', () => {
  let t: TestServer;
  let web: string;
  before(async () => {
    web = mkdtempSync(join(tmpdir(), 'quintet-web-'));
    writeFileSync(join(web, 'index.html'), '<h1>quintet</h1>');
    t = await startTestServer({ limits: { maxFrameBytes: 4096 }, staticDir: web });
  });
  after(async () => {
    await t.close();
    rmSync(web, { recursive: true, force: true });
  });

  it('answers a malformed frame with malformed-frame and keeps the connection', async () => {
    const client = await RawClient.connect(t.wsUrl);
    client.sendRaw(new Uint8Array([0x0a, 0xff, 0xff]));
    const response = await waitUnsolicited(client);
    assert.equal(response.error?.code, 'malformed-frame');
    const ok = await client.request({ case: 'challenge', value: {} });
    assert.equal(ok.error, undefined);
    client.close();
  });

  it('closes the connection after repeated malformed frames (text, pushes, garbage)', async () => {
    const client = await RawClient.connect(t.wsUrl);
    client.sendRaw('hello');
    client.sendRaw(
      toBinary(
        FrameSchema,
        create(FrameSchema, { kind: { case: 'push', value: create(PushSchema) } }),
      ),
    );
    client.sendRaw(new Uint8Array([0xff]));
    const closed = await client.closed;
    assert.equal(closed.code, 4002);
    assert.match(closed.reason, /malformed/);
    assert.ok(client.unsolicited.every((r) => r.error?.code === 'malformed-frame'));
  });

  it('closes with 1009 on an oversized frame, and the server lives on', async () => {
    const client = await RawClient.connect(t.wsUrl);
    client.sendRaw(new Uint8Array(5000));
    const closed = await client.closed;
    assert.equal(closed.code, 1009);
    const device = await registeredDevice(t.wsUrl, 'survivor');
    device.client.close();
  });

  it('answers an unknown request type with unknown-request', async () => {
    const client = await RawClient.connect(t.wsUrl);
    // Frame.request (field 1) holding Request{ id: 5 (field 1), field 99: empty message }.
    const request = new Uint8Array([0x08, 0x05, 0x9a, 0x06, 0x00]);
    client.sendRaw(new Uint8Array([0x0a, request.length, ...request]));
    const response = await waitUnsolicited(client);
    assert.equal(response.id, 5n);
    assert.equal(response.error?.code, 'unknown-request');
    client.close();
  });

  it('serves /healthz, /metrics, static files and 404s', async () => {
    const health = await fetch(`${t.server.url}/healthz`);
    assert.equal(health.status, 200);
    const body: unknown = await health.json();
    assert.ok(
      typeof body === 'object' && body !== null && 'status' in body && body.status === 'ok',
    );
    const metrics = await (await fetch(`${t.server.url}/metrics`)).text();
    assert.match(metrics, /^quintet_connections \d+$/m);
    assert.match(metrics, /^quintet_queue_depth \d+$/m);
    assert.match(metrics, /^quintet_errors_total\{code="malformed-frame"\} [1-9]\d*$/m);
    const index = await fetch(`${t.server.url}/`);
    assert.equal(await index.text(), '<h1>quintet</h1>');
    const escape = await fetch(`${t.server.url}/..%2f..%2fetc%2fpasswd`);
    assert.equal(escape.status, 404);
    assert.equal((await fetch(`${t.server.url}/nothing`)).status, 404);
  });
});

async function waitUnsolicited(client: RawClient) {
  for (let i = 0; i < 100; i++) {
    const response = client.unsolicited.shift();
    if (response !== undefined) return response;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('no response');
}
