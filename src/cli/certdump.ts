/**
 * `switchyard certdump`: print the details of a PEM certificate (msl-network's `certdump`
 * command; the layout is that of `openssl x509 -in cert.pem -text -noout`, plus fingerprints).
 * @module
 */
import type { Command } from 'commander';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { TlsError } from '../errors.ts';
import { certificateText } from '../transport/certs.ts';
import { linePrinter } from './password.ts';

/**
 * Adds the `certdump` command to `program`: `switchyard certdump CERTFILE [-o OUT]`.
 * Without `--out` the details go to stdout; with it they are written to the file (after a first
 * line `Certificate details for CERTFILE`) and `Dumped the certificate details to OUT` is printed.
 * A missing file throws {@link TlsError} `Cannot find CERTFILE`.
 */
export function registerCertdump(program: Command): void {
  program
    .command('certdump')
    .summary('Print the details of a PEM certificate.')
    .description(
      'Print the details of a PEM certificate: version, serial number, signature algorithm, issuer, ' +
        'validity, subject, public key, extensions, signature and fingerprints.\n\n' +
        'Similar to: openssl x509 -in certificate.crt -text -noout',
    )
    .argument('<certfile>', 'the PEM certificate')
    .option('-o, --out <path>', 'write the details to this file instead of the terminal')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  switchyard certdump ~/.switchyard/certs/localhost.crt\n' +
        '  switchyard certdump server.crt --out details.txt\n\n' +
        'See also: switchyard certgen',
    )
    .action((certfile: string, options: { out?: string }, command: Command) => {
      const printLine = linePrinter(command);
      let isFile = false;
      try {
        isFile = statSync(certfile).isFile();
      } catch {
        isFile = false;
      }
      if (!isFile) throw new TlsError(`Cannot find ${certfile}`, certfile);
      const text = certificateText(certfile);
      if (options.out === undefined) {
        printLine(text);
        return;
      }
      mkdirSync(dirname(options.out), { recursive: true });
      writeFileSync(options.out, `Certificate details for ${certfile}\n${text}`);
      printLine(`Dumped the certificate details to ${options.out}`);
    });
}
