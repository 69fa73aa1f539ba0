/**
 * A standalone entry for `quintet server`, usable before (and without) the
 * full CLI: `node --import tsx src/server/bin.ts server --port 0`.
 * Tests spawn it as a child process to kill it for real.
 */
import { Command } from 'commander';
import { addServerCommand } from '../cli/server-command.js';

const program = new Command('quintet-server');
addServerCommand(program);
program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(
    `quintet server: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
