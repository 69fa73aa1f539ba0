/**
 * A full disk, for real: the SQLite database lives on a 4 MiB tmpfs that the
 * test fills with a file. Sends then fail with `storage-full` (not
 * `internal`), an existing device can still log in and ack (acks free
 * space), and once the filler is deleted sends work again — same process,
 * no restart.
 *
 * Mounting a tmpfs needs root (CI runs as root). Where mounting is not
 * permitted the test falls back to a page cap on the database (SQLite
 * `max_page_count`), which fails writes the same way; it logs which one it
 * used.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import type { Push } from '../../src/gen/quintet/v1/transport_pb.js';
import { startServer, type RunningServer } from '../../src/server/main.js';
import { openSqliteStore, type SqliteServerStore } from '../../src/server/store/sqlite/index.js';
import { registeredDevice, reconnect, sendTo, type ConnectedDevice } from './helpers/device.js';
import { ManualClock } from './helpers/server.js';

const RESERVE_BYTES = 256 * 1024;

/** How the disk is made to fill. */
type Mode = 'tmpfs' | 'max_page_count';

function tryMountTmpfs(dir: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch (error) {
    // Not permitted here (not root, or no mount in this container): the
    // fallback fills the database instead, and says why.
    process.stderr.write(`tmpfs mount failed, using max_page_count: ${String(error)}\n`);
    return false;
  }
}

/** Writes a file in 64 KiB chunks until the disk refuses more. */
function fillDisk(path: string): number {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  let written = 0;
  try {
    for (;;) {
      try {
        written += writeSync(fd, chunk);
      } catch (error) {
        if (error instanceof Error && 'code' in error && error.code === 'ENOSPC') break;
        throw error;
      }
    }
    // The last partial chunk.
    const small = Buffer.alloc(512, 1);
    for (;;) {
      try {
        written += writeSync(fd, small);
      } catch (error) {
        if (error instanceof Error && 'code' in error && error.code === 'ENOSPC') break;
        throw error;
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

function envelopeGuid(push: Push): Uint8Array {
  assert.ok(push.kind.case === 'envelope', `expected an envelope, got ${push.kind.case}`);
  return push.kind.value.serverGuid;
}

describe('a full disk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'quintet-diskfull-'));
  const mode: Mode = tryMountTmpfs(dir) ? 'tmpfs' : 'max_page_count';
  const filler = join(dir, 'filler');
  let store: SqliteServerStore;
  let server: RunningServer;

  before(async () => {
    store = openSqliteStore({
      path: join(dir, 'quintet.db'),
      reserveBytes: RESERVE_BYTES,
      reserveRetryMs: 50,
    });
    server = await startServer({
      port: 0,
      store,
      clock: new ManualClock(),
      logger: pino({ level: 'silent' }),
    });
  });
  after(async () => {
    await server.close();
    // Lazy: still detaches if a failed test left a file open on it.
    if (mode === 'tmpfs') execFileSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('fails sends with storage-full, keeps logins and acks working, and recovers without a restart', async (t) => {
    t.diagnostic(`the disk is filled with: ${mode}`);
    const alice = await registeredDevice(server.wsUrl, 'alice');
    let bob: ConnectedDevice = await registeredDevice(server.wsUrl, 'bob');
    const toBob = [{ deviceId: 1, registrationId: bob.identity.registrationId }];
    const content = new Uint8Array(2_000).fill(7);
    for (let i = 0; i < 20; i++) {
      assert.equal((await sendTo(alice.client, 'bob', toBob, content)).error, undefined);
    }
    assert.equal(await server.store.queue.count('bob', 1), 20);

    // Fill it.
    if (mode === 'tmpfs') {
      assert.ok(fillDisk(filler) > 0);
    } else {
      // Below the current size, SQLite caps the database at its current size.
      store.setMaxPageCount(1);
    }
    // A send may still fit in room the WAL already has; keep sending until
    // the disk says no. Every failure must be storage-full, never internal.
    let full = false;
    for (let i = 0; i < 2_000 && !full; i++) {
      const response = await sendTo(alice.client, 'bob', toBob, content);
      if (response.error !== undefined) {
        assert.equal(response.error.code, 'storage-full', response.error.message);
        assert.ok((response.error.retryAfterMs ?? 0) > 0);
        full = true;
      }
    }
    assert.ok(full, 'the disk never filled');
    const queued = await server.store.queue.count('bob', 1);

    // An existing device logs in (replacing its connection) and acks its backlog.
    bob.client.close();
    await bob.client.closed;
    bob = await reconnect(server.wsUrl, bob);
    const guids: Uint8Array[] = [];
    for (let i = 0; i < queued; i++) guids.push(envelopeGuid(await bob.client.nextPush()));
    assert.equal((await bob.client.nextPush()).kind.case, 'queueDrained');
    const ack = await bob.client.request({ case: 'ack', value: { serverGuids: guids } });
    assert.equal(ack.error, undefined);
    // The deletes committed: a read commits pending acks first.
    assert.equal(await server.store.queue.count('bob', 1), 0);
    // Still full for new messages until space returns.
    const stillFull = await sendTo(alice.client, 'bob', toBob, content);
    assert.equal(stillFull.error?.code, 'storage-full');

    // Space returns; the server notices by itself.
    if (mode === 'tmpfs') unlinkSync(filler);
    else store.setMaxPageCount(1_073_741_823);
    let recovered = false;
    for (let i = 0; i < 400 && !recovered; i++) {
      const response = await sendTo(alice.client, 'bob', toBob, content);
      if (response.error === undefined) recovered = true;
      else {
        assert.equal(response.error.code, 'storage-full');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    assert.ok(recovered, 'sends did not work again after space returned');
    const push = await bob.client.nextPush();
    assert.ok(push.kind.case === 'envelope');
    alice.client.close();
    bob.client.close();
  });
});

describe('a full disk, at the store', () => {
  const dir = mkdtempSync(join(tmpdir(), 'quintet-diskfull-store-'));
  const mode: Mode = tryMountTmpfs(dir) ? 'tmpfs' : 'max_page_count';
  after(() => {
    // Lazy: still detaches if a failed test left a file open on it.
    if (mode === 'tmpfs') execFileSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('commits an ack that shares its batch with a send that no longer fits', async (t) => {
    t.diagnostic(`the disk is filled with: ${mode}`);
    const path = join(dir, 'quintet.db');
    const options = { path, reserveBytes: RESERVE_BYTES, reserveRetryMs: 60_000 };
    let store = openSqliteStore(options);
    const envelope = (n: number) => ({
      destination: 'bob',
      destinationDevice: 1,
      source: 'alice',
      sourceDevice: 1,
      type: 1,
      content: new Uint8Array(3_000).fill(n),
      timestamp: 1,
      serverTimestamp: 1,
    });
    const queued = await store.queue.enqueue(Array.from({ length: 200 }, (_, i) => envelope(i)));
    // Reopened, so the WAL is checkpointed (the steady state: the background
    // checkpointer keeps the WAL within the reserve's size).
    await store.close();
    store = openSqliteStore(options);
    if (mode === 'tmpfs') fillDisk(join(dir, 'filler'));
    else store.setMaxPageCount(1);
    let failedSends = 0;
    t.after(() => store.close());
    for (const e of queued) {
      // Same turn: the deferred ack rides in the send's batch.
      const [acked, sent] = await Promise.allSettled([
        store.queue.ack('bob', 1, [e.guid]),
        store.queue.enqueue([envelope(1), envelope(2)]),
      ]);
      assert.ok(
        acked.status === 'fulfilled',
        `ack failed: ${acked.status === 'rejected' ? String(acked.reason) + String((acked.reason as Error).cause) : ''}`,
      );
      assert.equal(acked.value, 1);
      if (sent.status === 'rejected') failedSends += 1;
    }
    assert.ok(failedSends > 0, 'the disk never filled');
  });
});

describe('the storage reserve', () => {
  it('is kept beside the database, sized by the server limit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'quintet-reserve-'));
    try {
      const server = await startServer({
        port: 0,
        dataDir: dir,
        limits: { storageReserveBytes: 100_000 },
        logger: pino({ level: 'silent' }),
      });
      try {
        assert.equal(statSync(join(dir, 'quintet.db.reserve')).size, 100_000);
      } finally {
        await server.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
