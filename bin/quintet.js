#!/usr/bin/env node
// The `quintet` command. The TypeScript sources are compiled to dist/ by
// `npm install` (the `prepare` script); this stub only loads the result.
// Whatever else goes wrong while the command runs (a port in use, a bad
// data directory) is reported as it is: "npm install" only helps when the
// build or a dependency is missing.
import('../dist/cli/main.js').catch((error) => {
  const message = error instanceof Error ? error.message : String(error);
  const missing =
    error instanceof Error && 'code' in error && error.code === 'ERR_MODULE_NOT_FOUND';
  console.error(
    missing ? `quintet: cannot start (${message}); run "npm install" first` : `quintet: ${message}`,
  );
  process.exit(1);
});
