/**
 * `npm run bench:history` — history sync of 50,000 messages (three years of
 * a realistic mix: three 1:1 chats and two groups, short and long texts,
 * outgoing messages with receipts, read marks) through a real server on
 * loopback: the primary builds the archive from its SQLite profile and
 * uploads it to the blob store; a separate companion process (so its peak
 * RSS is its own) downloads, verifies, decompresses and imports it into its
 * own SQLite profile in batches, then deletes the blob. Not a test.
 *
 * Rows (JSON lines): `build`, `upload`, `download+import` (with the
 * companion's peak RSS and import rate), then `total`.
 * Targets (issue 12): total < 30 s, companion peak RSS < 200 MB,
 * import ≥ 5,000 messages/s.
 *
 * `--messages N` changes the count; `--runs N` repeats and adds medians.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { registerAccount } from '../src/client/core/account-setup.js';
import { buildArchive } from '../src/client/core/history/archive-builder.js';
import { ServerApi } from '../src/client/core/server-api.js';
import { createDeviceStore, type DeviceStore } from '../src/client/core/store/device-store.js';
import type { StoredMessage } from '../src/client/core/store/records.js';
import { zlibCompressor } from '../src/client/platform/zlib-compressor.js';
import { SqliteBackend } from '../src/client/storage/sqlite-backend.js';
import { BlobClient } from '../src/client/transport/blob-client.js';
import { WsTransport } from '../src/client/transport/ws-transport.js';
import { nodeCrypto } from '../src/crypto/node.js';
import { systemClock } from '../src/crypto/provider.js';
import type { ProtocolContext } from '../src/protocol/context.js';
import { startServer } from '../src/server/main.js';

const ctx: ProtocolContext = {
  crypto: nodeCrypto,
  random: (n) => nodeCrypto.randomBytes(n),
  clock: systemClock,
};

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  const value = at >= 0 ? Number(process.argv[at + 1]) : NaN;
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

const WORDS =
  'ok yes no maybe tonight tomorrow lunch call me later sounds good see you there thanks running late the train is delayed again what do you think about the plan for the weekend'.split(
    ' ',
  );

/** Deterministic pseudo-random numbers, so every run seeds the same mix. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

async function seedPrimary(store: DeviceStore, count: number, self: string): Promise<void> {
  const rand = prng(42);
  const chats = [
    'bob',
    'carol',
    'dave',
    '0b7c6f3e-1111-4222-8333-944445555666',
    '1c8d7a4f-2222-4333-8444-a55556666777',
  ];
  const weights = [0.35, 0.2, 0.1, 0.25, 0.1];
  const now = Date.now();
  const span = 3 * 365 * 86_400_000;
  for (let at = 0; at < count; at += 1000) {
    await store.transaction(async (tx) => {
      for (let i = at; i < Math.min(count, at + 1000); i++) {
        let r = rand();
        let chat = chats[0] ?? 'bob';
        for (let c = 0; c < chats.length; c++) {
          r -= weights[c] ?? 0;
          if (r <= 0) {
            chat = chats[c] ?? chat;
            break;
          }
        }
        const outgoing = rand() < 0.45;
        // Most messages are short; some are paragraphs.
        const words = rand() < 0.9 ? 1 + Math.floor(rand() * 12) : 40 + Math.floor(rand() * 80);
        const text = Array.from(
          { length: words },
          () => WORDS[Math.floor(rand() * WORDS.length)],
        ).join(' ');
        const sentAt = now - span + Math.floor((i / count) * span);
        const id = ctx.random(16);
        const message: StoredMessage = {
          id,
          chat,
          sender: outgoing ? self : chat.includes('-') ? 'bob' : chat,
          senderDevice: 1,
          text,
          sentAt,
          receivedAt: outgoing ? 0 : sentAt + 300,
          outgoing,
          receipts: outgoing ? { [`${chat}.1`]: 'read' } : {},
        };
        await tx.messages.put(message);
        if (!outgoing && rand() < 0.9) await tx.read.markRead(chat, id, sentAt + 60_000);
      }
    });
  }
}

interface CompanionResult {
  readonly seconds: number;
  readonly imported: number;
  readonly peakRssMb: number;
  readonly messagesPerSecond: number;
}

function runCompanion(args: readonly string[]): Promise<CompanionResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'history-companion.ts'), ...args],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`companion exited with ${code}`));
      else resolve(JSON.parse(out) as CompanionResult);
    });
  });
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

async function run(count: number): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'quintet-bench-history-'));
  const server = await startServer({
    port: 0,
    dataDir: join(dir, 'server'),
    logger: pino({ level: 'silent' }),
  });
  try {
    const store = createDeviceStore(new SqliteBackend(join(dir, 'primary.db')));
    const transport = await WsTransport.connect(server.url);
    const api = new ServerApi(transport);
    await registerAccount(ctx, store, api, {
      account: 'alice',
      serverUrl: server.url,
      deviceName: 'primary',
    });
    await seedPrimary(store, count, 'alice');
    const credential = await api.getBlobCredential();
    const blobs = new BlobClient(server.url, async () => credential.token);

    const t0 = performance.now();
    const archive = await buildArchive(ctx, store, zlibCompressor, 0);
    const t1 = performance.now();
    async function* frames(): AsyncIterable<Uint8Array> {
      yield* archive.frames;
    }
    const uploaded = await blobs.upload(frames(), archive.size, 'archive');
    const t2 = performance.now();
    const companion = await runCompanion([
      server.url,
      credential.token,
      uploaded.id,
      Buffer.from(archive.key).toString('base64'),
      Buffer.from(archive.sha256).toString('base64'),
      String(archive.size),
      String(archive.messageCount),
      join(dir, 'companion.db'),
    ]);
    const t3 = performance.now();
    const build = (t1 - t0) / 1000;
    const upload = (t2 - t1) / 1000;
    const rows = {
      messages: archive.messageCount,
      archiveBytes: archive.size,
      buildSeconds: build,
      uploadSeconds: upload,
      importSeconds: companion.seconds,
      companionPeakRssMb: companion.peakRssMb,
      importMessagesPerSecond: companion.messagesPerSecond,
      totalSeconds: (t3 - t0) / 1000,
    };
    await transport.close();
    await store.close();
    return rows;
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const count = arg('--messages', 50_000);
const runs = arg('--runs', 1);
const results: Record<string, number>[] = [];
for (let i = 0; i < runs; i++) {
  const result = await run(count);
  results.push(result);
  process.stdout.write(`${JSON.stringify({ bench: 'history', run: i + 1, ...result })}\n`);
}
if (runs > 1) {
  const keys = Object.keys(results[0] ?? {});
  const medians = Object.fromEntries(keys.map((k) => [k, median(results.map((r) => r[k] ?? 0))]));
  process.stdout.write(`${JSON.stringify({ bench: 'history', median: true, runs, ...medians })}\n`);
}
