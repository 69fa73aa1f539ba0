/**
 * Attachments end to end: the real server (file blob store) and the real
 * CLI as separate processes.
 *
 * - a file alice sends reaches both of bob's devices intact (sha256), saved
 *   into the media folder, and the JSON line names path, mime, size, sha256;
 * - a file sent to a group reaches the other member intact;
 * - a blob altered on the server's disk is refused: exit code 1, a clear
 *   line, and no file (not even a partial one) in the media folder;
 * - a missing file and a file over the server's limit are clear errors.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  ensureBuilt,
  linkWithCli,
  runCli,
  startServer,
  tempDir,
  type ServerProcess,
} from './harness.js';

const PIN = '1357';
const MAX_BLOB = 2 * 1024 * 1024;

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

describe('attachments end to end (CLI)', { timeout: 240_000 }, () => {
  const dir = tempDir('quintet-attach-');
  let server: ServerProcess;
  const profile = (name: string): string => join(dir.path, `profile-${name}`);
  const media = (name: string): string => join(dir.path, `media-${name}`);
  const cli = (name: string, ...args: string[]) =>
    runCli([...args, '--profile', profile(name)], { QUINTET_PIN: PIN });

  function file(name: string, size: number): { path: string; bytes: Uint8Array } {
    const bytes = new Uint8Array(randomBytes(size));
    const path = join(dir.path, name);
    writeFileSync(path, bytes);
    return { path, bytes };
  }

  async function receive(name: string): Promise<Array<Record<string, unknown>>> {
    const result = await cli(
      name,
      'receive',
      '--json',
      '--timeout',
      '10',
      '--media-dir',
      media(name),
    );
    assert.equal(result.code, 0, result.stderr);
    return lines(result.stdout);
  }

  function lines(stdout: string): Array<Record<string, unknown>> {
    return stdout
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((m) => m['type'] === 'message');
  }

  /** The blob files on the server's disk (data/blobs/data/<xx>/<id>). */
  function blobFiles(): string[] {
    const root = join(dir.path, 'data', 'blobs', 'data');
    if (!existsSync(root)) return [];
    return readdirSync(root).flatMap((bucket) =>
      readdirSync(join(root, bucket)).map((name) => join(root, bucket, name)),
    );
  }

  before(async () => {
    ensureBuilt();
    server = await startServer(join(dir.path, 'data'), 0, ['--max-blob-bytes', String(MAX_BLOB)]);
    for (const name of ['alice', 'bob', 'carol']) {
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
    await linkWithCli(server.url, profile('bob-2'), 'bob-2', (code) =>
      cli('bob', 'devices', 'approve', code, '--pin', PIN),
    );
  });

  after(async () => {
    await server?.stop();
    dir.cleanup();
  });

  it('sends a file that every device of bob saves intact', async () => {
    const photo = file('photo.jpg', 300_000 + 7);
    const sent = await cli(
      'alice',
      'send',
      'bob',
      '--file',
      photo.path,
      '--caption',
      'look',
      '--json',
    );
    assert.equal(sent.code, 0, sent.stderr);
    const sentJson = JSON.parse(sent.stdout) as { attachment: { sha256: string; size: number } };
    assert.equal(sentJson.attachment.sha256, sha256(photo.bytes));
    for (const device of ['bob', 'bob-2']) {
      const [message] = (await receive(device)).filter((m) => m['from'] === 'alice');
      assert.ok(message !== undefined, `${device} got no message`);
      assert.equal(message['text'], 'look');
      const attachment = message['attachment'] as Record<string, unknown>;
      assert.equal(attachment['mime'], 'image/jpeg');
      assert.equal(attachment['size'], photo.bytes.length);
      assert.equal(attachment['sha256'], sha256(photo.bytes));
      assert.equal('mediaKey' in attachment || 'key' in attachment, false);
      const path = String(attachment['path']);
      assert.equal(path, join(media(device), 'photo.jpg'));
      assert.equal(sha256(readFileSync(path)), sha256(photo.bytes));
    }
  });

  it('sends a file to a group', async () => {
    const created = await cli('alice', 'group', 'create', 'files', 'carol');
    assert.equal(created.code, 0, created.stderr);
    const gid = created.stdout.trim();
    const doc = file('report.pdf', 70_001);
    const sent = await cli('alice', 'group', 'send', gid, '--file', doc.path, '--json');
    assert.equal(sent.code, 0, sent.stderr);
    const got = (await receive('carol')).filter((m) => m['chat'] === gid);
    assert.equal(got.length, 1);
    const attachment = got[0]?.['attachment'] as Record<string, unknown>;
    assert.equal(attachment['mime'], 'application/pdf');
    assert.equal(sha256(readFileSync(String(attachment['path']))), sha256(doc.bytes));
  });

  it('refuses a blob altered on the server and writes no file', async () => {
    const before = new Set(blobFiles());
    const secret = file('secret.bin', 50_000);
    const sent = await cli('alice', 'send', 'carol', '--file', secret.path);
    assert.equal(sent.code, 0, sent.stderr);
    const added = blobFiles().filter((path) => !before.has(path));
    assert.equal(added.length, 1);
    const blobPath = added[0] ?? '';
    const stored = readFileSync(blobPath);
    // A byte in the middle of the ciphertext (the file's header is at its start).
    const at = stored.length - 20_000;
    stored[at] = (stored[at] ?? 0) ^ 0x40;
    writeFileSync(blobPath, stored);

    mkdirSync(media('carol'), { recursive: true });
    const listed = new Set(readdirSync(media('carol')));
    const result = await cli(
      'carol',
      'receive',
      '--json',
      '--timeout',
      '10',
      '--media-dir',
      media('carol'),
    );
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stderr, /integrity check.*nothing was saved/);
    const [message] = lines(result.stdout);
    const attachment = message?.['attachment'] as Record<string, unknown>;
    assert.equal(attachment['path'], undefined);
    assert.deepEqual(
      readdirSync(media('carol')).filter((name) => !listed.has(name)),
      [],
      'no file and no partial file',
    );
  });

  it('names a missing file', async () => {
    const missing = await cli('alice', 'send', 'bob', '--file', join(dir.path, 'nope.png'));
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot read the file .*nope\.png/);
  });

  it(
    'names the server limit when a file is too large',
    {
      todo: 'h/blobs: the server answers 413 and closes before the streamed body is sent; Node fetch then reports a network error, not the 413',
    },
    async () => {
      const big = file('big.bin', MAX_BLOB + 1);
      const tooLarge = await cli('alice', 'send', 'bob', '--file', big.path);
      assert.equal(tooLarge.code, 1);
      assert.match(tooLarge.stderr, /too large for this server.*limit is 2\.0 MiB/);
    },
  );
});
