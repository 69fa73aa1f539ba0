#!/usr/bin/env node
// The protocol core, the client core and the browser crypto backend must run
// unchanged in a browser: this check fails if any of their files imports a
// Node built-in (`node:*` or a bare built-in name) or a module outside the
// allowed set. It follows relative imports, so a pure file cannot reach Node
// code through a helper either.
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, resolve, relative } from 'node:path';

/** Folders (and single files) that must stay pure. */
const PURE_ROOTS = [
  'src/protocol',
  'src/client/core',
  'src/crypto/browser.ts',
  'src/crypto/provider.ts',
  // The SDK's browser build: everything it reaches must run in a page.
  'src/sdk/browser.ts',
];
/** Packages a pure module may import: pure JavaScript, no platform APIs. */
const ALLOWED_PACKAGES = [
  '@noble/curves',
  '@noble/hashes',
  '@noble/post-quantum',
  '@bufbuild/protobuf',
];

const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
const importRe =
  /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s*['"]([^'"]+)['"]/gm;

function listTs(path, out) {
  if (!existsSync(path)) return;
  if (statSync(path).isFile()) {
    if (path.endsWith('.ts')) out.push(path);
    return;
  }
  for (const entry of readdirSync(path)) listTs(join(path, entry), out);
}

function resolveRelative(from, spec) {
  const base = resolve(dirname(from), spec);
  for (const candidate of [
    base.replace(/\.js$/, '.ts'),
    base,
    `${base}.ts`,
    join(base, 'index.ts'),
  ]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return undefined;
}

const queue = [];
for (const root of PURE_ROOTS) listTs(root, queue);
const seen = new Set();
const problems = [];
while (queue.length > 0) {
  const file = resolve(queue.pop());
  if (seen.has(file)) continue;
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  for (const match of text.matchAll(importRe)) {
    const spec = match[1] ?? match[2] ?? match[3];
    if (spec === undefined) continue;
    const where = relative(process.cwd(), file);
    if (spec.startsWith('.')) {
      const target = resolveRelative(file, spec);
      if (target === undefined) problems.push(`${where}: cannot resolve ${spec}`);
      else queue.push(target);
    } else if (builtins.has(spec) || spec.startsWith('node:')) {
      problems.push(`${where}: imports Node built-in ${spec}`);
    } else if (!ALLOWED_PACKAGES.some((p) => spec === p || spec.startsWith(`${p}/`))) {
      problems.push(`${where}: imports package ${spec}, which is not on the pure allow-list`);
    }
  }
  if (
    /(?<![.#\w$])(process|Buffer|require)\s*[.(]/.test(
      text.replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, ''),
    )
  ) {
    problems.push(`${relative(process.cwd(), file)}: uses a Node global (process/Buffer/require)`);
  }
}
if (problems.length > 0) {
  console.error(`purity check failed:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`purity check: ${seen.size} files in the pure layers import nothing Node-only`);
