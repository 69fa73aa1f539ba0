/**
 * Crash durability: an envelope acknowledged to its sender survives a
 * SIGKILL of the server process, is delivered exactly once after restart,
 * and is gone from the store once the recipient acks it.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { databasePath } from '../../src/server/main.js';
import { openSqliteStore } from '../../src/server/store/sqlite/index.js';
import { WEBSOCKET_PATH } from '../../src/wire/limits.js';
import { registeredDevice, reconnect, sendTo } from './helpers/device.js';
import { withTimeout } from './helpers/raw-client.js';

const ENTRY = join(import.meta.dirname, '../../src/server/bin.ts');

interface Child {
  readonly process: ChildProcess;
  readonly wsUrl: string;
}

async function spawnServer(dataDir: string): Promise<Child> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', ENTRY, 'server', '--port', '0', '--data', dataDir, '--log-level', 'warn'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await withTimeout(
    new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const match = /listening on (http:\/\/\S+)/.exec(out);
        if (match?.[1] !== undefined) resolve(match[1]);
      });
      child.once('exit', (code) => reject(new Error(`server exited early (${code})`)));
    }),
    20_000,
    'server start',
  );
  return { process: child, wsUrl: `${url.replace('http://', 'ws://')}${WEBSOCKET_PATH}` };
}

function exited(child: ChildProcess): Promise<NodeJS.Signals | number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null)
      resolve(child.signalCode ?? child.exitCode);
    else child.once('exit', (code, signal) => resolve(signal ?? code));
  });
}

describe('durability across SIGKILL', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'quintet-durable-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('delivers an acknowledged send exactly once after a crash, and forgets it after ack', async () => {
    let server = await spawnServer(dataDir);
    const alice = await registeredDevice(server.wsUrl, 'alice');
    const bob = await registeredDevice(server.wsUrl, 'bob');
    bob.client.close();
    await bob.client.closed;
    const sent = await sendTo(
      alice.client,
      'bob',
      [{ deviceId: 1, registrationId: bob.identity.registrationId }],
      new Uint8Array([42, 43]),
    );
    assert.equal(sent.error, undefined);
    // The sender has its success response: kill the server without any chance to flush.
    server.process.kill('SIGKILL');
    assert.equal(await exited(server.process), 'SIGKILL');
    await alice.client.closed;

    server = await spawnServer(dataDir);
    const back = await reconnect(server.wsUrl, bob);
    const push = await back.client.nextPush();
    assert.ok(push.kind.case === 'envelope');
    assert.deepEqual([...push.kind.value.content], [42, 43]);
    assert.equal(push.kind.value.source, 'alice');
    assert.equal((await back.client.nextPush()).kind.case, 'queueDrained');
    const ack = await back.client.request({
      case: 'ack',
      value: { serverGuids: [push.kind.value.serverGuid] },
    });
    assert.equal(ack.error, undefined);
    back.client.close();
    await back.client.closed;

    // A clean stop (SIGTERM) after the ack; then nothing is left for bob.
    server.process.kill('SIGTERM');
    assert.equal(await exited(server.process), 0);
    const store = openSqliteStore({ path: databasePath(dataDir) });
    try {
      assert.equal(await store.queue.count('bob', 1), 0);
      assert.equal(await store.queue.totalCount(), 0);
    } finally {
      await store.close();
    }

    // And a reconnect after restart delivers nothing again (exactly once).
    server = await spawnServer(dataDir);
    const again = await reconnect(server.wsUrl, bob);
    assert.equal((await again.client.nextPush()).kind.case, 'queueDrained');
    again.client.close();
    server.process.kill('SIGTERM');
    await exited(server.process);
  });
});
