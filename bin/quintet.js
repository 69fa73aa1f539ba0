#!/usr/bin/env node
// The `quintet` command. The TypeScript sources are compiled to dist/ by
// `npm install` (the `prepare` script); this stub only loads the result.
import('../dist/cli/main.js').catch((error) => {
  console.error(
    `quintet: cannot start (${error instanceof Error ? error.message : String(error)}); run "npm install" first`,
  );
  process.exit(1);
});
