/**
 * `switchyard hostname`: add, remove and list the trusted hostnames of a Manager started with
 * `--auth-hostname` (msl-network's `hostname` command: same arguments, options and messages).
 * @module
 */
import { Argument, type Command } from 'commander';
import { RecordNotFoundError } from '../errors.ts';
import { HostnamesTable, openDatabase } from '../manager/database.ts';
import { pyRepr } from '../wire/msl-format.ts';
import { homePaths } from '../util/home.ts';
import { linePrinter, type LinePrinter } from './password.ts';

const HOSTNAME_ACTIONS = ['insert', 'add', 'remove', 'delete', 'list'] as const;
type HostnameAction = (typeof HOSTNAME_ACTIONS)[number];

/** `insert` → `Insert` (Python's `str.title()` for one lower-case word). */
function title(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

/**
 * Adds the `hostname` command to `program`:
 * `switchyard hostname {insert,add,remove,delete,list} [names...] [-d DATABASE]`.
 * Removing names that are not in the table removes the others, then throws one
 * {@link RecordNotFoundError} naming every missing one (so the exit status is 1).
 */
export function registerHostname(program: Command): void {
  program
    .command('hostname')
    .summary('Add, remove or list the trusted hostnames in a database.')
    .description(
      'Add, remove or list the trusted hostnames in a database.\n\n' +
        'A Manager started with --auth-hostname accepts connections only from the hosts in this ' +
        'table (the names and addresses of this machine are there from the start):\n\n' +
        '  switchyard start --auth-hostname',
    )
    .addArgument(new Argument('<action>', 'what to do').choices(HOSTNAME_ACTIONS))
    .argument('[names...]', 'the hostnames of trusted devices')
    .option('-d, --database <path>', 'the database file (default: manager.sqlite3 in the Switchyard home)')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  switchyard hostname add labpc\n' +
        '  switchyard hostname add labpc otherpc\n' +
        '  switchyard hostname remove otherpc\n' +
        '  switchyard hostname list --database /path/to/manager.sqlite3',
    )
    .action((action: HostnameAction, names: string[], options: { database?: string }, command: Command) => {
      runHostname(action, names, options.database, linePrinter(command));
    });
}

function runHostname(action: HostnameAction, names: string[], database: string | undefined, printLine: LinePrinter): void {
  const db = openDatabase(database ?? homePaths.database());
  try {
    if (action === 'list') {
      printLine(`Trusted devices in ${db.path}`);
      printLine('\nHostnames:');
      for (const name of db.hostnames.hostnames()) printLine(`  ${name}`);
      return;
    }
    if (action === 'insert' || action === 'add') {
      if (names.length === 0) {
        printLine(`No hostnames were ${action}ed`);
        return;
      }
      for (const name of names) {
        db.hostnames.insert(name);
        printLine(`${title(action)}ed ${name}`);
      }
      return;
    }
    if (names.length === 0) {
      printLine(`No hostnames were ${action}d`);
      return;
    }
    const missing: string[] = [];
    for (const name of names) {
      if (!db.hostnames.has(name)) {
        missing.push(name);
        continue;
      }
      db.hostnames.delete(name);
      printLine(`${title(action)}d ${name}`);
    }
    if (missing.length > 0) {
      throw new RecordNotFoundError(
        HostnamesTable.NAME,
        missing,
        action,
        missing.map((name) => `Cannot ${action} ${pyRepr(name)}. This hostname is not in the table.`).join('\n'),
      );
    }
  } finally {
    db.close();
  }
}
