/**
 * A server killed (SIGKILL) in the middle of an upload leaves nothing of
 * it — on the file backend (the temporary file is swept at start) and on
 * PostgreSQL (the open transaction dies with the connection) — and the
 * same upload retried after the restart succeeds, with the credential
 * issued before the crash (its key is stored, not held in memory).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { BlobClient } from '../../src/client/transport/blob-client.js';
import { WEBSOCKET_PATH } from '../../src/wire/limits.js';
import { createTestSchema, serviceSkip, type TestSchema } from '../helpers/services.js';
import { credentialFor, eventually, metric, startUpload } from './helpers/blobs.js';
import { registeredDevice, reconnect } from './helpers/device.js';
import { withTimeout } from './helpers/raw-client.js';

const ENTRY = join(import.meta.dirname, '../../src/server/bin.ts');
const MIB = 1024 * 1024;

interface Child {
  readonly process: ChildProcess;
  readonly url: string;
  readonly wsUrl: string;
}

async function spawnServer(args: readonly string[]): Promise<Child> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', ENTRY, 'server', '--port', '0', '--log-level', 'warn', ...args],
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
  return { process: child, url, wsUrl: `${url.replace('http://', 'ws://')}${WEBSOCKET_PATH}` };
}

function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    }
  });
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const part of stream) parts.push(part);
  return Buffer.concat(parts);
}

/** Runs the crash-and-retry scenario against servers started with `args`. */
async function crashMidUpload(
  args: readonly string[],
  account: string,
  inProgress: () => Promise<boolean>,
  leftover: () => Promise<number>,
): Promise<void> {
  let server = await spawnServer(args);
  try {
    const device = await registeredDevice(server.wsUrl, account);
    const token = await credentialFor(device);
    device.client.close();
    const socket = startUpload(server.url, token, 8 * MIB, 3 * MIB);
    await eventually(inProgress, 'the upload reached storage');
    await kill(server.process);
    socket.destroy();
    server = await spawnServer(args);
    assert.equal(await leftover(), 0, 'nothing of the cut upload is left');
    assert.equal(await metric(server.url, 'quintet_blob_bytes_stored'), 0);
    // Retried with the token from before the crash.
    const bytes = randomBytes(8 * MIB);
    const blobs = new BlobClient(server.url, () => Promise.resolve(token));
    const { id } = await blobs.upload(bytes, bytes.length, 'attachment');
    assert.ok((await collect(blobs.download(id))).equals(bytes));
    // And the device still logs in and gets a fresh one.
    const again = await reconnect(server.wsUrl, device);
    assert.ok((await credentialFor(again)).length > 0);
    again.client.close();
  } finally {
    await kill(server.process);
  }
}

describe('server killed mid-upload (file backend)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'quintet-blob-restart-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('leaves nothing, and the retry succeeds', async () => {
    const tmp = join(dataDir, 'blobs', 'tmp');
    const dataFiles = async (): Promise<number> => {
      let count = 0;
      for (const bucket of await readdir(join(dataDir, 'blobs', 'data'))) {
        count += (await readdir(join(dataDir, 'blobs', 'data', bucket))).length;
      }
      return count;
    };
    await crashMidUpload(
      ['--data', dataDir],
      'restartfiles',
      async () => {
        const names = await readdir(tmp).catch(() => []);
        const sizes = await Promise.all(names.map(async (n) => (await stat(join(tmp, n))).size));
        return sizes.some((size) => size > MIB);
      },
      async () => (await readdir(tmp)).length + (await dataFiles()),
    );
  });
});

const skip = await serviceSkip('postgres');

describe('server killed mid-upload (PostgreSQL)', { skip }, () => {
  let schema: TestSchema;
  let admin: pg.Client;
  before(async () => {
    schema = await createTestSchema('blobrestart');
    admin = new pg.Client({ connectionString: schema.url });
    await admin.connect();
  });
  after(async () => {
    await admin.end();
    await schema.drop();
  });

  it('leaves nothing, and the retry succeeds', async () => {
    const count = async (sql: string): Promise<number> =>
      Number((await admin.query<{ n: string }>(sql)).rows[0]?.n);
    await crashMidUpload(
      ['--database', schema.url, '--database-schema', schema.name],
      'restartpg',
      // The upload's transaction is open and has written chunks (not visible to others).
      async () =>
        (await count(
          `SELECT count(*) AS n FROM pg_stat_activity
           WHERE application_name = 'quintet-blobs/${schema.name}' AND state = 'idle in transaction'`,
        )) > 0 ||
        (await count(
          `SELECT count(*) AS n FROM pg_stat_activity
           WHERE application_name = 'quintet-blobs/${schema.name}' AND xact_start IS NOT NULL`,
        )) > 0,
      async () =>
        (await count(`SELECT count(*) AS n FROM "${schema.name}".blobs`)) +
        (await count(`SELECT count(*) AS n FROM "${schema.name}".blob_chunks`)),
    );
  });
});
