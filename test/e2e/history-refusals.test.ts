/**
 * History refusals through a real server process, with the companion a real
 * CLI profile (`quintet link`, `receive --follow`, `history`, `send`):
 *
 * - a primary whose pointer carries a key that does not open the uploaded
 *   archive: the companion refuses it (`bad-mac`), imports nothing, and
 *   keeps its bootstrap state;
 * - another companion of the same account sending bootstrap state and an
 *   archive pointer: refused (`wrong-source`) before anything is stored;
 * - afterwards the companion still receives and sends;
 * - both refused archives are deleted from the server at once (a 404),
 *   not left to their 24 h expiry.
 *
 * No CLI can send a wrong key or make a companion send history, so the
 * primary and the other companion are in-process SDK devices (the same
 * client core the CLI runs) over WebSockets to the server process.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeLinkCode } from '../../src/protocol/adv/index.js';
import { approveCompanion } from '../../src/client/core/linking/approve.js';
import { QuintetClient } from '../../src/client/core/client.js';
import { buildArchive } from '../../src/client/core/history/archive-builder.js';
import type { HistoryServices } from '../../src/client/core/history/importer.js';
import type { StoredMessage } from '../../src/client/core/store/records.js';
import {
  BlobClient,
  BlobError,
  cachedBlobCredential,
} from '../../src/client/transport/blob-client.js';
import { WsTransport } from '../../src/client/transport/ws-transport.js';
import { zlibCompressor } from '../../src/client/platform/zlib-compressor.js';
import {
  ctx,
  linkSdkDevice,
  registerSdkDevice,
  withApi,
  type SdkDevice,
} from '../cluster/sdk-devices.js';
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
const SEEDED = 300;

/** An SDK device online (not receiving: it only sends history). */
async function online(
  url: string,
  device: SdkDevice,
  history: (blobs: BlobClient) => HistoryServices,
): Promise<QuintetClient> {
  const transport = await WsTransport.connect(url);
  const blobs = new BlobClient(
    url,
    cachedBlobCredential(() => client.getBlobCredential()),
  );
  const client: QuintetClient = new QuintetClient({
    ctx,
    store: device.store,
    transport,
    receive: false,
    history: history(blobs),
  });
  await client.start();
  return client;
}

/** A blob client speaking for `device` (a fresh credential over its own connection). */
async function blobsOf(url: string, device: SdkDevice): Promise<BlobClient> {
  const { token } = await withApi(url, device, (api) => api.getBlobCredential());
  return new BlobClient(url, () => Promise.resolve(token));
}

/** Whether the server still serves blob `id`. */
async function status(blobs: BlobClient, id: string): Promise<'found' | 'not-found'> {
  try {
    for await (const piece of blobs.download(id)) void piece;
    return 'found';
  } catch (error) {
    if (BlobError.is(error, 'not-found')) return 'not-found';
    throw error;
  }
}

/** Polls until every blob of `ids` is gone (the caller asserts; this only waits, bounded). */
async function untilGone(blobs: BlobClient, ids: readonly string[]): Promise<void> {
  for (let attempt = 0; attempt < 150; attempt++) {
    const states = await Promise.all(ids.map((id) => status(blobs, id)));
    if (states.every((state) => state === 'not-found')) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('history refusals through the real server', { timeout: 240_000 }, () => {
  const dir = tempDir('quintet-e2e-history-refusals-');
  const profile = (name: string): string => join(dir.path, `profile-${name}`);
  let server: ServerProcess;
  let primary: SdkDevice;
  let laptopId = 0;
  const cli = async (name: string, ...args: string[]) => {
    const result = await runCli([...args, '--profile', profile(name)], {}, 60_000);
    assert.equal(result.code, 0, `quintet ${args.join(' ')} (${name}): ${result.stderr}`);
    return result;
  };

  before(async () => {
    ensureBuilt();
    server = await startServer(join(dir.path, 'data'));
    primary = await registerSdkDevice(server.url, 'hr-alice');
    await cli('bob', 'register', 'hr-bob', '--server', server.url, '--pin', PIN);
    // The primary's chat with bob, seeded straight into its store.
    const now = Date.now();
    await primary.store.transaction(async (tx) => {
      for (let i = 0; i < SEEDED; i++) {
        const id = new Uint8Array(16);
        new DataView(id.buffer).setUint32(12, i + 1);
        const message: StoredMessage = {
          id,
          chat: 'hr-bob',
          sender: i % 2 === 0 ? 'hr-alice' : 'hr-bob',
          senderDevice: 1,
          text: `seeded ${i}`,
          sentAt: now - 86_400_000 + i * 1000,
          receivedAt: i % 2 === 0 ? 0 : now - 86_400_000 + i * 1000 + 5,
          outgoing: i % 2 === 0,
          receipts: {},
        };
        await tx.messages.put(message);
      }
    });
    // The CLI companion, approved by the SDK primary; it does not wait for
    // history, so what the primary sends waits in its queue.
    laptopId = await linkWithCli(
      server.url,
      profile('laptop'),
      'laptop',
      async (code) => {
        await withApi(server.url, primary, (api) =>
          approveCompanion(ctx, primary.store, api, decodeLinkCode(code)),
        );
        return { code: 0, stdout: '', stderr: '' };
      },
      ['--no-history'],
    );
  });
  after(async () => {
    await server.stop();
    dir.cleanup();
  });

  it('refuses a wrong archive key and another device as source; the companion keeps working', async () => {
    // Another companion of the account: a real archive under a right key,
    // but not from the approving primary.
    const other = await linkSdkDevice(server.url, server.url, primary, 'other');
    await other.store.messages.put({
      id: new Uint8Array(16).fill(9),
      chat: 'hr-bob',
      sender: 'hr-bob',
      senderDevice: 1,
      text: 'from the other companion',
      sentAt: Date.now() - 1000,
      receivedAt: Date.now(),
      outgoing: false,
      receipts: {},
    });
    // The archives' blob ids, to show them gone after the refusals.
    const uploaded: string[] = [];
    const otherClient = await online(server.url, other, (blobs) => ({
      compressor: zlibCompressor,
      blobs: {
        upload: async (body, size, kind, onProgress) => {
          const blob = await blobs.upload(body, size, kind, onProgress);
          uploaded.push(blob.id);
          return blob;
        },
        download: (id, options) => blobs.download(id, options),
        delete: (id, kind) => blobs.delete(id, kind),
      },
    }));
    const fromOther = await otherClient.sendHistory(laptopId, 'all');
    assert.equal(fromOther.messages, 1);
    await otherClient.close();

    // The primary uploads an archive built under a second key, while its
    // pointer carries the first: the key the companion gets is wrong.
    const primaryClient = await online(server.url, primary, (blobs) => ({
      compressor: zlibCompressor,
      blobs: {
        upload: async (body, _size, kind, onProgress) => {
          if (!(body instanceof Uint8Array)) for await (const frame of body) void frame;
          const other = await buildArchive(ctx, primary.store, zlibCompressor, 0);
          async function* frames(): AsyncIterable<Uint8Array> {
            yield* other.frames;
          }
          const blob = await blobs.upload(frames(), other.size, kind, onProgress);
          uploaded.push(blob.id);
          return blob;
        },
        download: (id, options) => blobs.download(id, options),
        delete: (id, kind) => blobs.delete(id, kind),
      },
    }));
    const sent = await primaryClient.sendHistory(laptopId, 'all');
    assert.equal(sent.error, undefined);
    assert.equal(sent.messages, SEEDED);
    await primaryClient.close();
    assert.equal(uploaded.length, 2);
    // Both archives are on the server until the companion refuses them.
    const primaryBlobs = await blobsOf(server.url, primary);
    for (const id of uploaded) assert.equal(await status(primaryBlobs, id), 'found');

    const laptop = new Follower(profile('laptop'));
    try {
      const history = (phase: string, code?: string) => () =>
        laptop.lines.some(
          (l) =>
            l['type'] === 'history-sync' &&
            l['phase'] === phase &&
            (code === undefined || l['code'] === code),
        );
      await laptop.until('the wrong-key refusal', history('failed', 'bad-mac'));
      assert.ok(history('failed', 'wrong-source')(), JSON.stringify(laptop.lines));
      assert.ok(history('bootstrap')(), 'the primary’s account state was applied');
      assert.ok(!history('done')(), 'no import completed');
      await laptop.until('the refusal on stderr', () =>
        /history not imported \(bad-mac\)/.test(laptop.stderr),
      );

      // Still receiving.
      await cli('bob', 'send', 'hr-alice', 'still there?');
      await laptop.until('a live message', () => laptop.texts.includes('still there?'));
    } finally {
      await laptop.stop();
    }
    // The refusing companion deleted both archives (the one under the wrong
    // key after downloading it, the other companion's on its pointer alone),
    // in the background after each refusal: wait for it, then a plain 404.
    await untilGone(primaryBlobs, uploaded);
    for (const id of uploaded) assert.equal(await status(primaryBlobs, id), 'not-found', id);
    // Nothing imported from either archive: only the live message.
    const held = messagesOf(await cli('laptop', 'history', 'hr-bob', '--json'));
    assert.deepEqual(
      held.map((m) => m['text']),
      ['still there?'],
    );
    // The primary's bootstrap state applied (bob is a contact); the other
    // companion's did not add its read state or settings.
    const chats = messagesOf(await cli('laptop', 'chats', '--json'));
    assert.deepEqual(
      chats.map((c) => [c['chat'], c['messages']]),
      [['hr-bob', 1]],
    );
    // Still sending.
    await cli('laptop', 'send', 'hr-bob', 'yes, from the laptop');
    const got = messagesOf(await cli('bob', 'receive', '--json'));
    assert.ok(
      got.some((m) => m['text'] === 'yes, from the laptop' && m['from'] === 'hr-alice'),
      JSON.stringify(got),
    );
  });
});
