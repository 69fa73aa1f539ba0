#!/usr/bin/env node
// Bundles the `quintet` command: src/cli/main.ts → dist/cli-bundle/main.js
// plus one chunk per lazily loaded command body (esbuild splitting), with
// the pure-JS dependencies inlined. Node then reads a few large files
// instead of resolving and loading up to 350 small modules, which is most of
// what a short command like `send` spent before doing any work (see
// docs/architecture.md, "CLI startup"). bin/quintet.js runs the bundle when
// it is at least as new as the tsc output in dist/cli, and dist/cli otherwise.
//
// Left out of the bundle: packages with native code or optional native
// add-ons (loaded from node_modules as before), and the server, which
// `quintet server` imports from dist/server (tsc's output): it reads files
// next to its own modules, so it must stay where tsc put it.
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// Same depth under the root as dist/cli, so paths relative to a module
// (`../../web/dist/` in server-command.ts) resolve the same from either.
const out = join(root, 'dist', 'cli-bundle');

/** Keeps `import('../server/main.js')` pointing at tsc's dist/server. */
const serverFromDist = {
  name: 'server-from-dist',
  setup(builder) {
    builder.onResolve({ filter: /^\.\.\/server\/main\.js$/ }, () => ({
      path: '../server/main.js',
      external: true,
    }));
  },
};

rmSync(out, { recursive: true, force: true });
await build({
  entryPoints: { main: join(root, 'src', 'cli', 'main.ts') },
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['better-sqlite3', 'pg', 'pg-native', 'bufferutil', 'utf-8-validate'],
  // Inlined CommonJS packages (ws, commander) call `require` for Node's
  // own modules; an ES module has none unless it makes one.
  banner: {
    js: "import { createRequire as quintetCreateRequire } from 'node:module';\nconst require = quintetCreateRequire(import.meta.url);",
  },
  plugins: [serverFromDist],
  legalComments: 'none',
  logLevel: 'warning',
});
console.log(`CLI bundle: ${out}`);
