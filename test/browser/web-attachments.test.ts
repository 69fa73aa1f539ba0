/**
 * Attachments in the browser app, in real Chromium against the real server
 * (which serves web/dist and the blob API): an image sent by a Node client
 * shows in the page (inline, decoded), and a file sent from the page's
 * attach input reaches the Node client intact (sha256); a download streams
 * into a file in the Origin Private File System and is offered from it only
 * once verified, and a tampered download is refused with no file left.
 * Screenshots go to test-artifacts/browser/.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { encryptAttachment } from '../../src/client/core/attachments/media-crypto.js';
import type { Attachment } from '../../src/client/core/attachments/pointer.js';
import {
  downloadAttachment,
  uploadAttachment,
} from '../../src/client/core/attachments/transfer.js';
import { BlobClient, cachedBlobCredential } from '../../src/client/transport/blob-client.js';
import { nodeCrypto } from '../../src/crypto/node.js';
import { startServer, type RunningServer } from '../../src/server/main.js';
import { ensureWebBuilt } from '../e2e/harness.js';
import { ARTIFACTS, launchChromium, watchProblems } from './fixtures/chromium.js';
import { startNodeParty, type NodeParty } from './fixtures/node-party.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `web-attachments-${name}.png`) });
}

/** A valid 32×32 PNG of one colour (no image library needed). */
function png(): Uint8Array {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (bytes: Buffer): number => {
    let c = 0xffffffff;
    for (const b of bytes) c = (crcTable[(c ^ b) & 0xff] ?? 0) ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer): Buffer => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const out = Buffer.alloc(8 + data.length + 4);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc(body), 8 + data.length);
    return out;
  };
  const size = 32;
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // truecolour
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(size * 3, 0)]);
  for (let x = 0; x < size; x++) row.set([0x20, 0x90, 0xe0], 1 + x * 3);
  const raw = Buffer.concat(Array.from({ length: size }, () => row));
  return new Uint8Array(
    Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', header),
      chunk('IDAT', deflateSync(raw)),
      chunk('IEND', Buffer.alloc(0)),
    ]),
  );
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Name → size of the files the app keeps downloads in (OPFS), read in the page. */
async function downloadFiles(page: Page): Promise<Record<string, number>> {
  return page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    const folder = await root.getDirectoryHandle('incoming-attachments');
    const out: Record<string, number> = {};
    // keys() is in Chromium but not in TypeScript's DOM lib without DOM.AsyncIterable.
    const names = (folder as unknown as { keys(): AsyncIterable<string> }).keys();
    for await (const name of names)
      out[name] = (await (await folder.getFileHandle(name)).getFile()).size;
    return out;
  });
}

async function registerInPage(page: Page, account: string): Promise<void> {
  await page.getByLabel('Account name').fill(account);
  await page.getByLabel('PIN', { exact: true }).fill('2468');
  await page.getByLabel('Repeat PIN').fill('2468');
  await page.getByTestId('register').click();
  await page.getByTestId('status').getByText('Online').waitFor({ timeout: 30_000 });
}

describe('web app attachments in Chromium', { timeout: 240_000 }, () => {
  let server: RunningServer | undefined;
  let browser: Browser | undefined;
  let bob: NodeParty | undefined;

  before(async () => {
    ensureWebBuilt();
    server = await startServer({
      memory: true,
      port: 0,
      staticDir: join(ROOT, 'web', 'dist'),
      logLevel: 'silent',
    });
    browser = await launchChromium();
    bob = await startNodeParty(server, 'bob');
  });

  after(async () => {
    await bob?.client.close();
    await browser?.close();
    await server?.close();
  });

  it('shows an image from a Node client and sends a file the Node client receives intact', async () => {
    assert.ok(server && browser && bob, 'setup failed');
    const party = bob;
    const blobs = new BlobClient(
      server.url,
      cachedBlobCredential(() => party.client.getBlobCredential()),
    );
    const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    const page = await context.newPage();
    const problems = watchProblems(page);
    await page.goto(server.url);
    await page.getByLabel('Account name').fill('alice');
    await page.getByLabel('PIN', { exact: true }).fill('2468');
    await page.getByLabel('Repeat PIN').fill('2468');
    await page.getByTestId('register').click();
    await page.getByTestId('status').getByText('Online').waitFor({ timeout: 30_000 });

    // Bob sends a picture: it appears inline, decoded, with its caption.
    const image = png();
    const attachment = await uploadAttachment(nodeCrypto, blobs, {
      size: image.length,
      fileName: 'blue.png',
      mimeType: 'image/png',
      thumbnail: image,
      read: async function* () {
        yield image;
      },
    });
    await party.client.sendText('alice', 'a blue square', undefined, attachment);
    await page.getByTestId('chat').filter({ hasText: 'bob' }).click();
    const shown = page.getByTestId('message').filter({ hasText: 'a blue square' });
    await shown.getByTestId('attachment-image').waitFor({ timeout: 30_000 });
    const width = await shown.getByTestId('attachment-image').evaluate(
      (img) =>
        new Promise<number>((resolve) => {
          const image = img as HTMLImageElement;
          if (image.complete) resolve(image.naturalWidth);
          else {
            image.onload = () => resolve(image.naturalWidth);
            image.onerror = () => resolve(-1);
          }
        }),
    );
    assert.equal(width, 32);
    await shot(page, '01-image-received');

    // Alice attaches a file with a caption; bob downloads and verifies it.
    const text = new TextEncoder().encode('notes from the browser\n'.repeat(5000));
    await page.getByTestId('compose').fill('my notes');
    await page
      .getByTestId('attach-input')
      .setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from(text) });
    let received;
    let file;
    for (;;) {
      const event = await party.events.next('message', 30_000);
      if (event.message.attachment !== undefined) {
        received = event.message;
        file = event.message.attachment;
        break;
      }
    }
    assert.equal(received.text, 'my notes');
    assert.equal(file.fileName, 'notes.txt');
    assert.equal(file.mimeType, 'text/plain');
    const parts: Uint8Array[] = [];
    let committed = false;
    await downloadAttachment(nodeCrypto, blobs, file, {
      write: async (chunk) => void parts.push(chunk),
      commit: async () => {
        committed = true;
      },
      abort: async () => undefined,
    });
    assert.equal(committed, true);
    assert.equal(sha256(Buffer.concat(parts)), sha256(text));
    // The sender's own page shows its file as a download link.
    await page
      .getByTestId('message')
      .filter({ hasText: 'my notes' })
      .getByTestId('attachment-link')
      .waitFor({ timeout: 30_000 });
    await shot(page, '02-file-sent');
    assert.deepEqual(problems, []);
    await context.close();
  });
  it('streams a download into a file, offers it once verified, and leaves no file when tampered', async () => {
    assert.ok(server && browser && bob, 'setup failed');
    const party = bob;
    const blobs = new BlobClient(
      server.url,
      cachedBlobCredential(() => party.client.getBlobCredential()),
    );
    const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    const page = await context.newPage();
    const problems = watchProblems(page);
    await page.goto(server.url);
    await registerInPage(page, 'carol');

    // A 6 MiB file: written to OPFS as it decrypts, then offered from there.
    const big = new Uint8Array(6 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 65536) big.set(nodeCrypto.randomBytes(65536), i);
    const report = await uploadAttachment(nodeCrypto, blobs, {
      size: big.length,
      fileName: 'report.bin',
      mimeType: 'application/octet-stream',
      read: async function* () {
        for (let i = 0; i < big.length; i += 1 << 20) yield big.subarray(i, i + (1 << 20));
      },
    });
    await party.client.sendText('carol', 'the report', undefined, report);
    await page.getByTestId('chat').filter({ hasText: 'bob' }).click();
    const link = page
      .getByTestId('message')
      .filter({ hasText: 'the report' })
      .getByTestId('attachment-link');
    await link.waitFor({ timeout: 60_000 });
    const files = await downloadFiles(page);
    assert.deepEqual(Object.values(files), [big.length], 'one verified file in OPFS');
    // What the link offers is the file, byte for byte: saved as a user would.
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    assert.equal(download.suggestedFilename(), 'report.bin');
    assert.equal(sha256(readFileSync(await download.path())), sha256(big));
    assert.equal(await link.getAttribute('download'), 'report.bin');

    // Tampered: the same kind of file with one ciphertext byte flipped on
    // the server's copy. Every byte is written before the MAC check fails
    // at the end, so this shows the partial file is removed.
    const plain = nodeCrypto.randomBytes(2 * 1024 * 1024);
    const mediaKey = nodeCrypto.randomBytes(32);
    const sealed = encryptAttachment(nodeCrypto, mediaKey, 'document', plain);
    const parts: Uint8Array[] = [];
    for await (const part of sealed.ciphertext) parts.push(part);
    const blob = new Uint8Array(Buffer.concat(parts));
    const digests = sealed.digests();
    blob[blob.length >> 1] = (blob[blob.length >> 1] ?? 0) ^ 0x01;
    const { id } = await blobs.upload(blob, blob.length, 'attachment');
    const tampered: Attachment = {
      blobId: id,
      mediaKey,
      plaintextSha256: digests.plaintextSha256,
      ciphertextSha256: digests.ciphertextSha256,
      size: digests.size,
      mimeType: 'application/pdf',
      fileName: 'forged.pdf',
    };
    await party.client.sendText('carol', 'a forged file', undefined, tampered);
    const failed = page
      .getByTestId('message')
      .filter({ hasText: 'a forged file' })
      .getByTestId('attachment-failed');
    await failed.waitFor({ timeout: 60_000 });
    assert.match(
      (await failed.textContent()) ?? '',
      /forged\.pdf: the attachment MAC does not verify/,
    );
    assert.equal(
      await page
        .getByTestId('message')
        .filter({ hasText: 'a forged file' })
        .getByTestId('attachment-link')
        .count(),
      0,
      'nothing offered',
    );
    assert.deepEqual(await downloadFiles(page), files, 'no file left by the refused download');
    await shot(page, '03-download-verified-and-refused');
    assert.deepEqual(problems, []);
    await context.close();
  });
});
