/** Registers every `switchyard` subcommand on the program. */
import type { Command } from 'commander';
import { registerStart } from './start.ts';
import { registerUser } from './user.ts';
import { registerHostname } from './hostname.ts';
import { registerKeygen } from './keygen.ts';
import { registerCertgen } from './certgen.ts';
import { registerCertdump } from './certdump.ts';
import { registerDelete } from './delete.ts';
import { registerWorker } from './worker.ts';
import { registerVolfile } from './volfile.ts';
import { registerBrick } from './brick.ts';
import { registerMount } from './mount.ts';

/** Adds all subcommands to `program`. */
export function registerCommands(program: Command): void {
  registerStart(program);
  registerUser(program);
  registerHostname(program);
  registerKeygen(program);
  registerCertgen(program);
  registerCertdump(program);
  registerDelete(program);
  registerWorker(program);
  registerVolfile(program);
  registerBrick(program);
  registerMount(program);
}
