/**
 * End to end, with the real server and real CLI processes: `quintet link`
 * prints a QR code and the link code, the primary approves it with
 * `quintet devices approve` (a wrong PIN first links nothing), both devices
 * list each other, a remote `devices remove` and a self `logout` leave the
 * companion saying it was logged out on its next command.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureBuilt, runCli, startServer, tempDir, type ServerProcess } from './harness.js';

const PIN = '2468';
const BIN = join(resolve(import.meta.dirname, '..', '..'), 'bin', 'quintet.js');

/** A running `quintet link`, with its output so far. */
interface LinkProcess {
  /** Resolves with the first `link code:` line's payload. */
  readonly code: Promise<string>;
  readonly output: () => string;
  /** Resolves when the process exits. */
  readonly done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

function startLink(profile: string, server: string, ...extra: string[]): LinkProcess {
  const child = spawn(
    process.execPath,
    [BIN, 'link', '--server', server, '--profile', profile, ...extra],
    {
      env: { ...process.env, QUINTET_PROFILE: '', QUINTET_PIN: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  let found: (code: string) => void = () => undefined;
  const code = new Promise<string>((resolveCode) => {
    found = resolveCode;
  });
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    const match = /^link code: (\S+)$/m.exec(stdout);
    if (match?.[1] !== undefined) found(match[1]);
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((res) => {
    child.once('close', (exit) => {
      clearTimeout(timer);
      res({ code: exit, stdout, stderr });
    });
  });
  return { code, output: () => stdout, done };
}

describe('linking end to end', { timeout: 180_000 }, () => {
  const dir = tempDir('quintet-e2e-link-');
  const profile = (name: string): string => join(dir.path, `profile-${name}`);
  let server: ServerProcess;
  const cli = (name: string, ...args: string[]) => runCli([...args, '--profile', profile(name)]);

  before(async () => {
    ensureBuilt();
    server = await startServer(join(dir.path, 'data'));
    const registered = await runCli([
      'register',
      'alice',
      '--server',
      server.url,
      '--profile',
      profile('phone'),
      '--pin',
      PIN,
    ]);
    assert.equal(registered.code, 0, registered.stderr);
  });
  after(async () => {
    await server.stop();
    dir.cleanup();
  });

  it('links a companion from its QR / link code; a wrong PIN first links nothing', async () => {
    const link = startLink(profile('laptop'), server.url, '--name', 'laptop');
    const code = await link.code;
    assert.match(code, /^quintet:\/\/link#1,/);
    // A terminal QR code (half-block characters) precedes the text.
    assert.match(link.output(), /[▀▄█]/);

    const wrong = await cli('phone', 'devices', 'approve', code, '--pin', '0000');
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /wrong PIN; nothing was changed \(4 attempts left/);
    assert.ok(!wrong.stderr.includes(code), 'the link code never appears in errors');
    const onlyPrimary = await cli('phone', 'devices', '--json');
    assert.equal(onlyPrimary.code, 0, onlyPrimary.stderr);
    assert.equal((JSON.parse(onlyPrimary.stdout) as unknown[]).length, 1);

    const approved = await cli('phone', 'devices', 'approve', code, '--pin', PIN);
    assert.equal(approved.code, 0, approved.stderr);
    assert.match(approved.stdout, /^approved: device 2\b/m);
    const linked = await link.done;
    assert.equal(linked.code, 0, linked.stderr);
    assert.match(linked.stdout, /^linked: alice device 2\b/m);
  });

  it('lists both devices on both, marking the current one', async () => {
    const phone = await cli('phone', 'devices');
    assert.equal(phone.code, 0, phone.stderr);
    assert.match(phone.stdout, /^\*\s+1\s+primary\b/m);
    assert.match(phone.stdout, /^ \s+2\s+companion\s+laptop\b/m);
    const laptop = await cli('laptop', 'devices', '--json');
    assert.equal(laptop.code, 0, laptop.stderr);
    const list = JSON.parse(laptop.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(
      list.map((d) => [d['deviceId'], d['primary'], d['current']]),
      [
        [1, true, false],
        [2, false, true],
      ],
    );
  });

  it('refuses approvals on a companion and garbage link codes on the primary', async () => {
    const other = startLink(profile('tablet-x'), server.url, '--timeout', '3');
    const code = await other.code;
    const onCompanion = await cli('laptop', 'devices', 'approve', code, '--pin', PIN);
    assert.notEqual(onCompanion.code, 0);
    assert.match(onCompanion.stderr, /only the primary device can approve/);
    const garbage = await cli('phone', 'devices', 'approve', 'quintet://link#1,zz', '--pin', PIN);
    assert.notEqual(garbage.code, 0);
    assert.match(garbage.stderr, /invalid link code/);
    const timedOut = await other.done;
    assert.notEqual(timedOut.code, 0);
    assert.match(timedOut.stderr, /timed out: no device approved this link/);
  });

  it('a companion logs itself out; its next command says so', async () => {
    const link = startLink(profile('tablet'), server.url, '--name', 'tablet');
    const approved = await cli('phone', 'devices', 'approve', await link.code, '--pin', PIN);
    assert.equal(approved.code, 0, approved.stderr);
    const linked = await link.done;
    assert.equal(linked.code, 0, linked.stderr);
    assert.match(linked.stdout, /^linked: alice device 3\b/m);

    const out = await cli('tablet', 'logout');
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /logged out: alice device 3; keys and messages wiped/);
    const after = await cli('tablet', 'receive');
    assert.notEqual(after.code, 0);
    assert.match(after.stderr, /this device was logged out \(logout\)/);
    const onPhone = await cli('phone', 'devices', '--json');
    assert.deepEqual(
      (JSON.parse(onPhone.stdout) as Array<Record<string, unknown>>).map((d) => d['deviceId']),
      [1, 2],
    );
  });

  it('remote logout: the removed companion is told on its next receive', async () => {
    const removed = await cli('phone', 'devices', 'remove', '2', '--pin', PIN);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /removed: device 2/);
    const first = await cli('laptop', 'receive');
    assert.notEqual(first.code, 0);
    assert.match(first.stderr, /this device was logged out \(removed\)/);
    // The profile is marked: the next command says the same without the server.
    const second = await cli('laptop', 'send', 'alice', 'hi');
    assert.notEqual(second.code, 0);
    assert.match(second.stderr, /this device was logged out \(removed\)/);
    const phone = await cli('phone', 'devices', '--json');
    assert.deepEqual(
      (JSON.parse(phone.stdout) as Array<Record<string, unknown>>).map((d) => d['deviceId']),
      [1],
    );
  });

  it('5 wrong PINs lock approvals across runs; the right PIN is refused while locked', async () => {
    for (let i = 1; i <= 4; i++) {
      const wrong = await cli('phone', 'devices', 'remove', '3', '--pin', '0000');
      assert.notEqual(wrong.code, 0);
      assert.match(wrong.stderr, /wrong PIN; nothing was changed/);
    }
    const fifth = await cli('phone', 'devices', 'remove', '3', '--pin', '0000');
    assert.match(fifth.stderr, /too many wrong PINs: approvals are locked for 5m/);
    const right = await cli('phone', 'devices', 'remove', '3', '--pin', PIN);
    assert.notEqual(right.code, 0);
    assert.match(right.stderr, /approvals are locked for 4m 5\ds|approvals are locked for 5m/);
  });
});
