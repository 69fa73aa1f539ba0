/**
 * End to end with real processes: `quintet typing` reaches a peer's
 * `receive --follow --json` as typing lines, and `quintet settings typing`
 * turns it off (nothing sent, reported as `sent: false`). Bad input gets a
 * clear error and a non-zero exit. "Nothing arrived" is shown without
 * timing: a message sent afterwards arrives with no typing line before it.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Follower } from './follower.js';
import { ensureBuilt, runCli, startServer, tempDir, type ServerProcess } from './harness.js';

const PIN = '2468';

describe('quintet typing and settings typing end to end', { timeout: 120_000 }, () => {
  const dir = tempDir('quintet-typing-');
  const profile = (name: string): string => join(dir.path, `profile-${name}`);
  let server: ServerProcess;
  let follower: Follower | undefined;

  const cli = (name: string, ...args: string[]) => runCli([...args, '--profile', profile(name)]);
  const json = (stdout: string): Record<string, unknown> =>
    JSON.parse(stdout.trim()) as Record<string, unknown>;

  before(async () => {
    ensureBuilt();
    server = await startServer(join(dir.path, 'data'));
  });
  after(async () => {
    await follower?.stop();
    await server.stop();
    dir.cleanup();
  });

  it('sends indicators to an online peer; the setting off sends none', async () => {
    for (const name of ['alice', 'bob']) {
      const made = await runCli([
        'register',
        name,
        '--server',
        server.url,
        '--profile',
        profile(name),
        '--pin',
        PIN,
      ]);
      assert.equal(made.code, 0, made.stderr);
    }
    follower = new Follower(profile('bob'));
    // Bob's follower is online once a message reaches it.
    assert.equal((await cli('alice', 'send', 'bob', 'hello')).code, 0);
    await follower.message('hello');

    const started = await cli('alice', 'typing', 'bob', '--json');
    assert.equal(started.code, 0, started.stderr);
    assert.deepEqual(json(started.stdout), { chat: 'bob', state: 'started', sent: true });
    const line = await follower.line((l) => l['type'] === 'typing' && l['state'] === 'started');
    assert.equal(line['chat'], 'alice');
    assert.equal(line['from'], 'alice');
    const stopped = await cli('alice', 'typing', 'bob', '--stop');
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stdout, /typing stopped in bob/);
    await follower.line((l) => l['type'] === 'typing' && l['state'] === 'stopped');

    const shown = await cli('alice', 'settings', 'typing');
    assert.equal(shown.stdout, 'typing indicators: on\n');
    const off = await cli('alice', 'settings', 'typing', 'off', '--json');
    assert.equal(off.code, 0, off.stderr);
    assert.deepEqual(json(off.stdout), { setting: 'typing', on: false });
    const before = follower.lines.length;
    const unsent = await cli('alice', 'typing', 'bob', '--json');
    assert.equal(unsent.code, 0, unsent.stderr);
    assert.deepEqual(json(unsent.stdout), { chat: 'bob', state: 'started', sent: false });
    assert.equal((await cli('alice', 'send', 'bob', 'quiet')).code, 0);
    await follower.message('quiet');
    assert.deepEqual(
      follower.lines.slice(before).filter((l) => l['type'] === 'typing'),
      [],
    );
    assert.equal(
      (await cli('alice', 'settings', 'typing', 'on')).stdout,
      'typing indicators: on\n',
    );
  });

  it('refuses a group, this account itself, an unknown setting and a missing profile', async () => {
    const group = await cli('alice', 'typing', '0f8e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5b');
    assert.notEqual(group.code, 0);
    assert.match(group.stderr, /1:1 chat/);
    const self = await cli('alice', 'typing', 'alice');
    assert.notEqual(self.code, 0);
    assert.match(self.stderr, /another account/);
    const bad = await cli('alice', 'settings', 'typing', 'maybe');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /on or off/);
    const none = await cli('nobody', 'settings', 'typing', 'off');
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /no profile/);
  });
});
