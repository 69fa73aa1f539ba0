/**
 * `bin/quintet.js` runs the CLI bundle (dist/cli-bundle, the faster start)
 * when it is at least as new as tsc's output in dist/cli, and dist/cli
 * otherwise: after a bare `tsc` build the bundle would run stale code.
 * Checked on a copy of the stub with two stand-in entry modules that say
 * which one ran.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tempDir } from '../e2e/harness.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'quintet.js');

describe('quintet entry point', () => {
  const dir = tempDir('quintet-bin-');
  const bundle = join(dir.path, 'dist', 'cli-bundle', 'main.js');
  const compiled = join(dir.path, 'dist', 'cli', 'main.js');
  before(() => {
    mkdirSync(join(dir.path, 'bin'));
    mkdirSync(join(dir.path, 'dist', 'cli-bundle'), { recursive: true });
    mkdirSync(join(dir.path, 'dist', 'cli'), { recursive: true });
    copyFileSync(BIN, join(dir.path, 'bin', 'quintet.js'));
    // The stub is an ES module: Node needs the package's "type".
    writeFileSync(join(dir.path, 'package.json'), '{"type":"module"}');
    writeFileSync(bundle, "console.log('bundle');");
    writeFileSync(compiled, "console.log('compiled');");
  });
  after(() => dir.cleanup());

  function run(): string {
    const result = spawnSync(process.execPath, [join(dir.path, 'bin', 'quintet.js')], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(result.status, 0, result.stderr);
    return result.stdout.trim();
  }

  it('runs the bundle when it is newer than the tsc output', () => {
    utimesSync(compiled, 1_000, 1_000);
    utimesSync(bundle, 2_000, 2_000);
    assert.equal(run(), 'bundle');
  });

  it('runs the tsc output when it is newer than the bundle', () => {
    utimesSync(compiled, 3_000, 3_000);
    assert.equal(run(), 'compiled');
  });
});
