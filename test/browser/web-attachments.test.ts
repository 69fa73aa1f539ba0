/**
 * Attachments in the browser app, in real Chromium against the real server
 * (which serves web/dist and the blob API): an image sent by a Node client
 * shows in the page (inline, decoded), and a file sent from the page's
 * attach input reaches the Node client intact (sha256). Screenshots go to
 * test-artifacts/browser/.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
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
});
