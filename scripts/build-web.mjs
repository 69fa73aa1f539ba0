#!/usr/bin/env node
// Builds the browser app: web/src/main.ts → web/dist/app.js (one minified
// ES module), web/app.css → web/dist/app.css, web/index.html copied as is.
// Prints the gzipped size and fails above the budget, so the bundle cannot
// grow unnoticed. `quintet server --web web/dist` (or startServer's
// `staticDir`) serves the result at `/`.
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const web = join(root, 'web');
const out = join(web, 'dist');
/** Gzipped budget of everything the page loads, bytes. */
const BUDGET = 300 * 1024;

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: join(web, 'src', 'main.ts'), 'app-style': join(web, 'app.css') },
  outdir: out,
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome111', 'firefox115', 'safari16.4'],
  legalComments: 'none',
  logLevel: 'warning',
});
// esbuild names the CSS entry by its key; index.html expects app.css.
copyFileSync(join(out, 'app-style.css'), join(out, 'app.css'));
rmSync(join(out, 'app-style.css'));
copyFileSync(join(web, 'index.html'), join(out, 'index.html'));

let total = 0;
for (const file of ['index.html', 'app.js', 'app.css']) {
  const bytes = readFileSync(join(out, file));
  const gzipped = gzipSync(bytes, { level: 9 }).length;
  total += gzipped;
  console.log(
    `web/dist/${file}: ${(bytes.length / 1024).toFixed(1)} KB, ${(gzipped / 1024).toFixed(1)} KB gzipped`,
  );
}
console.log(`web app: ${(total / 1024).toFixed(1)} KB gzipped (budget ${BUDGET / 1024} KB)`);
if (total > BUDGET) {
  console.error('the web app is over its size budget');
  process.exit(1);
}
