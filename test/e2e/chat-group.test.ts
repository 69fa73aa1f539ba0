/**
 * Chat state end to end in a group, the edit/delete windows and a
 * disappearing chat: the real server and the real CLI as separate
 * processes, alice (primary + companion) and bob (primary + companion).
 *
 * - In a group of alice and bob: reply, react, edit, delete for everyone;
 *   the same state on all four devices; bob (not the author) may not edit
 *   or delete alice's message, and (not an admin) may not set the timer.
 * - The windows come from the environment (QUINTET_EDIT_WINDOW,
 *   QUINTET_DELETE_WINDOW): past a short window the author's own device
 *   refuses, and receivers with the short window refuse an edit sent by a
 *   device with the default one.
 * - Disappearing messages with a 24 h timer made to last 8 s by the
 *   test-only QUINTET_CHAT_TIMER_SCALE: gone from every device's `history`
 *   after expiry, on the devices that received it in time and on those
 *   that received it only after it expired — in a 1:1 chat and in a group.
 * - A 1:1 delete for everyone sent by a device with the default window is
 *   refused by receivers whose (short) window has passed.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
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
/** 24 h of timer last 86_400_000 / 10_800 = 8 s on these devices. */
const TIMER_SCALE = '10800';
const SCALED_DAY_MS = 8000;

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

type Line = Record<string, unknown>;

describe(
  'group chat state, windows and disappearing messages end to end (CLI)',
  {
    timeout: 240_000,
  },
  () => {
    const dir = tempDir('quintet-chat-group-');
    let server: ServerProcess;
    const profile = (name: string): string => join(dir.path, `profile-${name}`);
    const cli = (
      name: string,
      args: readonly string[],
      env: Record<string, string> = {},
    ): Promise<CliResult> =>
      runCli([...args, '--profile', profile(name)], {
        QUINTET_PIN: PIN,
        QUINTET_CHAT_TIMER_SCALE: TIMER_SCALE,
        ...env,
      });

    async function ok(name: string, ...args: string[]): Promise<Line> {
      const result = await cli(name, [...args, '--json']);
      assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
      return JSON.parse(result.stdout) as Line;
    }

    async function refused(name: string, args: string[], code: RegExp, env = {}): Promise<void> {
      const result = await cli(name, args, env);
      assert.notEqual(result.code, 0, `${args.join(' ')} must be refused`);
      assert.match(result.stderr, code);
    }

    async function receive(name: string, env: Record<string, string> = {}): Promise<Line[]> {
      const result = await cli(name, ['receive', '--json', '--timeout', '20'], env);
      assert.equal(result.code, 0, result.stderr);
      return messagesOf(result);
    }

    /** The state of every entry `history` shows for `chat` on device `name`, by id. */
    async function state(name: string, chat: string): Promise<Map<string, Line>> {
      const result = await cli(name, ['history', chat, '--json']);
      assert.equal(result.code, 0, result.stderr);
      const out = new Map<string, Line>();
      for (const line of messagesOf(result)) {
        const picked: Line = {};
        for (const key of STATE) if (line[key] !== undefined) picked[key] = line[key];
        out.set(String(line['id']), picked);
      }
      return out;
    }

    /** The 1:1 chat's name as `name`'s device calls it. */
    const peer = (name: string): string => (name.startsWith('alice') ? 'bob' : 'alice');

    before(async () => {
      ensureBuilt();
      server = await startServer(join(dir.path, 'data'));
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
          cli(primary, ['devices', 'approve', code, '--pin', PIN]),
        );
      }
    });
    after(async () => {
      await server.stop();
      dir.cleanup();
    });

    it('group: reply, react, edit, delete land the same on all four devices; refusals', async () => {
      const created = await cli('alice', ['group', 'create', 'team', 'bob']);
      assert.equal(created.code, 0, created.stderr);
      const gid = created.stdout.trim();
      assert.match(gid, /^[0-9a-f-]{36}$/);

      const hello = String((await ok('alice', 'group', 'send', gid, 'hello team'))['id']);
      const typo = String((await ok('alice', 'group', 'send', gid, 'tpyo'))['id']);
      await receive('bob');

      const reply = await ok('bob', 'group', 'send', gid, 'hi all', '--reply-to', hello);
      assert.equal(reply['replyTo'], hello);
      const replyId = String(reply['id']);
      await ok('bob', 'react', gid, hello, '🎉');
      // Not the author, not an admin: refused before anything is sent.
      await refused('bob', ['edit', gid, hello, 'not yours'], /not-author/);
      await refused('bob', ['delete', gid, hello, '--for-everyone'], /not-author/);
      await refused('bob', ['timer', gid, '24h'], /not-admin/);

      await ok('alice', 'edit', gid, hello, 'hello team!');
      assert.equal((await ok('alice', 'delete', gid, typo, '--for-everyone'))['scope'], 'everyone');

      const events = new Map<string, Line[]>();
      for (const name of DEVICES) events.set(name, await receive(name));
      const types = new Set(events.get('bob-2')?.map((l) => l['type']));
      for (const type of ['message', 'reaction', 'message-edited', 'message-deleted']) {
        assert.ok(types.has(type), `bob-2 saw a ${type} event: ${JSON.stringify([...types])}`);
      }
      // No timer change went out: nobody saw one.
      for (const name of DEVICES) {
        const changes = events.get(name)?.filter((l) => l['type'] === 'timer-changed');
        assert.deepEqual(changes, [], `${name} saw no timer change`);
      }

      const reference = await state('alice', gid);
      for (const name of DEVICES) {
        assert.deepEqual(await state(name, gid), reference, `${name} has alice's group state`);
      }
      const at = (id: string): Line | undefined => reference.get(id);
      assert.equal(at(hello)?.['text'], 'hello team!');
      assert.equal(at(hello)?.['edited'], true);
      assert.deepEqual(at(hello)?.['reactions'], { bob: '🎉' });
      assert.equal(at(typo)?.['deleted'], 'everyone');
      assert.equal(at(typo)?.['text'], '');
      assert.deepEqual(at(replyId)?.['replyTo'], {
        id: hello,
        author: 'alice',
        snippet: 'hello team',
      });
      assert.ok(
        [...reference.values()].every((m) => m['timerChange'] === undefined),
        'no timer entry in the group',
      );
    });

    it('a disappearing chat empties on every device; windows refuse late edits and deletes', async () => {
      const early = String((await ok('alice', 'send', 'bob', 'kept, no timer yet'))['id']);
      await ok('alice', 'timer', 'bob', '24h');
      const vanishing = String((await ok('alice', 'send', 'bob', 'this one disappears'))['id']);
      const sent = (await state('alice', 'bob')).get(vanishing);
      const expiresAt = Number(sent?.['expiresAt']);
      // The wire carries 24 h; this device's scale makes it 8 s.
      assert.equal(expiresAt - Number(sent?.['sentAt']), SCALED_DAY_MS);

      // bob's primary receives it (in time or not: either way it must go);
      // the companions only after it expired.
      const bobLines = await receive('bob');
      assert.ok(bobLines.some((l) => l['id'] === vanishing && l['type'] === 'message'));
      await sleep(Math.max(0, expiresAt - Date.now()) + 200);
      await receive('alice-2');
      await receive('bob-2');

      for (const name of DEVICES) {
        const entries = await state(name, peer(name));
        assert.equal(entries.has(vanishing), false, `${name} no longer shows the expired message`);
        assert.equal(entries.get(early)?.['text'], 'kept, no timer yet', name);
        assert.ok(
          [...entries.values()].some((m) => m['timerChange'] === 86_400),
          `${name} shows the timer change`,
        );
        const text = await cli(name, ['history', peer(name)]);
        assert.equal(text.code, 0, text.stderr);
        assert.doesNotMatch(text.stdout, /this one disappears/);
      }

      // `early` is over 8 s old: past a 2 s window the author's device refuses.
      const short = { QUINTET_EDIT_WINDOW: '2s', QUINTET_DELETE_WINDOW: '2' };
      await refused('alice', ['edit', 'bob', early, 'too late'], /edit-window-passed/, short);
      await refused(
        'alice',
        ['delete', 'bob', early, '--for-everyone'],
        /delete-window-passed/,
        short,
      );
      await refused('alice', ['edit', 'bob', early, 'x'], /QUINTET_EDIT_WINDOW/, {
        QUINTET_EDIT_WINDOW: '15 minutes',
      });

      // A device with the default windows sends the late edit; receivers with
      // the short window refuse it and keep the text (which is why every
      // device of a chat must use the same windows).
      await ok('alice', 'edit', 'bob', early, 'too late');
      for (const name of ['bob', 'bob-2']) {
        const lines = await receive(name, short);
        assert.ok(
          lines.some((l) => l['type'] === 'chat-event-refused'),
          `${name} reports the refused edit: ${JSON.stringify(lines)}`,
        );
        const entry = (await state(name, 'alice')).get(early);
        assert.equal(entry?.['text'], 'kept, no timer yet', name);
        assert.equal(entry?.['edited'], false, name);
      }
      assert.equal((await state('alice', 'bob')).get(early)?.['text'], 'too late');
    });

    it('a disappearing group chat empties on every device; a late delete is refused', async () => {
      const created = await cli('alice', ['group', 'create', 'vanishing', 'bob']);
      assert.equal(created.code, 0, created.stderr);
      const gid = created.stdout.trim();
      const kept = String((await ok('alice', 'group', 'send', gid, 'kept in the group'))['id']);
      await ok('alice', 'timer', gid, '24h');
      const gone = String((await ok('alice', 'group', 'send', gid, 'gone from the group'))['id']);
      const sent = (await state('alice', gid)).get(gone);
      const expiresAt = Number(sent?.['expiresAt']);
      assert.equal(expiresAt - Number(sent?.['sentAt']), SCALED_DAY_MS);

      // bob's primary gets it in time; the companions only after it expired.
      const bobLines = await receive('bob');
      assert.ok(bobLines.some((l) => l['id'] === gone && l['type'] === 'message'));
      assert.equal((await state('bob', gid)).get(gone)?.['text'], 'gone from the group');
      await sleep(Math.max(0, expiresAt - Date.now()) + 200);
      await receive('alice-2');
      await receive('bob-2');
      for (const name of DEVICES) {
        const entries = await state(name, gid);
        assert.equal(entries.has(gone), false, `${name} no longer shows the expired group message`);
        assert.equal(entries.get(kept)?.['text'], 'kept in the group', name);
        assert.ok(
          [...entries.values()].some((m) => m['timerChange'] === 86_400),
          `${name} shows the group's timer change`,
        );
      }

      // 1:1: a delete for everyone sent after the receivers' 1 s window.
      await ok('alice', 'timer', 'bob', 'off');
      const late = String((await ok('alice', 'send', 'bob', 'deleted too late'))['id']);
      const short = { QUINTET_DELETE_WINDOW: '1' };
      for (const name of ['bob', 'bob-2']) await receive(name, short);
      await sleep(1500);
      await ok('alice', 'delete', 'bob', late, '--for-everyone');
      for (const name of ['bob', 'bob-2']) {
        const lines = await receive(name, short);
        assert.ok(
          lines.some((l) => l['type'] === 'chat-event-refused'),
          `${name} reports the refused delete: ${JSON.stringify(lines)}`,
        );
        const entry = (await state(name, 'alice')).get(late);
        assert.equal(entry?.['text'], 'deleted too late', name);
        assert.equal(entry?.['deleted'] ?? null, null, name);
      }
      assert.equal((await state('alice', 'bob')).get(late)?.['deleted'], 'everyone');
    });
  },
);
