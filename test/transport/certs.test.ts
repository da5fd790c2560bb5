import { describe, it, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { freshHomeEachTest } from '../helpers/index.ts';
import { rmSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import {
  certificateText,
  ensureManagerCertificate,
  generateCertificate,
  generateKey,
  getFingerprint,
  loadCertificate,
  loadKey,
} from '../../src/transport/certs.ts';
import { InvalidArgumentError, TlsError } from '../../src/errors.ts';
import { HOSTNAME, localIPv4Addresses } from '../../src/util/host.ts';

const T = { timeout: 30_000 };

const tempOf = freshHomeEachTest('switchyard-certs-');
let dir: string;
beforeEach(() => {
  dir = tempOf();
});

async function rejects<E extends Error>(p: Promise<unknown>, cls: new (...a: never[]) => E, match: string | RegExp): Promise<E> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof cls, `expected ${cls.name}, got ${String(caught)}`);
  if (typeof match === 'string') assert.equal(caught.message, match);
  else assert.match(caught.message, match);
  return caught;
}

/** The INTEGERs of a DER SEQUENCE of INTEGERs. */
function derIntegers(der: Buffer): bigint[] {
  const readLen = (at: number): [number, number] => {
    const first = der[at] ?? 0;
    if (first < 0x80) return [first, at + 1];
    let len = 0;
    for (let i = 1; i <= (first & 0x7f); i++) len = len * 256 + (der[at + i] ?? 0);
    return [len, at + 1 + (first & 0x7f)];
  };
  const [seqLen, start] = readLen(1);
  const out: bigint[] = [];
  for (let at = start; at < start + seqLen; ) {
    assert.equal(der[at], 0x02);
    const [len, body] = readLen(at + 1);
    out.push(BigInt(`0x${der.subarray(body, body + len).toString('hex')}`));
    at = body + len;
  }
  return out;
}

function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n;
  let b = base % mod;
  for (let e = exp; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % mod;
    b = (b * b) % mod;
  }
  return result;
}

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const hasPyCrypto = spawnSync('python3', ['-c', 'import cryptography']).status === 0;

describe('certs - keys', () => {
  it('keys - default is an unencrypted RSA-2048 PKCS#1 key at keys/localhost.key, mode 0600', T, async () => {
    const path = await generateKey();
    assert.equal(path, join(dir, 'home', 'keys', 'localhost.key'));
    const text = readFileSync(path, 'utf8');
    assert.match(text, /^-----BEGIN RSA PRIVATE KEY-----\n/);
    assert.doesNotMatch(text, /ENCRYPTED/);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const key = loadKey(path);
    assert.equal(key.asymmetricKeyType, 'rsa');
    assert.equal(key.asymmetricKeyDetails?.modulusLength, 2048);
    assert.equal(key.asymmetricKeyDetails?.publicExponent, 65537n);
  });

  it('keys - a password encrypts with AES-256-CBC; loading needs the right password', T, async () => {
    const path = await generateKey({ algorithm: 'ecc', curve: 'secp256r1', password: 'two words', out: join(dir, 'ec.key') });
    const text = readFileSync(path, 'utf8');
    assert.match(text, /^-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,[0-9A-F]{32}\n/);
    assert.equal(loadKey(path, 'two words').asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.throws(() => loadKey(path), TlsError);
    assert.throws(() => loadKey(path), { message: `The private key in ${path} is encrypted; give its password (--key-file-password)` });
    assert.throws(() => loadKey(path, 'wrong'), { message: `Cannot load the private key in ${path}: the password is wrong` });
    assert.throws(() => loadKey(join(dir, 'missing.key')), { code: 'SWITCHYARD_ERR_TLS' });
  });

  it('keys - ecc defaults to SECP384R1; curve names are case-insensitive', T, async () => {
    const a = loadKey(await generateKey({ algorithm: 'ecc', out: join(dir, 'a.key') }));
    assert.equal(a.asymmetricKeyDetails?.namedCurve, 'secp384r1');
    const b = loadKey(await generateKey({ algorithm: 'ECC', curve: 'SECP521R1', out: join(dir, 'b.key') }));
    assert.equal(b.asymmetricKeyDetails?.namedCurve, 'secp521r1');
  });

  it('keys - dsa keys use the traditional DSA PEM form, plain and encrypted', T, async () => {
    const plain = await generateKey({ algorithm: 'dsa', size: 1024, out: join(dir, 'd.key') });
    assert.match(readFileSync(plain, 'utf8'), /^-----BEGIN DSA PRIVATE KEY-----\nM/);
    assert.equal(loadKey(plain).asymmetricKeyDetails?.modulusLength, 1024);
    const enc = await generateKey({ algorithm: 'dsa', size: 1024, password: 'pw', out: join(dir, 'de.key') });
    assert.match(readFileSync(enc, 'utf8'), /^-----BEGIN DSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,/);
    assert.equal(loadKey(enc, 'pw').asymmetricKeyType, 'dsa');
    // SEQUENCE { 0, p, q, g, y, x } with y = g^x mod p, and the public key Node derives is that y
    const der = Buffer.from(readFileSync(plain, 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const ints = derIntegers(der);
    assert.equal(ints.length, 6);
    const [version, p, q, g, y, x] = ints as [bigint, bigint, bigint, bigint, bigint, bigint];
    assert.equal(version, 0n);
    assert.equal(modPow(g, x, p), y);
    assert.ok(x < q);
    const spki = createPublicKey(loadKey(plain)).export({ type: 'spki', format: 'der' });
    assert.ok(spki.toString('hex').includes(y.toString(16)));
  });

  it('keys - bad algorithm, curve or size are InvalidArgumentErrors with msl-network texts', T, async () => {
    await rejects(
      generateKey({ algorithm: 'xyz' as 'rsa', out: join(dir, 'x.key') }),
      InvalidArgumentError,
      'The encryption algorithm must be RSA, DSA or ECC. Got XYZ',
    );
    await rejects(generateKey({ algorithm: 'ecc', curve: 'nope', out: join(dir, 'x.key') }), InvalidArgumentError, /^Invalid curve name 'NOPE'\. Allowed curves are\n.*SECP384R1/);
    await rejects(generateKey({ size: 0, out: join(dir, 'x.key') }), InvalidArgumentError, 'The size must be a positive integer, got 0');
    assert.equal(existsSync(join(dir, 'x.key')), false);
  });
});

describe('certs - certificates', () => {
  it('certs - self-signed certificate: CN, SANs, serial, SHA-256 signature, 100 years', T, async () => {
    const keyFile = await generateKey({ algorithm: 'ecc', curve: 'SECP256R1', out: join(dir, 'k.key') });
    const before = Math.floor(Date.now() / 1000) * 1000;
    const path = await generateCertificate({ keyFile, out: join(dir, 'c.crt'), host: 'labpc.example' });
    const cert = new X509Certificate(readFileSync(path));
    assert.equal(cert.subject, 'O=Switchyard\nCN=labpc.example');
    assert.equal(cert.issuer, cert.subject);
    assert.ok(cert.verify(cert.publicKey), 'self-signature verifies');
    assert.ok(cert.checkPrivateKey(loadKey(keyFile)));
    const ips = [...new Set(['127.0.0.1', ...localIPv4Addresses()])];
    const expected = [`DNS:${HOSTNAME}`, 'DNS:localhost', ...ips.map((ip) => `IP Address:${ip}`), 'DNS:labpc.example'];
    assert.equal(cert.subjectAltName, [...new Set(expected)].join(', '));
    const from = Date.parse(cert.validFrom);
    const to = new Date(cert.validTo);
    assert.ok(from >= before && from <= Date.now());
    assert.equal(to.getUTCFullYear(), new Date(from).getUTCFullYear() + 100);
    assert.match(cert.serialNumber, /^[4-7][0-9A-F]{39}$/);
    assert.match(certificateText(cert), /Signature Algorithm: ecdsa-with-SHA256/);
  });

  it('certs - fractional years add floor(fraction × 365) days', T, async () => {
    const keyFile = await generateKey({ algorithm: 'ecc', curve: 'SECP256R1', out: join(dir, 'k.key') });
    const cert = loadCertificate(await generateCertificate({ keyFile, out: join(dir, 'c.crt'), yearsValid: 0.25 }));
    const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000;
    assert.equal(days, 91);
    const two = loadCertificate(await generateCertificate({ keyFile, out: join(dir, 'd.crt'), yearsValid: 2.5 }));
    const from = new Date(two.validFrom);
    const expected = new Date(from);
    expected.setUTCFullYear(from.getUTCFullYear() + 2);
    assert.equal(Date.parse(two.validTo), expected.getTime() + 182 * 86_400_000);
    await rejects(generateCertificate({ keyFile, yearsValid: 0 }), InvalidArgumentError, 'The years valid must be a positive number, got 0');
  });

  it('certs - without keyFile the default key is created (RSA) and the default path is used', T, async () => {
    const path = await generateCertificate({ algorithm: 'sha384' });
    assert.equal(path, join(dir, 'home', 'certs', 'localhost.crt'));
    const key = loadKey(join(dir, 'home', 'keys', 'localhost.key'));
    assert.equal(key.asymmetricKeyType, 'rsa');
    const cert = loadCertificate(path);
    assert.ok(cert.checkPrivateKey(key));
    assert.match(certificateText(cert), /Signature Algorithm: sha384WithRSAEncryption/);
  });

  it('certs - every supported key type signs; unsupported pairs fail with TlsError naming them', T, async () => {
    const rsa = await generateKey({ algorithm: 'rsa', size: 1024, out: join(dir, 'r.key') });
    const dsa = await generateKey({ algorithm: 'dsa', size: 1024, out: join(dir, 'd.key') });
    const ec = await generateKey({ algorithm: 'ecc', curve: 'SECP256K1', out: join(dir, 'e.key') });
    const ed = join(dir, 'ed.key');
    writeFileSync(ed, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
    for (const [keyFile, algorithm, name] of [
      [rsa, 'SHA3_256', 'RSA-SHA3-256'],
      [rsa, 'md5', 'md5WithRSAEncryption'],
      [dsa, 'SHA256', 'dsa_with_SHA256'],
      [dsa, 'sha1', 'dsaWithSHA1'],
      [ec, 'SHA512', 'ecdsa-with-SHA512'],
      [ed, 'SHA256', 'ED25519'],
    ] as const) {
      const cert = loadCertificate(await generateCertificate({ keyFile, algorithm, out: join(dir, 'x.crt') }));
      assert.ok(cert.verify(cert.publicKey), `${name} verifies`);
      assert.match(certificateText(cert), new RegExp(`    Signature Algorithm: ${name}\n`));
    }
    await rejects(
      generateCertificate({ keyFile: dsa, algorithm: 'SHA3_256', out: join(dir, 'x.crt') }),
      TlsError,
      'Cannot sign a certificate with SHA3_256 and a DSA key; use one of SHA1, SHA224, SHA256',
    );
    await rejects(
      generateCertificate({ keyFile: ec, algorithm: 'md5', out: join(dir, 'x.crt') }),
      TlsError,
      'Cannot sign a certificate with MD5 and an EC key; use one of SHA1, SHA224, SHA256, SHA384, SHA512',
    );
    await rejects(generateCertificate({ keyFile: ec, algorithm: 'whirlpool' }), InvalidArgumentError, /^Invalid hash algorithm 'WHIRLPOOL'\. Allowed algorithms are\n/);
  });

  it('certs - fingerprints are colon-separated lower-case hex of the DER bytes', T, async () => {
    const keyFile = await generateKey({ algorithm: 'ecc', curve: 'SECP256R1', out: join(dir, 'k.key') });
    const path = await generateCertificate({ keyFile, out: join(dir, 'c.crt') });
    const cert = new X509Certificate(readFileSync(path));
    assert.equal(getFingerprint(path), cert.fingerprint.toLowerCase());
    assert.equal(getFingerprint(readFileSync(path, 'utf8'), 'SHA256'), cert.fingerprint256.toLowerCase());
    assert.equal(getFingerprint(cert, 'sha-512'), cert.fingerprint512.toLowerCase());
    assert.equal(getFingerprint(cert.raw, 'sha512'), cert.fingerprint512.toLowerCase());
    assert.match(getFingerprint(cert, 'SHA3_256'), /^([0-9a-f]{2}:){31}[0-9a-f]{2}$/);
    assert.throws(() => getFingerprint(join(dir, 'missing.crt')), TlsError);
    assert.throws(() => loadCertificate('not a certificate at all -----BEGIN'), TlsError);
  });

  it('certs - loadCertificate takes the first certificate of a file that also holds a key', T, async () => {
    const keyFile = await generateKey({ algorithm: 'ecc', curve: 'SECP256R1', out: join(dir, 'k.key') });
    const certFile = await generateCertificate({ keyFile, out: join(dir, 'c.crt') });
    const both = join(dir, 'both.pem');
    writeFileSync(both, readFileSync(keyFile, 'utf8') + readFileSync(certFile, 'utf8'));
    assert.equal(getFingerprint(both), getFingerprint(certFile));
  });

  it('certs - certificateText equals `openssl x509 -text -noout` plus fingerprints', { ...T, skip: hasOpenssl ? false : 'openssl is not installed' }, async () => {
    const rsa = await generateKey({ algorithm: 'rsa', size: 2048, out: join(dir, 'r.key') });
    const dsa = await generateKey({ algorithm: 'dsa', size: 1024, out: join(dir, 'd.key') });
    const ec = await generateKey({ algorithm: 'ecc', out: join(dir, 'e.key') });
    for (const keyFile of [rsa, dsa, ec]) {
      const path = await generateCertificate({ keyFile, out: join(dir, 'x.crt'), host: 'labpc' });
      const openssl = spawnSync('openssl', ['x509', '-in', path, '-noout', '-text'], { encoding: 'utf8' }).stdout;
      const ours = certificateText(path);
      const [body, fingerprints] = ours.split('\nFingerprint (SHA1): ');
      assert.equal(`${body}\n`, openssl);
      assert.equal(fingerprints?.split('\n')[0], getFingerprint(path));
      assert.match(ours, /\nFingerprint \(SHA256\): ([0-9a-f]{2}:){31}[0-9a-f]{2}$/);
    }
  });
});

describe('certs - ensureManagerCertificate', () => {
  it('manager certs - first start creates an EC P-256 key and certificate for the host; later starts reuse them', T, async () => {
    const first = await ensureManagerCertificate({ host: 'localhost' });
    assert.deepEqual(first, {
      certFile: join(dir, 'home', 'certs', 'localhost.crt'),
      keyFile: join(dir, 'home', 'keys', 'localhost.key'),
    });
    const key = loadKey(first.keyFile);
    assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.match(readFileSync(first.keyFile, 'utf8'), /^-----BEGIN EC PRIVATE KEY-----/);
    const fp = getFingerprint(first.certFile);
    assert.match(loadCertificate(first.certFile).subject, /CN=localhost$/);
    const second = await ensureManagerCertificate({ host: 'localhost' });
    assert.deepEqual(second, first);
    assert.equal(getFingerprint(second.certFile), fp);
    const other = await ensureManagerCertificate({ host: 'labpc' });
    assert.equal(other.certFile, join(dir, 'home', 'certs', 'labpc.crt'));
    assert.equal(other.keyFile, join(dir, 'home', 'keys', 'labpc.key'));
  });

  it('manager certs - a missing certificate is recreated from an existing key', T, async () => {
    const first = await ensureManagerCertificate({ host: 'h', keyPassword: 'pw' });
    assert.match(readFileSync(first.keyFile, 'utf8'), /ENCRYPTED/);
    rmSync(first.certFile);
    const again = await ensureManagerCertificate({ host: 'h', keyPassword: 'pw' });
    assert.ok(loadCertificate(again.certFile).checkPrivateKey(loadKey(again.keyFile, 'pw')));
    await rejects(ensureManagerCertificate({ host: 'h' }), TlsError, /is encrypted; give its password/);
    await rejects(ensureManagerCertificate({ host: 'h', keyPassword: 'bad' }), TlsError, /the password is wrong/);
  });

  it('manager certs - keyFile alone makes certs/<host>.crt from it, stable across starts', T, async () => {
    const keyFile = await generateKey({ algorithm: 'rsa', size: 1024, out: join(dir, 'mine.key') });
    const first = await ensureManagerCertificate({ host: 'h', keyFile });
    assert.deepEqual(first, { certFile: join(dir, 'home', 'certs', 'h.crt'), keyFile });
    const fp = getFingerprint(first.certFile);
    const second = await ensureManagerCertificate({ host: 'h', keyFile });
    assert.equal(getFingerprint(second.certFile), fp);
    // a different key replaces the certificate that no longer matches
    const otherKey = await generateKey({ algorithm: 'ecc', curve: 'SECP256R1', out: join(dir, 'other.key') });
    const third = await ensureManagerCertificate({ host: 'h', keyFile: otherKey });
    assert.notEqual(getFingerprint(third.certFile), fp);
    assert.ok(loadCertificate(third.certFile).checkPrivateKey(loadKey(otherKey)));
  });

  it('manager certs - certFile alone must also hold the key', T, async () => {
    const keyFile = await generateKey({ algorithm: 'ecc', curve: 'SECP256R1', out: join(dir, 'k.key') });
    const certFile = await generateCertificate({ keyFile, out: join(dir, 'c.crt') });
    const both = join(dir, 'both.pem');
    writeFileSync(both, readFileSync(certFile, 'utf8') + readFileSync(keyFile, 'utf8'));
    assert.deepEqual(await ensureManagerCertificate({ host: 'h', certFile: both }), { certFile: both, keyFile: both });
    await rejects(ensureManagerCertificate({ host: 'h', certFile }), TlsError, `Cannot load the private key in ${certFile}: it does not hold a PEM private key`);
  });

  it('manager certs - a certificate that does not match the key, or a DSA key, is refused', T, async () => {
    const k1 = await generateKey({ algorithm: 'ecc', curve: 'SECP256R1', out: join(dir, 'k1.key') });
    const k2 = await generateKey({ algorithm: 'ecc', curve: 'SECP256R1', out: join(dir, 'k2.key') });
    const c1 = await generateCertificate({ keyFile: k1, out: join(dir, 'c1.crt') });
    await rejects(ensureManagerCertificate({ host: 'h', certFile: c1, keyFile: k2 }), TlsError, `The certificate ${c1} does not match the private key ${k2}`);
    const dsa = await generateKey({ algorithm: 'dsa', size: 1024, out: join(dir, 'd.key') });
    const err = await rejects(ensureManagerCertificate({ host: 'h', keyFile: dsa }), TlsError, /is a DSA key, which Node\.js TLS cannot serve/);
    assert.equal(err.file, dsa);
  });
});

describe('certs - msl-network interoperability', { skip: hasPyCrypto ? false : 'python3 with the cryptography package is not available' }, () => {
  function py(code: string, args: string[]): string {
    const r = spawnSync('python3', ['-c', code, ...args], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  }

  it('interop - Python cryptography loads our encrypted keys and verifies our certificates', { timeout: 60_000 }, async () => {
    const files: string[] = [];
    for (const [algorithm, extra] of [
      ['rsa', { size: 1024 }],
      ['dsa', { size: 1024 }],
      ['ecc', { curve: 'SECP384R1' }],
    ] as const) {
      const keyFile = await generateKey({ algorithm, ...extra, password: 'pä ss', out: join(dir, `${algorithm}.key`) });
      const certFile = await generateCertificate({ keyFile, keyPassword: 'pä ss', out: join(dir, `${algorithm}.crt`) });
      files.push(keyFile, certFile);
    }
    const out = py(
      [
        'import sys',
        'from cryptography import x509',
        'from cryptography.hazmat.primitives import serialization as s',
        'args = sys.argv[1:]',
        'for k, c in zip(args[0::2], args[1::2]):',
        '    key = s.load_pem_private_key(open(k, "rb").read(), "pä ss".encode())',
        '    cert = x509.load_pem_x509_certificate(open(c, "rb").read())',
        '    cert.verify_directly_issued_by(cert)',
        '    same = cert.public_key().public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo) == key.public_key().public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo)',
        '    print(type(key).__name__.lstrip("_"), same)',
      ].join('\n'),
      files,
    );
    assert.deepEqual(
      out.split('\n').map((l) => l.split(' ')[1]),
      ['True', 'True', 'True'],
    );
  });

  it('interop - we load keys and certificates written by Python cryptography the way msl-network writes them', { timeout: 60_000 }, async () => {
    const keyFile = join(dir, 'py.key');
    const certFile = join(dir, 'py.crt');
    py(
      [
        'import sys, datetime',
        'from cryptography import x509',
        'from cryptography.x509.oid import NameOID',
        'from cryptography.hazmat.primitives import hashes, serialization as s',
        'from cryptography.hazmat.primitives.asymmetric import rsa',
        'key = rsa.generate_private_key(65537, 2048)',
        'open(sys.argv[1], "wb").write(key.private_bytes(s.Encoding.PEM, s.PrivateFormat.TraditionalOpenSSL, s.BestAvailableEncryption(b"secret")))',
        'name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "NZ"), x509.NameAttribute(NameOID.COMMON_NAME, "pyhost"), x509.NameAttribute(NameOID.EMAIL_ADDRESS, "a@b.c")])',
        'now = datetime.datetime.now(datetime.timezone.utc)',
        'cert = x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=365)).add_extension(x509.SubjectAlternativeName([x509.DNSName("pyhost")]), critical=False).sign(key, hashes.SHA256())',
        'open(sys.argv[2], "wb").write(cert.public_bytes(s.Encoding.PEM))',
        'print(cert.fingerprint(hashes.SHA1()).hex())',
      ].join('\n'),
      [keyFile, certFile],
    );
    const key = loadKey(keyFile, 'secret');
    assert.equal(key.asymmetricKeyDetails?.modulusLength, 2048);
    assert.deepEqual(await ensureManagerCertificate({ host: 'pyhost', certFile, keyFile, keyPassword: 'secret' }), { certFile, keyFile });
    const text = certificateText(certFile);
    assert.match(text, /\n {8}Subject: C = NZ, CN = pyhost, emailAddress = a@b\.c\n/);
    assert.match(text, /\n {16}DNS:pyhost\n/);
    // a certificate from Python signs new certificates from its key too
    const ours = await generateCertificate({ keyFile, keyPassword: 'secret', out: join(dir, 'ours.crt') });
    assert.ok(loadCertificate(ours).checkPrivateKey(key));
  });
});
