/**
 * End to end with real processes: `quintet typing` reaches a peer's
 * `receive --follow --json` as typing lines — in a 1:1 chat and in a group
 * (to members, not to a non-member) —, and `quintet settings typing`
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
  let outsider: Follower | undefined;

  const cli = (name: string, ...args: string[]) => runCli([...args, '--profile', profile(name)]);
  const json = (stdout: string): Record<string, unknown> =>
    JSON.parse(stdout.trim()) as Record<string, unknown>;

  before(async () => {
    ensureBuilt();
    server = await startServer(join(dir.path, 'data'));
  });
  after(async () => {
    await follower?.stop();
    await outsider?.stop();
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

  it('in a group: members see it, a non-member does not', async () => {
    const made = await runCli([
      'register',
      'carol',
      '--server',
      server.url,
      '--profile',
      profile('carol'),
      '--pin',
      PIN,
    ]);
    assert.equal(made.code, 0, made.stderr);
    const created = await cli('alice', 'group', 'create', 'typists', 'bob');
    assert.equal(created.code, 0, created.stderr);
    const gid = created.stdout.trim();
    assert.match(gid, /^[0-9a-f-]{36}$/);

    // Before alice's first group message nobody holds her sender key.
    const early = await cli('alice', 'typing', gid, '--json');
    assert.equal(early.code, 0, early.stderr);
    assert.deepEqual(json(early.stdout), { chat: gid, state: 'started', sent: false });
    assert.match((await cli('alice', 'typing', gid)).stdout, /send a message to the group first/);

    assert.equal((await cli('alice', 'group', 'send', gid, 'hello typists')).code, 0);
    const bob = follower;
    assert.ok(bob !== undefined);
    await bob.message('hello typists');
    outsider = new Follower(profile('carol'));
    assert.equal((await cli('alice', 'send', 'carol', 'hi carol')).code, 0);
    await outsider.message('hi carol');

    const started = await cli('alice', 'typing', gid, '--json');
    assert.equal(started.code, 0, started.stderr);
    assert.deepEqual(json(started.stdout), { chat: gid, state: 'started', sent: true });
    const line = await bob.line(
      (l) => l['type'] === 'typing' && l['chat'] === gid && l['state'] === 'started',
    );
    assert.equal(line['from'], 'alice');
    const stopped = await cli('alice', 'typing', gid, '--stop');
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stdout, new RegExp(`typing stopped in ${gid}`));
    await bob.line((l) => l['type'] === 'typing' && l['chat'] === gid && l['state'] === 'stopped');

    // Carol, not a member, got neither: alice's next 1:1 text comes with no typing line.
    assert.equal((await cli('alice', 'send', 'carol', 'still there?')).code, 0);
    await outsider.message('still there?');
    assert.deepEqual(
      outsider.lines.filter((l) => l['type'] === 'typing'),
      [],
    );
    // And may not send one into the group.
    const refused = await cli('carol', 'typing', gid);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /not-group-member/);
  });

  it('refuses an unknown group, this account itself, an unknown setting and a missing profile', async () => {
    const group = await cli('alice', 'typing', '0f8e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5b');
    assert.notEqual(group.code, 0);
    assert.match(group.stderr, /unknown-group/);
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
