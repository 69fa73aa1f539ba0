#!/usr/bin/env node
// Runs every `*.test.ts` under the given folders (default: test/, without the
// browser suite) in one `node --test` process tree, so the runner prints one
// summary. TypeScript is loaded through tsx.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

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
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
