#!/usr/bin/env node
// Builds the SDK's browser bundle: src/sdk/browser.ts → one ES module with
// its dependencies inlined (dist/browser/quintet-client.js by default, or
// the path given), for pages that load it without a bundler of their own
// (`import { QuintetDevice } from './quintet-client.js'`). The package's
// `quintet/client/browser` export points bundlers at it.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(process.argv[2] ?? join(root, 'dist', 'browser', 'quintet-client.js'));

await build({
  entryPoints: [join(root, 'src', 'sdk', 'browser.ts')],
  outfile: out,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome111', 'firefox115', 'safari16.4'],
  legalComments: 'none',
  logLevel: 'warning',
});
console.log(`SDK browser bundle: ${out}`);
