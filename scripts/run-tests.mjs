#!/usr/bin/env node
// Runs every `*.test.ts` under the given folders (default: test/, without the
// browser and cluster suites) in `node --test` (two files at a time; soak
// tests alone, after the rest), then lists every suite or test that was
// skipped and why, with the counts of the whole run. TypeScript is loaded through tsx.
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';

const args = process.argv.slice(2);
const roots = args.length > 0 ? args : ['test'];
// The extra suites (README): real Chromium, and real processes of a cluster.
const excluded = args.length > 0 ? [] : [join('test', 'browser'), join('test', 'cluster')];

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
// Soak tests that time a whole workload against the per-file limit run on
// their own after the rest, so their time measures them and not whichever
// end-to-end files share the two cores with them.
const SOLO = new Set(['churn.test.ts']);
const isSolo = (path) => SOLO.has(path.split(/[\\/]/).pop());
const phases = [
  { files: files.filter((f) => !isSolo(f)), concurrency: 2 },
  { files: files.filter(isSolo), concurrency: 1 },
].filter((phase) => phase.files.length > 0);

// A second reporter records what was skipped; the first is node's default.
const skipDir = mkdtempSync(join(tmpdir(), 'quintet-skips-'));
// One id per run: test files build shared outputs (web/dist) once per run.
const runId = randomUUID();
let status = 0;
const skipFiles = [];
for (const [index, phase] of phases.entries()) {
  const skipFile = join(skipDir, `skipped-${index}.jsonl`);
  skipFiles.push(skipFile);
  const result = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--test',
      `--test-concurrency=${phase.concurrency}`,
      `--test-timeout=${timeoutMs}`,
      `--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`,
      '--test-reporter-destination=stdout',
      `--test-reporter=${join(import.meta.dirname, 'skip-reporter.mjs')}`,
      `--test-reporter-destination=${skipFile}`,
      ...phase.files,
    ],
    { stdio: 'inherit', env: { ...process.env, QUINTET_TEST_RUN_ID: runId } },
  );
  if ((result.status ?? 1) !== 0) status = result.status ?? 1;
}

/**
 * Lists what the run skipped, so a reader sees at once what did not run and
 * why, then repeats the counts as the last line (the list would otherwise
 * stand after node's own summary).
 */
function printSkipped(paths) {
  let entries;
  try {
    entries = paths.flatMap((path) =>
      readFileSync(path, 'utf8')
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line)),
    );
  } catch (error) {
    console.error(`# could not read the list of skipped tests: ${error.message}`);
    return;
  }
  const skipped = entries.filter((e) => e.kind === 'skip');
  console.log(skipped.length === 0 ? '# skipped: nothing' : `# skipped (${skipped.length}):`);
  for (const { file, name, reason } of skipped) {
    const where = file === undefined ? '' : `${relative(process.cwd(), file)}: `;
    console.log(`#   ${where}${name}${reason === '' ? '' : ` — ${reason}`}`);
  }
  const counts = entries.filter((e) => e.kind === 'counts');
  if (counts.length > 0) {
    const sum = (key) => counts.reduce((total, c) => total + c[key], 0);
    console.log(
      `tests: ${sum('passed')} passed, ${sum('failed')} failed, ${sum('skipped')} skipped`,
    );
  }
}

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
printSkipped(skipFiles);
rmSync(skipDir, { recursive: true, force: true });
process.exit(status);
