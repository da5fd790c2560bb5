/**
 * `switchyard delete`: delete the files Switchyard creates (database, certificates, keys, logs),
 * asking first unless `--yes` (msl-network's `delete` command: same options and messages).
 * @module
 */
import type { Command } from 'commander';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { InvalidArgumentError } from '../errors.ts';
import { pyRepr } from '../wire/msl-format.ts';
import { switchyardHome } from '../util/home.ts';

interface DeleteOptions {
  all: boolean;
  certs: boolean;
  database: boolean;
  keys: boolean;
  logs: boolean;
  root?: string;
  quiet: boolean;
  yes: boolean;
}

/** Python's `round()`: halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** A file size as msl-network prints it: `512 B`, `12 kB`, `3 MB`, `1 GB` (decimal units). */
export function humanSize(bytes: number): string {
  if (bytes < 1e3) return `${bytes} B`;
  if (bytes < 1e6) return `${roundHalfEven(bytes / 1e3)} kB`;
  if (bytes < 1e9) return `${roundHalfEven(bytes / 1e6)} MB`;
  return `${roundHalfEven(bytes / 1e9)} GB`;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Every file under `dir` (recursively) whose name ends with `extension`, sorted; missing dir → none. */
function search(dir: string, extension: string): { files: string[]; size: number } {
  const files: string[] = [];
  let size = 0;
  const walk = (d: string): void => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(extension) && isFile(p)) {
        files.push(p);
        size += statSync(p).size;
      }
    }
  };
  walk(dir);
  return { files, size };
}

/**
 * Adds the `delete` command to `program`:
 * `switchyard delete [-a] [-c] [-d] [-k] [-l] [-r ROOT] [-q] [-y]`.
 * Each group asks `Proceed (Y/n)? ` on stdin unless `--yes`; an empty answer, `y` or `yes` proceeds,
 * anything else (or the end of stdin) keeps the files. The database's `-wal` and `-shm` files go with it.
 * @throws {InvalidArgumentError} nothing to delete was selected.
 */
export function registerDelete(program: Command): void {
  program
    .command('delete')
    .summary('Delete files that Switchyard creates.')
    .description('Delete files that Switchyard creates: the database, log files, certificates and/or keys.')
    .option('-a, --all', 'delete every file that Switchyard creates', false)
    .option('-c, --certs', 'delete all certificates (*.crt under certs/)', false)
    .option('-d, --database', 'delete the database (manager.sqlite3)', false)
    .option('-k, --keys', 'delete all keys (*.key under keys/)', false)
    .option('-l, --logs', 'delete all log files (*.log under logs/)', false)
    .option('-r, --root <dir>', 'the directory that holds the database and folders (default: the Switchyard home)')
    .option('-q, --quiet', 'print nothing but the confirmation prompt', false)
    .option('-y, --yes', 'do not ask before deleting', false)
    .addHelpText(
      'after',
      '\nExamples:\n' + '  switchyard delete --all\n' + '  switchyard delete --logs --yes',
    )
    .action(async (options: DeleteOptions, command: Command) => {
      const writeOut = command.configureOutput().writeOut;
      await runDelete(options, writeOut ?? ((text: string) => void process.stdout.write(text)));
    });
}

async function runDelete(options: DeleteOptions, write: (text: string) => void): Promise<void> {
  const say = (message: string, end = '\n'): void => {
    if (!options.quiet) write(message + end);
  };
  if (!(options.all || options.certs || options.database || options.keys || options.logs)) {
    throw new InvalidArgumentError(
      'what',
      'You must specify what you want to delete, for example\n  switchyard delete --keys',
    );
  }
  const root = options.root ?? switchyardHome();
  let rootIsDir = false;
  try {
    rootIsDir = statSync(root).isDirectory();
  } catch {
    rootIsDir = false;
  }
  if (!rootIsDir) {
    say(`The ${pyRepr(root)} directory does not exist`);
    return;
  }

  let rl: Interface | undefined;
  let lines: AsyncIterator<string> | undefined;
  const proceed = async (): Promise<boolean> => {
    if (options.yes) return true;
    write('Proceed (Y/n)? ');
    rl ??= createInterface({ input: process.stdin, terminal: false });
    lines ??= rl[Symbol.asyncIterator]();
    const next = await lines.next();
    const answer = next.done === true ? undefined : next.value.trim().toLowerCase();
    if (next.done === true) write('\n');
    if (answer !== undefined && (answer === '' || answer === 'y' || answer === 'yes')) return true;
    say('Okay, not deleting');
    return false;
  };
  const remove = (path: string): void => {
    try {
      rmSync(path);
      say(`[Deleted] ${path}`);
    } catch (err) {
      say(`[OSError] ${(err as Error).message} -- Cannot delete ${path}`);
    }
  };

  try {
    if (options.all || options.database) {
      const database = join(root, 'manager.sqlite3');
      if (isFile(database)) {
        const companions = [`${database}-wal`, `${database}-shm`].filter(isFile);
        const size = [database, ...companions].reduce((sum, f) => sum + statSync(f).size, 0);
        say('\nThe following database will be deleted:');
        say(`  ${database} [${humanSize(size)}]`);
        if (await proceed()) for (const f of [database, ...companions]) remove(f);
      } else {
        say('No database file found');
      }
    }
    const groups: Array<[boolean, string, string, string, string]> = [
      [options.certs, 'certs', '.crt', 'certificates', 'certificate(s)'],
      [options.keys, 'keys', '.key', 'keys', 'key(s)'],
      [options.logs, 'logs', '.log', 'log files', 'log file(s)'],
    ];
    for (const [selected, folder, extension, plural, counted] of groups) {
      if (!(options.all || selected)) continue;
      say(`\nSearching for ${plural} ... `, '');
      const { files, size } = search(join(root, folder), extension);
      if (files.length === 0) {
        say(`no ${plural} found`);
        continue;
      }
      say(`\n  ${files.length} ${counted} will be deleted [${humanSize(size)}]`);
      if (await proceed()) for (const f of files) remove(f);
    }
  } finally {
    rl?.close();
  }
}
