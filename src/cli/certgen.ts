/**
 * `switchyard certgen`: generate a self-signed certificate (msl-network's `certgen` command: same
 * arguments, options, defaults and messages; like `openssl req -x509 -key k.pem -new`).
 * @module
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from '../errors.ts';
import { pyRepr } from '../wire/msl-format.ts';
import { certificateText, generateCertificate } from '../transport/certs.ts';
import { linePrinter, passwordFromWords } from './password.ts';

interface CertgenOptions {
  algorithm: string;
  keyFile?: string;
  keyFilePassword?: string[];
  yearsValid: string;
  show: boolean;
}

/** Python's `float()` of an option value, or undefined when it is not a finite number. */
function finiteNumber(text: string): number | undefined {
  const t = text.trim().replace(/_/g, '');
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(t)) return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * Adds the `certgen` command to `program`:
 * `switchyard certgen [out] [-a HASH] [-k KEYFILE] [-p WORDS...] [-y YEARS] [--show]`.
 * Defaults: SHA256, `keys/localhost.key` (generated as RSA 2048 when missing), 100 years,
 * `certs/localhost.crt`. Prints `Created the self-signed certificate '<path>'`, then with `--show`
 * a blank line and the certificate's details.
 */
export function registerCertgen(program: Command): void {
  program
    .command('certgen')
    .summary('Generate a self-signed PEM certificate.')
    .description(
      "Generate a self-signed PEM certificate. This computer's hostname is the Common Name, and the " +
        'subject alternative names cover the hostname, localhost, 127.0.0.1 and every local IPv4 address.\n\n' +
        'Similar to: openssl req -x509 -new -key private.key -days 36500 -out certificate.crt',
    )
    .argument('[out]', 'where to write the certificate (default: certs/localhost.crt in the Switchyard home)')
    .option('-a, --algorithm <hash>', 'the hash algorithm of the signature', 'SHA256')
    .option('-k, --key-file <path>', 'the private key that signs (default: keys/localhost.key, created when missing)')
    .option(
      '-p, --key-file-password <words...>',
      'the password of an encrypted --key-file (spaces allowed); or the path of a file whose first line ' +
        'is the password (a path that does not exist is taken as the password itself)',
    )
    .option('-y, --years-valid <years>', 'years of validity; fractions allowed (0.25 is three months)', '100')
    .option('--show', 'print the details of the new certificate', false)
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  switchyard certgen                                   # default key and file\n' +
        '  switchyard certgen --key-file server.key server.crt\n' +
        '  switchyard certgen -y 0.5 --show\n\n' +
        'See also: switchyard keygen, switchyard certdump',
    )
    .action(async (out: string | undefined, options: CertgenOptions, command: Command) => {
      const printLine = linePrinter(command);
      const years = finiteNumber(options.yearsValid);
      if (years === undefined || years <= 0) {
        throw new InvalidArgumentError('years-valid', 'The --years-valid value must be a positive number');
      }
      const keyPassword = passwordFromWords(options.keyFilePassword, 'Reading the key password from the file', printLine);
      const path = await generateCertificate({
        out,
        keyFile: options.keyFile,
        keyPassword,
        algorithm: options.algorithm,
        yearsValid: years,
      });
      printLine(`Created the self-signed certificate ${pyRepr(path)}`);
      if (options.show) {
        printLine('');
        printLine(certificateText(path));
      }
    });
}
