/**
 * Chat state end to end: the real server and the real CLI as separate
 * processes. alice (primary + companion) and bob (primary + companion)
 * reply, react, edit, delete for everyone, delete for me and set the
 * disappearing timer in their 1:1 chat; `receive --json` prints each chat
 * event, and `history --json` shows the same state on all four devices
 * (a delete-for-me only on the deleting account's). An edit of someone
 * else's message is refused with its ChatError code and nothing is sent.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  ensureBuilt,
  linkWithCli,
  messagesOf,
  runCli,
  startServer,
  tempDir,
  type CliResult,
  type ServerProcess,
} from './harness.js';

const PIN = '2468';
const DEVICES = ['alice', 'alice-2', 'bob', 'bob-2'] as const;

/** The state fields every device must agree on. */
const STATE = [
  'id',
  'from',
  'text',
  'sentAt',
  'edited',
  'deleted',
  'reactions',
  'replyTo',
  'expiresAt',
  'timerChange',
] as const;

describe('chat state end to end (CLI)', { timeout: 180_000 }, () => {
  const dir = tempDir('quintet-chat-');
  let server: ServerProcess;
  const profile = (name: string): string => join(dir.path, `profile-${name}`);
  const cli = (name: string, ...args: string[]): Promise<CliResult> =>
    runCli([...args, '--profile', profile(name)], { QUINTET_PIN: PIN });

  async function ok(name: string, ...args: string[]): Promise<Record<string, unknown>> {
    const result = await cli(name, ...args, '--json');
    assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
    return JSON.parse(result.stdout) as Record<string, unknown>;
  }

  async function receive(name: string): Promise<Array<Record<string, unknown>>> {
    const result = await cli(name, 'receive', '--json', '--timeout', '20');
    assert.equal(result.code, 0, result.stderr);
    return messagesOf(result);
  }

  /** The state of every entry of `chat` on device `name`, by id. */
  async function state(name: string, chat: string): Promise<Map<string, Record<string, unknown>>> {
    const result = await cli(name, 'history', chat, '--json');
    assert.equal(result.code, 0, result.stderr);
    const out = new Map<string, Record<string, unknown>>();
    for (const line of messagesOf(result)) {
      const picked: Record<string, unknown> = {};
      for (const key of STATE) if (line[key] !== undefined) picked[key] = line[key];
      out.set(String(line['id']), picked);
    }
    return out;
  }

  before(async () => {
    ensureBuilt();
    server = await startServer(join(dir.path, 'data'));
  });
  after(async () => {
    await server.stop();
    dir.cleanup();
  });

  it('replies, reactions, edits, deletes and the timer land the same on all four devices', async () => {
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
    for (const [companion, primary] of [
      ['alice-2', 'alice'],
      ['bob-2', 'bob'],
    ] as const) {
      await linkWithCli(server.url, profile(companion), companion, (code) =>
        cli(primary, 'devices', 'approve', code, '--pin', PIN),
      );
    }

    const hello = String((await ok('alice', 'send', 'bob', 'hello bob'))['id']);
    const oops = String((await ok('alice', 'send', 'bob', 'oops'))['id']);
    await receive('bob');

    // bob replies from his primary and reacts; the reply carries the quote.
    const reply = await ok('bob', 'send', 'alice', 'hi alice', '--reply-to', hello);
    assert.equal(reply['replyTo'], hello);
    const replyId = String(reply['id']);
    await ok('bob', 'react', 'alice', hello, '👍');

    // bob may not edit alice's message: refused before anything is sent.
    const refused = await cli('bob', 'edit', 'alice', hello, 'not yours');
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /not-author/);
    const badId = await cli('bob', 'react', 'alice', 'zz', '👍');
    assert.notEqual(badId.code, 0);
    assert.match(badId.stderr, /invalid message id/);

    // alice edits and deletes her own, from the primary, then sets a timer.
    await ok('alice', 'edit', 'bob', hello, 'hello again');
    const deleted = await ok('alice', 'delete', 'bob', oops, '--for-everyone');
    assert.equal(deleted['scope'], 'everyone');
    await ok('alice', 'timer', 'bob', '24h');
    const fleeting = String((await ok('alice', 'send', 'bob', 'this one disappears'))['id']);

    const events = new Map<string, Array<Record<string, unknown>>>();
    for (const name of DEVICES) events.set(name, await receive(name));
    // alice's companion learns everything as events (bob's react, her own edit…).
    const types = new Set(events.get('alice-2')?.map((l) => l['type']));
    for (const type of [
      'message',
      'reaction',
      'message-edited',
      'message-deleted',
      'timer-changed',
    ]) {
      assert.ok(types.has(type), `alice-2 saw a ${type} event: ${JSON.stringify([...types])}`);
    }
    const reaction = events.get('alice')?.find((l) => l['type'] === 'reaction');
    assert.deepEqual(
      { from: reaction?.['from'], emoji: reaction?.['emoji'], id: reaction?.['id'] },
      { from: 'bob', emoji: '👍', id: hello },
    );

    const states = new Map<string, Map<string, Record<string, unknown>>>();
    for (const name of DEVICES)
      states.set(name, await state(name, name.startsWith('alice') ? 'bob' : 'alice'));
    const reference = states.get('alice');
    assert.ok(reference !== undefined);
    for (const name of DEVICES) {
      assert.deepEqual(states.get(name), reference, `${name} has the same chat state as alice`);
    }
    const at = (id: string): Record<string, unknown> | undefined => reference.get(id);
    assert.equal(at(hello)?.['text'], 'hello again');
    assert.equal(at(hello)?.['edited'], true);
    assert.deepEqual(at(hello)?.['reactions'], { bob: '👍' });
    assert.equal(at(oops)?.['deleted'], 'everyone');
    assert.equal(at(oops)?.['text'], '');
    assert.deepEqual(at(replyId)?.['replyTo'], {
      id: hello,
      author: 'alice',
      snippet: 'hello bob',
    });
    assert.equal(typeof at(fleeting)?.['expiresAt'], 'number');
    const sentAt = Number(at(fleeting)?.['sentAt']);
    assert.equal(at(fleeting)?.['expiresAt'], sentAt + 86_400_000);
    assert.ok(
      [...reference.values()].some((m) => m['timerChange'] === 86_400),
      'the timer change is an entry of the chat',
    );

    // Delete for me: bob's devices only.
    await ok('bob-2', 'delete', 'alice', replyId);
    await receive('bob');
    for (const name of DEVICES) {
      const entry = (await state(name, name.startsWith('alice') ? 'bob' : 'alice')).get(replyId);
      assert.equal(entry?.['deleted'], name.startsWith('bob') ? 'me' : null, name);
    }

    // Text mode shows the marks.
    const text = await cli('bob', 'history', 'alice');
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /hello again \(edited\) \[👍 bob\]/);
    assert.match(text.stdout, /\[deleted: this message was deleted\]/);
    assert.match(text.stdout, /set disappearing messages to 24h/);
  });
});
