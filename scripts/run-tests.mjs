#!/usr/bin/env node
// Runs every `*.test.ts` under the given folders (default: test/, without the
// browser suite) in one `node --test` process tree, so the runner prints one
// summary. TypeScript is loaded through tsx.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';

const args = process.argv.slice(2);
const roots = args.length > 0 ? args : ['test'];
const excluded = args.length > 0 ? [] : [join('test', 'browser')];

function collect(dir, out) {
  if (excluded.includes(dir)) return;
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) collect(path, out);
    else if (entry.endsWith('.test.ts')) out.push(path);
  }
}

const files = [];
for (const root of roots) {
  if (statSync(root).isFile()) files.push(root);
  else collect(root, files);
}
if (files.length === 0) {
  console.error(`no test files under ${roots.join(', ')}`);
  process.exit(1);
}
const timeoutMs = Number(process.env.QUINTET_TEST_TIMEOUT_MS ?? 600_000);
if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) {
  console.error(`QUINTET_TEST_TIMEOUT_MS must be a positive integer (ms), got ${timeoutMs}`);
  process.exit(1);
}

/**
 * Tracked files that differ from HEAD, each with the hash of its content
 * (so a file already modified before the run and modified again is caught),
 * or undefined outside a git checkout.
 */
function modifiedTrackedFiles() {
  const status = spawnSync('git', ['status', '--porcelain', '--untracked-files=no', '-z'], {
    encoding: 'utf8',
  });
  if (status.error !== undefined || status.status !== 0) return undefined;
  const out = new Map();
  for (const entry of status.stdout.split('\0')) {
    if (entry.trim() === '') continue;
    const path = entry.slice(3);
    const hash = spawnSync('git', ['hash-object', '--', path], { encoding: 'utf8' });
    out.set(path, `${entry.slice(0, 2)} ${hash.status === 0 ? hash.stdout.trim() : 'gone'}`);
  }
  return out;
}

const before = modifiedTrackedFiles();
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', `--test-timeout=${timeoutMs}`, ...files],
  // One id per run: test files build shared outputs (web/dist) once per run.
  { stdio: 'inherit', env: { ...process.env, QUINTET_TEST_RUN_ID: randomUUID() } },
);
let status = result.status ?? 1;
const after = modifiedTrackedFiles();
if (before === undefined || after === undefined) {
  console.error('# not a git checkout: skipped the check that tests leave tracked files alone');
} else {
  // Files already modified before the run (work in progress) are not the
  // tests' doing unless their content changed during it.
  // `npm run docs:screenshot` regenerates the README image on purpose.
  const intended =
    process.env.QUINTET_UPDATE_SCREENSHOT === '1' ? ['docs/images/browser-companion.png'] : [];
  const touched = [...after].filter(
    ([path, state]) => before.get(path) !== state && !intended.includes(path),
  );
  if (touched.length > 0) {
    console.error(`# tests modified tracked files (write under os.tmpdir() or test-artifacts/):`);
    for (const [path] of touched) console.error(`#   ${path}`);
    status = status === 0 ? 1 : status;
  }
}
process.exit(status);
