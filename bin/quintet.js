#!/usr/bin/env node
// The `quintet` command. The TypeScript sources are compiled to dist/ by
// `npm install` (the `prepare` script); this stub only loads the result:
// the bundle (dist/cli-bundle, scripts/build-cli.mjs), which starts faster,
// unless tsc's output in dist/cli is newer — after a bare `tsc` build the
// bundle would run stale code.
// Whatever else goes wrong while the command runs (a port in use, a bad
// data directory) is reported as it is: "npm install" only helps when the
// build or a dependency is missing.
import { statSync } from 'node:fs';

function modified(relative) {
  return statSync(new URL(relative, import.meta.url), { throwIfNoEntry: false })?.mtimeMs;
}

const bundled = modified('../dist/cli-bundle/main.js');
const compiled = modified('../dist/cli/main.js');
const entry =
  bundled !== undefined && (compiled === undefined || bundled >= compiled)
    ? '../dist/cli-bundle/main.js'
    : '../dist/cli/main.js';

import(entry).catch((error) => {
  const message = error instanceof Error ? error.message : String(error);
  const missing =
    error instanceof Error && 'code' in error && error.code === 'ERR_MODULE_NOT_FOUND';
  console.error(
    missing ? `quintet: cannot start (${message}); run "npm install" first` : `quintet: ${message}`,
  );
  process.exit(1);
});
