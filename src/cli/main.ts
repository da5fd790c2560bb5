/**
 * The `switchyard` command line: `start`, `user`, `hostname`, `keygen`, `certgen`, `certdump`,
 * `delete`, `worker`. Each command lives in its own file and registers itself here.
 * @module
 */
import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.ts';
import { registerCommands } from './commands.ts';

/** Builds the program (exported for tests, which run commands in-process). */
export function buildProgram(): Command {
  const program = new Command('switchyard')
    .description('Connect distributed programs: broker, remote execution, network hooks.')
    .version(VERSION, '-V, --version')
    .showHelpAfterError()
    .exitOverride();
  registerCommands(program);
  return program;
}

/** Runs the command line. `argv` is `process.argv`-shaped. Sets `process.exitCode` on failure. */
export async function main(argv: string[]): Promise<void> {
  // `switchyard --help | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`switchyard: ${message}\n`);
    process.exitCode = 1;
  }
}
