/**
 * History sync with the real server and CLI: a primary with three chats
 * (two 1:1 and a group) links a laptop with `devices approve --history all`;
 * `link` waits for the import and the laptop's `quintet history` lists every
 * message, oldest first, imported and live alike. A second companion linked
 * with `--history none` still gets the account state: it can send to the
 * group. The primary's 5,000 messages are seeded straight into its profile
 * (written by the test process while no CLI runs), which is much faster
 * than sending them through the protocol; a few real messages are mixed in.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { StoredMessage } from '../../src/client/core/store/records.js';
import { openProfileStore } from '../../src/cli/profile.js';
import { Follower } from './follower.js';
import {
  ensureBuilt,
  linkWithCli,
  messagesOf,
  runCli,
  startServer,
  tempDir,
  type ServerProcess,
} from './harness.js';

const PIN = '2468';
const SEEDED = 5000;

describe('history sync end to end', { timeout: 300_000 }, () => {
  const dir = tempDir('quintet-e2e-history-');
  const profile = (name: string): string => join(dir.path, `profile-${name}`);
  let server: ServerProcess;
  let groupId = '';
  const files = new Map<string, string>();
  const cli = (name: string, ...args: string[]) =>
    runCli([...args, '--profile', profile(name)], {}, 120_000);

  before(async () => {
    ensureBuilt();
    server = await startServer(join(dir.path, 'data'));
    for (const [account, name] of [
      ['hx-alice', 'phone'],
      ['hx-bob', 'bob'],
      ['hx-carol', 'carol'],
    ] as const) {
      const registered = await runCli([
        'register',
        account,
        '--server',
        server.url,
        '--profile',
        profile(name),
        '--pin',
        PIN,
      ]);
      assert.equal(registered.code, 0, registered.stderr);
    }
    const created = await cli('phone', 'group', 'create', 'team', 'hx-bob', 'hx-carol');
    assert.equal(created.code, 0, created.stderr);
    groupId = created.stdout.trim();
    assert.equal((await cli('bob', 'send', 'hx-alice', 'real one')).code, 0);
    assert.equal((await cli('phone', 'send', 'hx-carol', 'real two')).code, 0);
    assert.equal((await cli('phone', 'receive')).code, 0);
    // Three attachments in three chats: history carries their pointers.
    for (const [index, target] of [
      ['send', 'hx-bob'],
      ['send', 'hx-carol'],
      ['group', groupId],
    ].entries()) {
      const file = join(dir.path, `file-${index}.bin`);
      writeFileSync(file, randomBytes(20_000 + index * 1000));
      files.set(`file-${index}.bin`, file);
      const args =
        target[0] === 'group'
          ? ['group', 'send', target[1] ?? '', '--file', file]
          : ['send', target[1] ?? '', '--file', file];
      const sent = await cli('phone', ...args);
      assert.equal(sent.code, 0, sent.stderr);
    }

    // Seed the primary's profile: three chats, recent enough for any reach.
    const store = openProfileStore(profile('phone'));
    try {
      const now = Date.now();
      const chats = ['hx-bob', 'hx-carol', groupId];
      for (let at = 0; at < SEEDED; at += 1000) {
        await store.transaction(async (tx) => {
          for (let i = at; i < at + 1000; i++) {
            const chat = chats[i % 3] ?? 'hx-bob';
            const outgoing = i % 2 === 0;
            const id = new Uint8Array(16);
            new DataView(id.buffer).setUint32(12, i + 1);
            const message: StoredMessage = {
              id,
              chat,
              sender: outgoing ? 'hx-alice' : chat === groupId ? 'hx-bob' : chat,
              senderDevice: 1,
              text: `seeded ${i}`,
              sentAt: now - 10 * 86_400_000 + i * 1000,
              receivedAt: outgoing ? 0 : now - 10 * 86_400_000 + i * 1000 + 5,
              outgoing,
              receipts: {},
            };
            await tx.messages.put(message);
            // Read on the phone: the first 3,000 incoming ones.
            if (!outgoing && i < 3000) await tx.read.markRead(chat, id, now - 1000);
          }
        });
      }
    } finally {
      await store.close();
    }
  });
  after(async () => {
    await server.stop();
    dir.cleanup();
  });

  it('links a companion that lists every message of every chat, oldest first', async () => {
    let approveOutput = '';
    await linkWithCli(server.url, profile('laptop'), 'laptop', async (code) => {
      const result = await cli(
        'phone',
        'devices',
        'approve',
        code,
        '--pin',
        PIN,
        '--history',
        'all',
      );
      approveOutput = result.stderr;
      return result;
    });
    assert.match(approveOutput, /sent account state and \d+ messages of history/);
    for (const chat of ['hx-bob', 'hx-carol']) {
      const onPhone = messagesOf(await cli('phone', 'history', chat, '--json'));
      const onLaptop = messagesOf(await cli('laptop', 'history', chat, '--json'));
      assert.ok(onPhone.length > SEEDED / 3, chat);
      assert.deepEqual(
        onLaptop.map((m) => m['id']),
        onPhone.map((m) => m['id']),
        `${chat}: the same messages in the same order`,
      );
      // `read` (and `readAt` for a read incoming message) as on the phone:
      // the archive carries each message's read time.
      const readState = (m: Record<string, unknown>) => [m['read'], m['readAt']];
      assert.deepEqual(onLaptop.map(readState), onPhone.map(readState), `${chat}: read state`);
      assert.ok(
        onLaptop.some((m) => m['read'] === false) &&
          onLaptop.some((m) => m['read'] === true && m['outgoing'] === false),
        `${chat}: some incoming read, some not`,
      );
      const times = onLaptop.map((m) => Number(m['sentAt']));
      assert.deepEqual(
        times,
        [...times].sort((a, b) => a - b),
      );
      for (const field of [
        'type',
        'id',
        'from',
        'fromDevice',
        'chat',
        'outgoing',
        'text',
        'sentAt',
        'receivedAt',
        'read',
      ]) {
        assert.ok(field in (onLaptop[0] ?? {}), `history --json has ${field}`);
      }
    }
    const group = messagesOf(await cli('laptop', 'history', groupId, '--json'));
    assert.equal(
      group.length,
      Math.floor(SEEDED / 3) + 1,
      'every seeded group message and the attachment',
    );
    // Every attachment opens on the laptop from its existing blob.
    let opened = 0;
    for (const chat of ['hx-bob', 'hx-carol', groupId]) {
      const saved = messagesOf(
        await cli(
          'laptop',
          'history',
          chat,
          '--json',
          '--save-attachments',
          '--server',
          server.url,
        ),
      );
      for (const message of saved) {
        const attachment = message['attachment'] as
          { path?: string; name?: string; error?: string } | undefined;
        if (attachment === undefined) continue;
        assert.equal(attachment.error, undefined);
        const original = files.get(attachment.name ?? '');
        assert.ok(original !== undefined && attachment.path !== undefined);
        assert.deepEqual(readFileSync(attachment.path), readFileSync(original));
        opened++;
      }
    }
    assert.equal(opened, 3);
    // Read state travels: each chat has as many unread messages on the
    // laptop as on the phone (some read, some not).
    const unread = async (name: string): Promise<Map<string, number>> =>
      new Map(
        messagesOf(await cli(name, 'chats', '--json')).map((c) => [
          String(c['chat']),
          Number(c['unread']),
        ]),
      );
    const phoneUnread = await unread('phone');
    const laptopUnread = await unread('laptop');
    for (const chat of ['hx-bob', 'hx-carol', groupId]) {
      assert.ok((phoneUnread.get(chat) ?? 0) > 0, `${chat} has unread messages`);
      assert.equal(laptopUnread.get(chat), phoneUnread.get(chat), `${chat}: unread count`);
    }
    const limited = messagesOf(await cli('laptop', 'history', 'hx-bob', '--json', '--limit', '3'));
    const all = messagesOf(await cli('laptop', 'history', 'hx-bob', '--json'));
    assert.deepEqual(limited, all.slice(-3), '--limit keeps the newest, oldest first');
  });

  it('--history none still delivers account state: groups work on the companion', async () => {
    let approveOutput = '';
    await linkWithCli(server.url, profile('tablet'), 'tablet', async (code) => {
      const result = await cli(
        'phone',
        'devices',
        'approve',
        code,
        '--pin',
        PIN,
        '--history',
        'none',
      );
      approveOutput = result.stderr;
      return result;
    });
    assert.match(approveOutput, /history declined/);
    assert.deepEqual(messagesOf(await cli('tablet', 'history', 'hx-bob', '--json')), []);
    // Contacts travel without history: the chat list shows both 1:1 chats.
    const chats = messagesOf(await cli('tablet', 'chats', '--json'));
    for (const chat of ['hx-bob', 'hx-carol']) {
      assert.ok(
        chats.some((c) => c['chat'] === chat && c['kind'] === 'direct'),
        JSON.stringify(chats),
      );
    }
    const sent = await cli('tablet', 'group', 'send', groupId, 'from the tablet');
    assert.equal(sent.code, 0, sent.stderr);
    const got = messagesOf(await cli('bob', 'receive', '--json'));
    assert.ok(
      got.some((m) => m['text'] === 'from the tablet' && m['chat'] === groupId),
      JSON.stringify(got),
    );
  });

  it('100 messages sent by CLI processes during an import arrive once, in time order', async (t) => {
    // Linked without waiting: the bootstrap state and the archive pointer
    // wait in the desktop's queue, and the first 60 live messages queue
    // behind them, so the receiving process imports while it receives them.
    await linkWithCli(
      server.url,
      profile('desktop'),
      'desktop',
      (code) => cli('phone', 'devices', 'approve', code, '--pin', PIN, '--history', 'all'),
      ['--no-history'],
    );
    // Three senders at once (one process per profile at a time): bob and
    // carol 1:1 and in the group, and the phone itself (its self-sync copies).
    const lane = async (name: string, sends: ReadonlyArray<readonly string[]>): Promise<void> => {
      for (const args of sends) {
        const sent = await cli(name, ...args);
        assert.equal(sent.code, 0, `${name} ${args.join(' ')}: ${sent.stderr}`);
      }
    };
    const texts = (prefix: string, n: number): string[] =>
      Array.from({ length: n }, (_, i) => `live ${prefix} ${i}`);
    const wave = (
      bob: readonly string[][],
      carol: readonly string[][],
      phone: readonly string[][],
    ): Promise<unknown> =>
      Promise.all([lane('bob', bob), lane('carol', carol), lane('phone', phone)]);
    await wave(
      texts('b', 20).map((t) => ['send', 'hx-alice', t]),
      texts('c', 20).map((t) => ['send', 'hx-alice', t]),
      texts('p', 20).map((t) => ['send', 'hx-bob', t]),
    );
    const desktop = new Follower(profile('desktop'));
    try {
      await wave(
        texts('bg', 14).map((t) => ['group', 'send', groupId, t]),
        texts('cg', 13).map((t) => ['group', 'send', groupId, t]),
        texts('pc', 13).map((t) => ['send', 'hx-carol', t]),
      );
      const live = (): string[] => desktop.texts.filter((t) => t.startsWith('live '));
      await desktop.until(
        'the import and 100 live messages',
        () => {
          const done = desktop.lines.some(
            (l) => l['type'] === 'history-sync' && l['phase'] === 'done',
          );
          return done && live().length >= 100;
        },
        180_000,
      );
      assert.equal(new Set(live()).size, 100, 'each live message shown once');
    } finally {
      await desktop.stop();
    }
    const done = desktop.lines.find((l) => l['type'] === 'history-sync' && l['phase'] === 'done');
    const imported = Number(done?.['messages']);
    // How many were shown before the import ended: informational only (it
    // depends on speed), the assertions below hold either way.
    const doneAt = desktop.lines.indexOf(done ?? {});
    const before = desktop.lines
      .slice(0, doneAt)
      .filter((l) => l['type'] === 'message' && String(l['text']).startsWith('live ')).length;
    t.diagnostic(`live messages shown before the import was done: ${before} of 100`);
    assert.ok(imported > SEEDED, `imported ${imported}`);

    let total = 0;
    const liveSeen: string[] = [];
    for (const chat of ['hx-bob', 'hx-carol', groupId]) {
      const messages = messagesOf(await cli('desktop', 'history', chat, '--json'));
      const ids = messages.map((m) => String(m['id']));
      assert.equal(new Set(ids).size, ids.length, `${chat}: no message twice`);
      const times = messages.map((m) => Number(m['sentAt']));
      assert.deepEqual(
        times,
        [...times].sort((a, b) => a - b),
        `${chat}: imported and live messages in time order`,
      );
      liveSeen.push(...messages.map((m) => String(m['text'])).filter((t) => t.startsWith('live ')));
      total += messages.length;
    }
    assert.equal(liveSeen.length, 100, 'every live message stored once');
    assert.equal(total, imported + 100, 'the archive and the live messages, nothing else');
  });
});
