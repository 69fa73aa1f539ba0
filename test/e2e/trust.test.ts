/**
 * End to end (server and CLI as processes): what a user sees when a
 * contact's account key changes, and what the terminal gets from a peer.
 * - `quintet send` to a contact whose primary was reinstalled fails with
 *   one line naming `quintet trust <account>`, after the warning; nothing
 *   is queued for the new key; `quintet trust` shows the new safety number
 *   and accepts it; the next send works.
 * - A message carrying terminal escape sequences is printed without any
 *   control character by `receive`, and exactly by `receive --json`.
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
/** Clear screen, then set the window title (OSC 0 ended by BEL). */
const HOSTILE = '\u001b[2J\u001b]0;pwned\u0007';

describe('trust and terminal safety end to end', { timeout: 120_000 }, () => {
  const dir = tempDir('quintet-e2e-trust-');
  const data = join(dir.path, 'data');
  const profile = (name: string): string => join(dir.path, `profile-${name}`);
  let server: ServerProcess;

  const cli = (name: string, ...args: string[]) => runCli([...args, '--profile', profile(name)]);
  const register = async (name: string, profileName = name): Promise<void> => {
    const result = await runCli([
      'register',
      name,
      '--server',
      server.url,
      '--profile',
      profile(profileName),
      '--pin',
      PIN,
    ]);
    assert.equal(result.code, 0, result.stderr);
  };
  /** Envelopes queued on the server for one device (read from its database). */
  const queued = (account: string, deviceId: number): number => {
    const db = new Database(join(data, 'quintet.db'), { readonly: true });
    try {
      const row = db
        .prepare('SELECT COUNT(*) AS n FROM envelopes WHERE account = ? AND device_id = ?')
        .get(account, deviceId) as { n: number };
      return row.n;
    } finally {
      db.close();
    }
  };

  before(async () => {
    ensureBuilt();
    server = await startServer(data, 0, ['--allow-reregistration']);
  });
  after(async () => {
    await server.stop();
    dir.cleanup();
  });

  it('refuses to send to a changed account key until "quintet trust" accepts it', async () => {
    await register('alice');
    await register('bob');
    assert.equal((await cli('alice', 'send', 'bob', 'hi old bob')).code, 0);
    const before = await cli('alice', 'safety-number', 'bob');
    assert.equal(before.code, 0, before.stderr);

    // bob reinstalls: a new profile registers the same name.
    await register('bob', 'bob-new');

    const refused = await cli('alice', 'send', 'bob', 'hi new bob');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /warning: bob's account key changed/);
    assert.match(refused.stderr, /quintet: untrusted-identity: .*"quintet trust bob"/);
    assert.ok(
      refused.stderr.indexOf('warning:') < refused.stderr.indexOf('quintet: untrusted-identity'),
      'the warning comes first',
    );
    assert.equal(queued('bob', 1), 0, 'nothing was queued for the new key');
    // A later run still says so, and the number shown is the new key's.
    const pendingNumber = await cli('alice', 'safety-number', 'bob');
    assert.match(pendingNumber.stderr, /NEW account key, not accepted yet.*"quintet trust bob"/);
    assert.equal(
      (await cli('alice', 'send', 'bob', 'still blocked')).code,
      1,
      'still refused in a later run',
    );

    const trusted = await cli('alice', 'trust', 'bob');
    assert.equal(trusted.code, 0, trusted.stderr);
    assert.match(trusted.stdout, /accepted the new account key of bob/);
    const digits = /safety number: ([\d ]+)\n/.exec(trusted.stdout)?.[1];
    assert.ok(digits !== undefined && digits.replace(/ /g, '').length === 60, trusted.stdout);
    assert.notEqual(digits, before.stdout.trim(), 'a new safety number');
    assert.equal(pendingNumber.stdout.trim(), digits, 'the number compared is the one accepted');
    const after = await cli('alice', 'safety-number', 'bob');
    assert.equal(after.stdout.trim(), digits);
    assert.doesNotMatch(after.stderr, /not accepted/);

    const sent = await cli('alice', 'send', 'bob', 'hi new bob');
    assert.equal(sent.code, 0, sent.stderr);
    const received = await cli('bob-new', 'receive', '--json');
    assert.deepEqual(
      messagesOf(received).map((m) => m['text']),
      ['hi new bob'],
    );
    // --verified marks it verified (JSON says so).
    const verified = await cli('alice', 'trust', 'bob', '--verified', '--json');
    assert.equal(verified.code, 0, verified.stderr);
    assert.deepEqual(JSON.parse(verified.stdout), {
      account: 'bob',
      safetyNumber: digits.replace(/ /g, ''),
      changed: false,
      verified: true,
    });
  });

  it('prints peer text without control characters, and exactly with --json', async () => {
    await register('carol');
    await register('dave');
    for (let i = 0; i < 2; i++) {
      assert.equal((await cli('carol', 'send', 'dave', `${HOSTILE}${i}`)).code, 0);
    }
    const human = await cli('dave', 'receive');
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /carol\.1: .*pwned/);
    // eslint-disable-next-line no-control-regex
    assert.doesNotMatch(human.stdout + human.stderr, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    assert.ok(!human.stdout.includes('\u001b'), 'no ESC reaches the terminal');

    assert.equal((await cli('carol', 'send', 'dave', HOSTILE)).code, 0);
    const json = await cli('dave', 'receive', '--json');
    assert.deepEqual(
      messagesOf(json).map((m) => m['text']),
      [HOSTILE],
    );
  });
});
