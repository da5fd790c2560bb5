/**
 * `switchyard user`: add, update, remove and list the users that may log in to a Manager started
 * with `--auth-login` (msl-network's `user` command: same arguments, options and messages).
 * @module
 */
import { Argument, type Command } from 'commander';
import { InvalidArgumentError, RecordNotFoundError } from '../errors.ts';
import { openDatabase, UsersTable } from '../manager/database.ts';
import { pyRepr } from '../wire/msl-format.ts';
import { homePaths } from '../util/home.ts';
import { linePrinter, passwordFromWords, type LinePrinter } from './password.ts';

const USER_ACTIONS = ['insert', 'add', 'remove', 'delete', 'update', 'list'] as const;
type UserAction = (typeof USER_ACTIONS)[number];

interface UserOptions {
  admin: boolean;
  database?: string;
  password?: string[];
}

/**
 * Adds the `user` command to `program`:
 * `switchyard user {insert,add,remove,delete,update,list} [username] [-a] [-d DATABASE] [-p WORDS...]`.
 * Errors (unknown user, duplicate user, missing password, invalid username) are thrown as coded
 * errors, so `main()` prints them to stderr and exits with 1.
 */
export function registerUser(program: Command): void {
  program
    .command('user')
    .summary('Add, update, remove or list the users in a database.')
    .description(
      'Add, update, remove or list the users in a database.\n\n' +
        'A Manager started with --auth-login lets a client or service connect only after it logs in ' +
        'with the name and password of a user in this table:\n\n' +
        '  switchyard start --auth-login',
    )
    .addArgument(new Argument('<action>', 'what to do').choices(USER_ACTIONS))
    .argument('[username]', 'the name of the user')
    .option(
      '-a, --admin',
      'the user is an administrator (run "update" without this flag to take the rights away)',
      false,
    )
    .option('-d, --database <path>', 'the database file (default: manager.sqlite3 in the Switchyard home)')
    .option(
      '-p, --password <words...>',
      'the password (spaces allowed); or the path of a file whose first line is the password, which ' +
        'keeps it out of your shell history (a path that does not exist is taken as the password itself)',
    )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  switchyard user add j.doe --password a good password\n' +
        '  switchyard user add a.smith --password /path/to/password.txt --admin\n' +
        '  switchyard user update j.doe --admin\n' +
        '  switchyard user update a.smith              # no longer an administrator\n' +
        '  switchyard user remove j.doe\n' +
        '  switchyard user list --database /path/to/manager.sqlite3',
    )
    .action((action: UserAction, username: string | undefined, options: UserOptions, command: Command) => {
      runUser(action, username, options, linePrinter(command));
    });
}

function runUser(action: UserAction, username: string | undefined, options: UserOptions, printLine: LinePrinter): void {
  const db = openDatabase(options.database ?? homePaths.database());
  try {
    if (action === 'list') {
      const users = db.users.users();
      if (users.length === 0) {
        printLine('There are no users in the database');
        return;
      }
      const len = (s: string): number => [...s].length;
      const width = Math.max(len('Username'), ...users.map(([name]) => len(name)));
      const ljust = (s: string): string => s + ' '.repeat(Math.max(0, width - len(s)));
      printLine(`Users in ${db.path}\n`);
      printLine(`${ljust('Username')} Administrator`);
      printLine(`${'='.repeat(width)} =============`);
      for (const [name, admin] of users) printLine(`${ljust(name)} ${admin ? 'True' : 'False'}`);
      return;
    }
    if (username === undefined) {
      throw new InvalidArgumentError('username', `You must specify a username to ${action}`);
    }
    const password = passwordFromWords(options.password, 'Reading the password from the file', printLine);
    switch (action) {
      case 'insert':
      case 'add':
        db.users.insert(username, password ?? '', options.admin);
        printLine(`${username} has been ${action}ed`);
        break;
      case 'remove':
      case 'delete':
        if (!db.users.isUserRegistered(username)) {
          // msl-network's message names the action that was typed ("remove" or "delete").
          throw new RecordNotFoundError(
            UsersTable.NAME,
            [username],
            action,
            `Cannot ${action} ${pyRepr(username)}. This user is not in the table.`,
          );
        }
        db.users.delete(username);
        printLine(`${username} has been ${action}d`);
        break;
      case 'update':
        db.users.update(username, { password, isAdmin: options.admin });
        printLine(`Updated ${username}`);
        break;
    }
  } finally {
    db.close();
  }
}
