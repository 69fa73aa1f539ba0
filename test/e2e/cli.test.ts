/**
 * End to end: the real server and the real CLI as separate processes.
 * Messages both ways, offline delivery, exactly-once delivery across a
 * server SIGKILL, an empty server queue after the ack, and the one-line
 * errors of the CLI.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import {
  ensureBuilt,
  messagesOf,
  runCli,
  startServer,
  tempDir,
  type ServerProcess,
} from './harness.js';

const PIN = '2468';

describe('quintet CLI end to end', { timeout: 120_000 }, () => {
  const dir = tempDir('quintet-e2e-');
  const data = join(dir.path, 'data');
  const profile = (name: string): string => join(dir.path, `profile-${name}`);
  let server: ServerProcess;

  const cli = (name: string, ...args: string[]) => runCli([...args, '--profile', profile(name)]);

  before(async () => {
    ensureBuilt();
    server = await startServer(data);
  });
  after(async () => {
    await server.stop();
    dir.cleanup();
  });

  it('registers two accounts that exchange messages both ways', async () => {
    for (const name of ['alice', 'bob']) {
      const result = await runCli([
        'register',
        name,
        '--server',
        server.url,
        '--profile',
        profile(name),
        '--pin',
        PIN,
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`registered ${name} \\(device 1\\)`));
    }
    const sent = await cli('alice', 'send', 'bob', 'hello bob');
    assert.equal(sent.code, 0, sent.stderr);

    const received = await cli('bob', 'receive', '--json');
    assert.equal(received.code, 0, received.stderr);
    const [message, ...rest] = messagesOf(received);
    assert.equal(rest.length, 0);
    assert.equal(message?.['text'], 'hello bob');
    assert.equal(message?.['from'], 'alice');
    assert.equal(message?.['fromDevice'], 1);
    assert.equal(message?.['chat'], 'alice');
    assert.equal(typeof message?.['id'], 'string');
    assert.equal(typeof message?.['sentAt'], 'number');

    assert.equal((await cli('bob', 'send', 'alice', 'hi alice')).code, 0);
    const back = await cli('alice', 'receive', '--json');
    assert.equal(back.code, 0, back.stderr);
    assert.deepEqual(
      messagesOf(back).map((m) => m['text']),
      ['hi alice'],
    );

    // Nothing is shown twice.
    assert.deepEqual(messagesOf(await cli('bob', 'receive', '--json')), []);

    const aliceNumber = await cli('alice', 'safety-number', 'bob');
    const bobNumber = await cli('bob', 'safety-number', 'alice');
    assert.equal(aliceNumber.code, 0, aliceNumber.stderr);
    assert.match(aliceNumber.stdout, /^(\d{5} ){11}\d{5}\n$/);
    assert.equal(aliceNumber.stdout, bobNumber.stdout);
  });

  it('delivers to an offline recipient later, exactly once across a server SIGKILL', async () => {
    const carol = await runCli([
      'register',
      'carol',
      '--server',
      server.url,
      '--profile',
      profile('carol'),
      '--pin',
      PIN,
    ]);
    assert.equal(carol.code, 0, carol.stderr);
    const sent = await cli('alice', 'send', 'carol', 'survives a crash');
    assert.equal(sent.code, 0, sent.stderr);

    // The server accepted the message; kill it without a chance to clean up.
    const port = server.port;
    await server.stop('SIGKILL');
    server = await startServer(data, port);

    const first = await cli('carol', 'receive', '--json');
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(
      messagesOf(first).map((m) => m['text']),
      ['survives a crash'],
    );
    const second = await cli('carol', 'receive', '--json');
    assert.deepEqual(messagesOf(second), [], 'delivered exactly once');

    // After the ack the server keeps no envelope for carol's device.
    const db = new Database(join(data, 'quintet.db'), { readonly: true, fileMustExist: true });
    try {
      const row = db
        .prepare('SELECT COUNT(*) AS n FROM envelopes WHERE account = ? AND device_id = ?')
        .get('carol', 1) as { n: number };
      assert.equal(row.n, 0);
    } finally {
      db.close();
    }
  });

  it('prints one clear line and exits non-zero on errors', async () => {
    const oneLine = (stderr: string): void => {
      assert.equal(stderr.trim().split('\n').length, 1, stderr);
    };
    const unknown = await cli('alice', 'send', 'nobody', 'hello?');
    assert.notEqual(unknown.code, 0);
    oneLine(unknown.stderr);
    assert.match(unknown.stderr, /unknown account: nobody/);

    const unreachable = await cli('alice', 'send', 'bob', 'x', '--server', 'http://127.0.0.1:9');
    assert.notEqual(unreachable.code, 0);
    oneLine(unreachable.stderr);
    assert.match(unreachable.stderr, /cannot reach the server/);

    const noProfile = await cli('nobody', 'receive');
    assert.notEqual(noProfile.code, 0);
    oneLine(noProfile.stderr);
    assert.match(noProfile.stderr, /no profile at/);

    const taken = await runCli([
      'register',
      'alice',
      '--server',
      server.url,
      '--profile',
      profile('alice2'),
      '--pin',
      PIN,
    ]);
    assert.notEqual(taken.code, 0);
    oneLine(taken.stderr);
    assert.match(taken.stderr, /already taken/);

    const noPin = await runCli([
      'register',
      'dave',
      '--server',
      server.url,
      '--profile',
      profile('dave'),
    ]);
    assert.notEqual(noPin.code, 0);
    oneLine(noPin.stderr);
    assert.match(noPin.stderr, /PIN is required/);

    const help = await runCli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /register/);
  });
});
