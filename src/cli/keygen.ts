/**
 * `switchyard keygen`: generate a private key for signing a certificate (msl-network's `keygen`
 * command: same arguments, options, defaults and messages; like `openssl genpkey`).
 * @module
 */
import { Argument, type Command } from 'commander';
import { InvalidArgumentError } from '../errors.ts';
import { pyRepr } from '../wire/msl-format.ts';
import { generateKey, type KeyAlgorithm } from '../transport/certs.ts';
import { linePrinter, passwordFromWords } from './password.ts';

interface KeygenOptions {
  curve: string;
  password?: string[];
  out?: string;
  size: string;
}

/** Parses a positive integer option value (Python's `int()` accepts surrounding spaces and a `+`). */
function positiveInteger(text: string): number | undefined {
  const t = text.trim().replace(/_/g, '');
  if (!/^\+?\d+$/.test(t)) return undefined;
  const n = Number(t);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/**
 * Adds the `keygen` command to `program`:
 * `switchyard keygen [rsa|dsa|ecc] [-c CURVE] [-p WORDS...] [-o OUT] [-s SIZE]`.
 * Defaults: RSA, 2048 bits, curve SECP384R1 (for ecc), unencrypted, `keys/localhost.key` in the
 * Switchyard home. Prints `Created private RSA key '<path>'`.
 */
export function registerKeygen(program: Command): void {
  program
    .command('keygen')
    .summary('Generate a private key for signing a certificate.')
    .description(
      'Generate a private key for signing a certificate (PEM, OpenSSL traditional format).\n\n' +
        'Similar to: openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out key.pem',
    )
    .addArgument(new Argument('[algorithm]', 'the key algorithm').choices(['rsa', 'dsa', 'ecc']).default('rsa'))
    .option('-c, --curve <name>', 'the elliptic curve, for ecc only', 'SECP384R1')
    .option(
      '-p, --password <words...>',
      'encrypt the key with this password (spaces allowed); or the path of a file whose first line is ' +
        'the password (a path that does not exist is taken as the password itself). Default: unencrypted',
    )
    .option('-o, --out <path>', 'where to write the key (default: keys/localhost.key in the Switchyard home)')
    .option('-s, --size <bits>', 'the key size in bits, for rsa and dsa only', '2048')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  switchyard keygen                                  # RSA 2048, unencrypted, default file\n' +
        '  switchyard keygen ecc --curve SECP256R1 --out server.key\n' +
        '  switchyard keygen dsa --size 3072 --password what ever you want\n\n' +
        'See also: switchyard certgen',
    )
    .action(async (algorithm: KeyAlgorithm, options: KeygenOptions, command: Command) => {
      const printLine = linePrinter(command);
      const size = positiveInteger(options.size);
      if (size === undefined) throw new InvalidArgumentError('size', 'The --size value must be a positive integer');
      const password = passwordFromWords(options.password, 'Reading the key password from the file', printLine);
      const path = await generateKey({ algorithm, size, curve: options.curve, password, out: options.out });
      printLine(`Created private ${algorithm.toUpperCase()} key ${pyRepr(path)}`);
    });
}
