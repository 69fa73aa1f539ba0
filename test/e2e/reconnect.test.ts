/**
 * `quintet receive --follow` against a real server process that is
 * restarted under it (SIGTERM: the server says "going away", 1001; SIGKILL:
 * the connection just dies), and behind a TCP proxy whose connections are
 * cut: the follower reconnects with backoff, re-authenticates, and prints
 * every message exactly once — those sent before, and those sent after (or,
 * for the proxy, while it was cut off). A newer connection of the same
 * device (4001) stops it with a clear error instead of a reconnect fight.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTcpProxy } from '../client/helpers/tcp-proxy.js';
import { Follower } from './follower.js';
import { ensureBuilt, runCli, startServer, tempDir, type ServerProcess } from './harness.js';

const PIN = '2468';

describe(
  'receive --follow across server restarts and dropped connections',
  { timeout: 240_000 },
  () => {
    const dir = tempDir('quintet-e2e-reconnect-');
    const data = join(dir.path, 'data');
    const profile = (name: string): string => join(dir.path, `profile-${name}`);
    let server: ServerProcess;
    const followers: Follower[] = [];

    const follow = (name: string, ...args: string[]): Follower => {
      const follower = new Follower(profile(name), args);
      followers.push(follower);
      return follower;
    };
    const send = async (text: string): Promise<void> => {
      const sent = await runCli(['send', 'bob', text, '--profile', profile('alice')]);
      assert.equal(sent.code, 0, sent.stderr);
    };
    /** Stops the server with `signal` and starts it again on the same port and data. */
    const restart = async (signal: NodeJS.Signals): Promise<void> => {
      const port = server.port;
      await server.stop(signal);
      server = await startServer(data, port);
    };
    /** Asserts each text is printed exactly once, in this order. */
    const assertExactlyOnce = (follower: Follower, texts: readonly string[]): void => {
      assert.deepEqual(follower.texts, texts, follower.stderr);
    };

    before(async () => {
      ensureBuilt();
      server = await startServer(data);
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
      }
    });
    after(async () => {
      for (const follower of followers) await follower.stop();
      await server.stop();
      dir.cleanup();
    });

    it('survives a SIGTERM and a SIGKILL restart of the server, printing every message once', async () => {
      const bob = follow('bob');
      await send('before any restart');
      await bob.message('before any restart');

      await restart('SIGTERM');
      await send('after the SIGTERM restart');
      await bob.message('after the SIGTERM restart');

      await send('before the SIGKILL');
      await bob.message('before the SIGKILL');
      await restart('SIGKILL');
      await send('after the SIGKILL restart 1');
      await send('after the SIGKILL restart 2');
      await bob.message('after the SIGKILL restart 2');

      assert.equal(await bob.stop(), 0, bob.stderr);
      assertExactlyOnce(bob, [
        'before any restart',
        'after the SIGTERM restart',
        'before the SIGKILL',
        'after the SIGKILL restart 1',
        'after the SIGKILL restart 2',
      ]);
      assert.match(bob.stderr, /the connection to the server was lost \(close 1001\)/);
      assert.match(bob.stderr, /reconnected to the server/);
    });

    it('survives a dropped connection and prints what was sent while it was cut off, once', async () => {
      const proxy = await startTcpProxy(server.port);
      try {
        const bob = follow('bob', '--server', proxy.url);
        await send('through the proxy');
        await bob.message('through the proxy');

        // The network fails: the socket dies without a close frame, and the
        // proxy refuses connections for a while.
        proxy.refuse(true);
        proxy.cut();
        await bob.until('a failed reconnect', () => /reconnecting failed/.test(bob.stderr));
        await send('while cut off 1');
        await send('while cut off 2');
        proxy.refuse(false);
        await bob.message('while cut off 2');

        // Cut again, reconnecting at once this time.
        proxy.cut();
        await send('after the second cut');
        await bob.message('after the second cut');

        assert.equal(await bob.stop(), 0, bob.stderr);
        assertExactlyOnce(bob, [
          'through the proxy',
          'while cut off 1',
          'while cut off 2',
          'after the second cut',
        ]);
        assert.match(bob.stderr, /the connection to the server was lost \(close 1006\)/);
      } finally {
        await proxy.close();
      }
    });

    it('fails at once, in one line, when the server cannot be reached at start', async () => {
      const result = await runCli([
        'receive',
        '--follow',
        '--profile',
        profile('bob'),
        '--server',
        'http://127.0.0.1:9',
      ]);
      assert.notEqual(result.code, 0);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.match(result.stderr, /cannot reach the server/);
    });

    it('stops with a clear error when another command on the profile replaces its connection', async () => {
      const bob = follow('bob');
      await send('to the follower');
      await bob.message('to the follower');
      // A second process as the same device: the server keeps the newer
      // connection (4001) and the follower must not fight it for the slot.
      const other = await runCli(['receive', '--json', '--profile', profile('bob')]);
      assert.equal(other.code, 0, other.stderr);
      const code = await bob.exited();
      assert.notEqual(code, 0);
      assert.match(bob.stderr, /another connection of this device replaced this one/);
      assert.doesNotMatch(bob.stderr, /reconnecting in/);
    });
  },
);
