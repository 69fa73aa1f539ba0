import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatBytes, progressBar } from '../../src/cli/progress-bar.js';

function fakeStream(isTTY: boolean): { stream: NodeJS.WriteStream; written: string[] } {
  const written: string[] = [];
  const stream = {
    isTTY,
    write: (text: string) => {
      written.push(text);
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  return { stream, written };
}

describe('progress bar', () => {
  it('draws on a terminal and clears its line at the end', () => {
    const { stream, written } = fakeStream(true);
    const bar = progressBar('sending a.bin', stream);
    bar.update(0, 2048);
    bar.update(2048, 2048);
    bar.finish();
    assert.match(written[0] ?? '', /^\rsending a\.bin \[-{24}\]\s+0% 0 B \/ 2\.0 KiB$/);
    assert.match(written[1] ?? '', /\[#{24}\] 100% 2\.0 KiB \/ 2\.0 KiB$/);
    assert.equal(written.at(-1), '\r\u001b[2K');
  });

  it('writes nothing when the output is not a terminal', () => {
    const { stream, written } = fakeStream(false);
    const bar = progressBar('sending a.bin', stream);
    bar.update(1, 2);
    bar.finish();
    assert.deepEqual(written, []);
  });

  it('formats sizes', () => {
    assert.equal(formatBytes(1023), '1023 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(100 * 1024 * 1024), '100.0 MiB');
    assert.equal(formatBytes(3 * 1024 ** 3), '3.00 GiB');
  });
});
