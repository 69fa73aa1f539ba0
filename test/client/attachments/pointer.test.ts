import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { safeFileName, type Attachment } from '../../../src/client/core/attachments/pointer.js';
import { attachmentToPointer } from '../../../src/client/core/attachments/pointer.js';
import { encodeContent, decodeContent } from '../../../src/client/core/content.js';
import { ClientError } from '../../../src/client/core/errors.js';
import {
  decodeStoredMessage,
  encodeStoredMessage,
  type StoredMessage,
} from '../../../src/client/core/store/records.js';
import { fileSink } from '../../../src/cli/attachment-files.js';

const attachment: Attachment = {
  blobId: 'AbC-_09',
  mediaKey: new Uint8Array(32).fill(1),
  plaintextSha256: new Uint8Array(32).fill(2),
  ciphertextSha256: new Uint8Array(32).fill(3),
  size: 1234,
  mimeType: 'image/png',
  fileName: 'a.png',
  thumbnail: new Uint8Array([9, 9, 9]),
};

function content(pointer: ReturnType<typeof attachmentToPointer>) {
  return encodeContent({
    body: {
      case: 'dataMessage',
      value: { messageId: new Uint8Array(16), text: '', timestamp: 1n, attachment: pointer },
    },
  });
}

describe('attachment pointer', () => {
  it('round-trips through content and the stored message record', () => {
    const parsed = decodeContent(content(attachmentToPointer(attachment)));
    assert.equal(parsed.body.case, 'dataMessage');
    const message: StoredMessage = {
      id: new Uint8Array(16),
      chat: 'bob',
      sender: 'bob',
      senderDevice: 1,
      text: 'caption',
      sentAt: 5,
      receivedAt: 6,
      outgoing: false,
      receipts: {},
      attachment,
    };
    assert.deepEqual(decodeStoredMessage(encodeStoredMessage(message)), message);
    const { attachment: _dropped, ...plain } = message;
    assert.deepEqual(decodeStoredMessage(encodeStoredMessage(plain)), plain);
  });

  it('makes content with a malformed pointer invalid', () => {
    const base = attachmentToPointer(attachment);
    const bad = [
      { ...base, mediaKey: new Uint8Array(31) },
      { ...base, plaintextSha256: new Uint8Array(0) },
      { ...base, blobId: '' },
      { ...base, blobId: '../etc' },
      { ...base, thumbnail: new Uint8Array(16 * 1024 + 1) },
    ];
    for (const pointer of bad) {
      assert.throws(
        () => decodeContent(content(pointer)),
        (error: unknown) => ClientError.is(error, 'invalid-content'),
      );
    }
  });

  it('keeps received file names inside the media folder', () => {
    assert.equal(safeFileName('../../etc/passwd'), 'passwd');
    assert.equal(safeFileName('..\\..\\boot.ini'), 'boot.ini');
    assert.equal(safeFileName('.bashrc'), 'bashrc');
    assert.equal(safeFileName('a\u0000b\u001b[31m.txt'), 'ab[31m.txt');
    assert.equal(safeFileName('..'), 'attachment');
    assert.equal(safeFileName(''), 'attachment');
  });
});

describe('file sink', () => {
  it('shows nothing before commit, never overwrites, and leaves nothing on abort', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'quintet-sink-'));
    try {
      writeFileSync(join(dir, 'photo.jpg'), 'existing');
      const sink = await fileSink(dir, 'photo.jpg');
      await sink.write(new TextEncoder().encode('new'));
      assert.deepEqual(
        readdirSync(dir).filter((name) => !name.startsWith('.')),
        ['photo.jpg'],
      );
      await sink.commit();
      assert.equal(sink.path(), join(dir, 'photo (1).jpg'));
      assert.equal(readFileSync(sink.path(), 'utf8'), 'new');
      assert.equal(readFileSync(join(dir, 'photo.jpg'), 'utf8'), 'existing');

      const aborted = await fileSink(dir, 'gone.bin');
      await aborted.write(new Uint8Array(10));
      await aborted.abort();
      assert.equal(existsSync(join(dir, 'gone.bin')), false);
      assert.deepEqual(readdirSync(dir).sort(), ['photo (1).jpg', 'photo.jpg']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
