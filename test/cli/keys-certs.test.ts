import { describe, it, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { freshHomeEachTest } from '../helpers/index.ts';
import { writeFileSync, existsSync, readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { Command } from 'commander';
import { registerKeygen } from '../../src/cli/keygen.ts';
import { registerCertgen } from '../../src/cli/certgen.ts';
import { registerCertdump } from '../../src/cli/certdump.ts';
import { registerDelete, humanSize } from '../../src/cli/delete.ts';
import { certificateText, getFingerprint, loadCertificate, loadKey } from '../../src/transport/certs.ts';
import { InvalidArgumentError, TlsError } from '../../src/errors.ts';

const T = { timeout: 30_000 };
const ROOT = new URL('../..', import.meta.url).pathname;

const tempOf = freshHomeEachTest('switchyard-cli-');
let dir: string;
let home: string;
beforeEach(() => {
  dir = tempOf();
  home = join(dir, 'home');
});

interface Run {
  out: string;
  err: string;
  error: unknown;
}

function program(result: Run): Command {
  const p = new Command('switchyard').exitOverride();
  // before registering: subcommands copy the output configuration when they are created
  p.configureOutput({ writeOut: (s) => (result.out += s), writeErr: (s) => (result.err += s) });
  registerKeygen(p);
  registerCertgen(p);
  registerCertdump(p);
  registerDelete(p);
  return p;
}

/** Runs `switchyard <args>` in-process; the commands print through the program's `writeOut`. */
async function cli(...args: string[]): Promise<Run> {
  const result: Run = { out: '', err: '', error: undefined };
  const p = program(result);
  try {
    await p.parseAsync(['node', 'switchyard', ...args]);
  } catch (err) {
    result.error = err;
  }
  return result;
}

/** Runs the delete command in a child process with `input` on stdin (for the Y/n prompt). */
function deleteWithInput(args: string[], input: string): Promise<{ out: string; code: number | null }> {
  const script =
    "import { Command } from 'commander';" +
    "import { registerDelete } from './src/cli/delete.ts';" +
    "const p = new Command('switchyard'); registerDelete(p);" +
    "await p.parseAsync(['node', 'switchyard', 'delete', ...JSON.parse(process.env.ARGS)]);";
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      env: { ...process.env, SWITCHYARD_HOME: home, ARGS: JSON.stringify(args) },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error('delete child did not finish within 20 s'));
    }, 20_000);
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ out, code });
    });
    child.stdin.end(input);
  });
}

describe('cli keygen', () => {
  it('keygen - defaults to an unencrypted RSA 2048 key in keys/localhost.key', T, async () => {
    const r = await cli('keygen');
    const path = join(home, 'keys', 'localhost.key');
    assert.equal(r.out, `Created private RSA key '${path}'\n`);
    const key = loadKey(path);
    assert.equal(key.asymmetricKeyType, 'rsa');
    assert.equal(key.asymmetricKeyDetails?.modulusLength, 2048);
  });

  it('keygen - ecc with a curve, an output file and a password of several words', T, async () => {
    const out = join(dir, 'k', 'server.key');
    const r = await cli('keygen', 'ecc', '-c', 'secp256r1', '-o', out, '-p', 'what', 'ever', 'you', 'want');
    assert.equal(r.out, `Created private ECC key '${out}'\n`);
    assert.doesNotMatch(r.out, /what ever/);
    assert.equal(loadKey(out, 'what ever you want').asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.throws(() => loadKey(out), TlsError);
  });

  it('keygen - dsa with --size and a password file', T, async () => {
    const pw = join(dir, 'pw.txt');
    writeFileSync(pw, 'from file\n');
    const out = join(dir, 'd.key');
    const r = await cli('keygen', 'dsa', '--size', '1024', '--out', out, '--password', pw);
    assert.equal(r.out, `Reading the key password from the file\nCreated private DSA key '${out}'\n`);
    assert.equal(loadKey(out, 'from file').asymmetricKeyDetails?.modulusLength, 1024);
  });

  it('keygen - bad size or curve fail with coded errors', T, async () => {
    for (const size of ['0', '-5', 'abc', '1.5']) {
      const r = await cli('keygen', '-s', size, '-o', join(dir, 'x.key'));
      assert.ok(r.error instanceof InvalidArgumentError, size);
      assert.equal(r.error.message, 'The --size value must be a positive integer');
    }
    const r = await cli('keygen', 'ecc', '-c', 'bogus', '-o', join(dir, 'x.key'));
    assert.ok(r.error instanceof InvalidArgumentError);
    assert.match(r.error.message, /^Invalid curve name 'BOGUS'\. Allowed curves are\n/);
    assert.equal(existsSync(join(dir, 'x.key')), false);
  });
});

describe('cli certgen and certdump', () => {
  it('certgen - defaults: creates the default key too, writes certs/localhost.crt, valid 100 years', T, async () => {
    const r = await cli('certgen');
    const path = join(home, 'certs', 'localhost.crt');
    assert.equal(r.out, `Created the self-signed certificate '${path}'\n`);
    const cert = loadCertificate(path);
    assert.ok(cert.checkPrivateKey(loadKey(join(home, 'keys', 'localhost.key'))));
    assert.equal(new Date(cert.validTo).getUTCFullYear() - new Date(cert.validFrom).getUTCFullYear(), 100);
  });

  it('certgen - --key-file, --key-file-password, --algorithm, --years-valid and --show', T, async () => {
    const key = join(dir, 'k.key');
    await cli('keygen', 'ecc', '-o', key, '-p', 'secret');
    const out = join(dir, 'c.crt');
    const r = await cli('certgen', out, '-k', key, '-p', 'secret', '-a', 'sha512', '-y', '0.5', '--show');
    const text = certificateText(out);
    assert.equal(r.out, `Created the self-signed certificate '${out}'\n\n${text}\n`);
    assert.match(text, /Signature Algorithm: ecdsa-with-SHA512\n/);
    const cert = loadCertificate(out);
    assert.equal((Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000, 182);
  });

  it('certgen - bad --years-valid, wrong key password and unknown hash are errors', T, async () => {
    for (const y of ['0', '-1', 'x', 'inf']) {
      const r = await cli('certgen', join(dir, 'c.crt'), '-y', y);
      assert.ok(r.error instanceof InvalidArgumentError, y);
      assert.equal(r.error.message, 'The --years-valid value must be a positive number');
    }
    const key = join(dir, 'k.key');
    await cli('keygen', 'ecc', '-o', key, '-p', 'secret');
    const wrong = await cli('certgen', join(dir, 'c.crt'), '-k', key, '-p', 'nope');
    assert.ok(wrong.error instanceof TlsError);
    assert.equal(wrong.error.message, `Cannot load the private key in ${key}: the password is wrong`);
    const hash = await cli('certgen', join(dir, 'c.crt'), '-k', key, '-p', 'secret', '-a', 'crc32');
    assert.ok(hash.error instanceof InvalidArgumentError);
    assert.equal(existsSync(join(dir, 'c.crt')), false);
  });

  it('certdump - prints the details, or writes them to --out with a header line', T, async () => {
    await cli('certgen');
    const cert = join(home, 'certs', 'localhost.crt');
    const text = certificateText(cert);
    assert.equal((await cli('certdump', cert)).out, `${text}\n`);
    assert.match(text, new RegExp(`Fingerprint \\(SHA1\\): ${getFingerprint(cert)}\n`));
    const out = join(dir, 'dump', 'details.txt');
    assert.equal((await cli('certdump', cert, '-o', out)).out, `Dumped the certificate details to ${out}\n`);
    assert.equal(readFileSync(out, 'utf8'), `Certificate details for ${cert}\n${text}`);
    const missing = await cli('certdump', join(dir, 'nope.crt'));
    assert.ok(missing.error instanceof TlsError);
    assert.equal(missing.error.message, `Cannot find ${join(dir, 'nope.crt')}`);
  });
});

describe('cli delete', () => {
  function populate(): void {
    mkdirSync(join(home, 'certs', 'sub'), { recursive: true });
    mkdirSync(join(home, 'keys'), { recursive: true });
    mkdirSync(join(home, 'logs'), { recursive: true });
    writeFileSync(join(home, 'manager.sqlite3'), 'x'.repeat(1500));
    writeFileSync(join(home, 'manager.sqlite3-wal'), 'x'.repeat(1000));
    writeFileSync(join(home, 'certs', 'a.crt'), 'x'.repeat(10));
    writeFileSync(join(home, 'certs', 'sub', 'b.crt'), 'x'.repeat(20));
    writeFileSync(join(home, 'certs', 'notes.txt'), 'keep');
    writeFileSync(join(home, 'keys', 'a.key'), 'k');
  }

  it('delete - human sizes round like Python', T, () => {
    assert.equal(humanSize(999), '999 B');
    assert.equal(humanSize(2500), '2 kB');
    assert.equal(humanSize(3500), '4 kB');
    assert.equal(humanSize(1_500_000), '2 MB');
    assert.equal(humanSize(7e9), '7 GB');
  });

  it('delete - --all --yes deletes every group and reports each file', T, async () => {
    populate();
    const r = await cli('delete', '--all', '--yes');
    const db = join(home, 'manager.sqlite3');
    assert.equal(
      r.out,
      '\nThe following database will be deleted:\n' +
        `  ${db} [2 kB]\n` +
        `[Deleted] ${db}\n` +
        `[Deleted] ${db}-wal\n` +
        '\nSearching for certificates ... \n' +
        '  2 certificate(s) will be deleted [30 B]\n' +
        `[Deleted] ${join(home, 'certs', 'a.crt')}\n` +
        `[Deleted] ${join(home, 'certs', 'sub', 'b.crt')}\n` +
        '\nSearching for keys ... \n' +
        '  1 key(s) will be deleted [1 B]\n' +
        `[Deleted] ${join(home, 'keys', 'a.key')}\n` +
        '\nSearching for log files ... no log files found\n',
    );
    assert.equal(existsSync(db), false);
    assert.equal(existsSync(join(home, 'certs', 'notes.txt')), true);
  });

  it('delete - nothing selected is an error; a missing root is reported; --quiet prints nothing', T, async () => {
    const none = await cli('delete');
    assert.ok(none.error instanceof InvalidArgumentError);
    assert.equal(none.error.message, 'You must specify what you want to delete, for example\n  switchyard delete --keys');
    const missing = join(dir, 'nowhere');
    assert.equal((await cli('delete', '-k', '-r', missing)).out, `The '${missing}' directory does not exist\n`);
    populate();
    assert.equal((await cli('delete', '-k', '-c', '-q', '-y')).out, '');
    assert.equal(existsSync(join(home, 'keys', 'a.key')), false);
    assert.equal((await cli('delete', '-d', '-l', '-y')).out.startsWith('\nThe following database will be deleted:'), true);
    assert.equal((await cli('delete', '--database', '--yes')).out, 'No database file found\n');
  });

  it('delete - the Y/n prompt: "n" keeps the files, an empty answer deletes them', { timeout: 60_000 }, async () => {
    populate();
    const no = await deleteWithInput(['--keys'], 'n\n');
    assert.equal(no.code, 0);
    assert.equal(no.out, '\nSearching for keys ... \n  1 key(s) will be deleted [1 B]\nProceed (Y/n)? Okay, not deleting\n');
    assert.equal(existsSync(join(home, 'keys', 'a.key')), true);
    const yes = await deleteWithInput(['--keys', '--certs'], '\nno\n');
    assert.equal(yes.code, 0);
    // certificates are asked about before keys
    assert.equal(existsSync(join(home, 'certs', 'a.crt')), false, 'certificates were accepted with an empty answer');
    assert.equal(existsSync(join(home, 'keys', 'a.key')), true, 'keys were declined');
    // the end of stdin declines
    const eof = await deleteWithInput(['--database'], '');
    assert.match(eof.out, /Proceed \(Y\/n\)\? \nOkay, not deleting\n$/);
    assert.equal(existsSync(join(home, 'manager.sqlite3')), true);
  });
});
