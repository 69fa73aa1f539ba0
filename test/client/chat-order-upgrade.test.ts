/**
 * The chat-order upgrade: a profile written before the `chat-order` table
 * existed (messages only in `messages`) lists every message once opened,
 * and the upgrade that makes it so is bounded, resumable and idempotent.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { toHex } from '../../src/client/core/bytes.js';
import { ClientError } from '../../src/client/core/errors.js';
import { upgradeChatOrder } from '../../src/client/core/store/chat-order-upgrade.js';
import { TABLES } from '../../src/client/core/store/client-stores.js';
import { createDeviceStore } from '../../src/client/core/store/device-store.js';
import type { KeyValueBackend, KeyValueWrite } from '../../src/client/core/store/kv.js';
import { MemoryBackend } from '../../src/client/core/store/memory-backend.js';
import { encodeStoredMessage, type StoredMessage } from '../../src/client/core/store/records.js';
import { SqliteBackend } from '../../src/client/storage/sqlite-backend.js';

const dir = mkdtempSync(join(tmpdir(), 'quintet-chat-order-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let counter = 0;

function message(chat: string, n: number): StoredMessage {
  const id = new Uint8Array(16);
  new DataView(id.buffer).setUint32(0, n * 2654435761, false); // ids not in time order
  new DataView(id.buffer).setUint32(4, n, false);
  return {
    id,
    chat,
    sender: chat,
    senderDevice: 1,
    text: `${chat} #${n}`,
    sentAt: 1_600_000_000_000 + n * 1000,
    receivedAt: 1_600_000_000_500 + n * 1000,
    outgoing: false,
    receipts: {},
  };
}

/** What an older client wrote: the message under chat / id, and no `chat-order` row. */
async function writeOldWay(backend: KeyValueBackend, messages: StoredMessage[]): Promise<void> {
  await backend.commit(
    messages.map((m) => ({
      table: TABLES.messages,
      key: `${m.chat}/${toHex(m.id)}`,
      value: encodeStoredMessage(m),
    })),
  );
}

const range = (chat: string, count: number): StoredMessage[] =>
  Array.from({ length: count }, (_, i) => message(chat, i));

async function allPages(
  store: ReturnType<typeof createDeviceStore>,
  chat: string,
): Promise<string[]> {
  const out: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await store.messages.page(chat, {
      limit: 1000,
      ...(after === undefined ? {} : { after }),
    });
    out.push(...page.messages.map((m) => m.text));
    if (page.next === undefined) return out;
    after = page.next;
  }
}

/** Counts commits and can fail the n-th one, like a crash in the middle. */
class RecordingBackend extends MemoryBackend {
  commits: number[] = [];
  failAt: number | undefined;
  override async commit(writes: readonly KeyValueWrite[]): Promise<void> {
    this.commits.push(writes.length);
    if (this.commits.length === this.failAt) throw new Error('disk went away');
    await super.commit(writes);
  }
}

async function chatOrderRows(backend: KeyValueBackend): Promise<number> {
  return (await backend.list(TABLES.chatOrder, '')).length;
}

describe('chat-order upgrade', () => {
  it('an old SQLite profile lists every message of a chat past 1,000, oldest first', async () => {
    const path = join(dir, `p${++counter}.db`);
    const old = new SqliteBackend(path);
    await writeOldWay(old, [...range('alice', 2500), ...range('bob', 3)]);
    await old.close();

    const store = createDeviceStore(new SqliteBackend(path));
    try {
      const texts = await allPages(store, 'alice');
      assert.equal(texts.length, 2500);
      assert.deepEqual(
        texts,
        range('alice', 2500).map((m) => m.text),
      );
      assert.deepEqual(await allPages(store, 'bob'), ['bob #0', 'bob #1', 'bob #2']);
      assert.deepEqual(await store.messages.chats(), ['alice', 'bob']);
      // A message that arrives after the upgrade joins the same order.
      await store.messages.put(message('bob', 3));
      assert.equal((await allPages(store, 'bob')).length, 4);
    } finally {
      await store.close();
    }
  });

  it('a profile with old and new messages mixed lists both', async () => {
    const backend = new MemoryBackend();
    await writeOldWay(backend, range('carol', 10).slice(0, 5));
    // Newer messages written the current way, before the upgrade ran.
    const raw = createDeviceStore(backend);
    for (const m of range('carol', 10).slice(5)) await raw.messages.put(m);
    const store = createDeviceStore(backend);
    assert.deepEqual(
      await allPages(store, 'carol'),
      range('carol', 10).map((m) => m.text),
    );
  });

  it('works in bounded batches, each one commit', async () => {
    const backend = new RecordingBackend();
    await writeOldWay(backend, range('dave', 1050));
    backend.commits = [];
    const result = await upgradeChatOrder(backend, { batch: 100 });
    assert.equal(result.indexed, 1050);
    // 11 batches (index rows + cursor) and the final "done" mark.
    assert.equal(backend.commits.length, 12);
    assert.ok(Math.max(...backend.commits) <= 101, `commit sizes ${backend.commits.join(',')}`);
    assert.equal(await chatOrderRows(backend), 1050);
  });

  it('resumes after an interruption and is idempotent', async () => {
    const backend = new RecordingBackend();
    await writeOldWay(backend, range('erin', 730));
    backend.commits = [];
    backend.failAt = 4; // the fourth batch fails: three are committed
    await assert.rejects(upgradeChatOrder(backend, { batch: 100 }), /disk went away/);
    assert.equal(await chatOrderRows(backend), 300);

    backend.failAt = undefined;
    backend.commits = [];
    const resumed = await upgradeChatOrder(backend, { batch: 100 });
    assert.equal(resumed.indexed, 430);
    // Started after the last committed batch: 5 batches and "done", not 8 and "done".
    assert.equal(backend.commits.length, 6);
    assert.equal(await chatOrderRows(backend), 730);

    const again = await upgradeChatOrder(backend, { batch: 100 });
    assert.equal(again.indexed, 0);
    // Even with its progress forgotten, a rerun writes no row twice.
    await backend.commit([{ table: TABLES.upgrades, key: 'chat-order', value: undefined }]);
    assert.equal((await upgradeChatOrder(backend, { batch: 100 })).indexed, 0);
    assert.equal(await chatOrderRows(backend), 730);
  });

  it('a damaged stored message stops it with a typed error and loses nothing', async () => {
    const backend = new MemoryBackend();
    await writeOldWay(backend, range('frank', 5));
    await backend.commit([
      { table: TABLES.messages, key: 'frank/ff', value: Uint8Array.of(0xff, 0xff, 0xff) },
    ]);
    await assert.rejects(upgradeChatOrder(backend), (error: unknown) =>
      ClientError.is(error, 'invalid-record'),
    );
    assert.equal((await backend.list(TABLES.messages, '')).length, 6);
    // The reader gets the same typed error, not a silently short chat.
    await assert.rejects(createDeviceStore(backend).messages.page('frank'), (error: unknown) =>
      ClientError.is(error, 'invalid-record'),
    );
  });

  it('refuses a batch size that is not a positive integer', async () => {
    await assert.rejects(upgradeChatOrder(new MemoryBackend(), { batch: 0 }), (error: unknown) =>
      ClientError.is(error, 'invalid-argument'),
    );
  });
});
