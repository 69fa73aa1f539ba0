/**
 * `bin/quintet.js` reports what actually went wrong: "run npm install" only
 * when the build or a dependency is missing, the real error otherwise (here:
 * a port already in use).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureBuilt, tempDir } from '../e2e/harness.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'quintet.js');

describe('quintet startup errors', () => {
  const dir = tempDir('quintet-startup-');
  before(() => ensureBuilt());
  after(() => dir.cleanup());

  it('names the real failure when the server cannot start', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    assert.ok(address !== null && typeof address === 'object');
    try {
      const result = spawnSync(
        process.execPath,
        [BIN, 'server', '--port', String(address.port), '--memory', '--no-web'],
        { encoding: 'utf8', timeout: 30_000 },
      );
      assert.equal(result.status, 1);
      assert.match(result.stderr, /EADDRINUSE|address already in use/);
      assert.doesNotMatch(result.stderr, /npm install/);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('suggests npm install when the build is missing', () => {
    const bin = join(dir.path, 'bin');
    mkdirSync(bin);
    copyFileSync(BIN, join(bin, 'quintet.js'));
    // Outside the package, so Node treats the file by its package.json: none
    // means CommonJS, and the stub is an ES module.
    copyFileSync(
      join(import.meta.dirname, '..', '..', 'package.json'),
      join(dir.path, 'package.json'),
    );
    const result = spawnSync(process.execPath, [join(bin, 'quintet.js'), '--help'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /cannot start .*run "npm install" first/);
  });
});
