/**
 * Private keys and self-signed certificates for the Manager's TLS (msl-network's
 * `cryptography` module): generate, load, fingerprint and dump them. Pure `node:crypto` and files;
 * the TLS sockets themselves live elsewhere in transport/.
 *
 * Keys are written as PEM in OpenSSL's "traditional" formats, as msl-network writes them
 * (`RSA PRIVATE KEY` = PKCS#1, `EC PRIVATE KEY` = SEC1, `DSA PRIVATE KEY`), encrypted with
 * AES-256-CBC when a password is given, and with file mode 0600.
 *
 * Certificates are built and signed here (a small DER encoder plus `crypto.sign`), so every key
 * type and hash that OpenSSL can sign with works: RSA, EC (any named curve), DSA, Ed25519/Ed448,
 * with SHA-1/224/256/384/512, SHA-512/224, SHA-512/256 (RSA) and SHA3-*.
 *
 * Deliberate difference from msl-network: the Manager's auto-generated default key
 * ({@link ensureManagerCertificate}) is EC P-256, not RSA-2048, because an ECDSA TLS handshake
 * costs the server a small fraction of an RSA-2048 one. `switchyard keygen` still defaults to RSA 2048.
 * @module
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  getHashes,
  randomBytes,
  sign,
  X509Certificate,
  createCipheriv,
  type KeyObject,
} from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname } from 'node:path';
import { domainToASCII } from 'node:url';
import { InvalidArgumentError, TlsError } from '../errors.ts';
import { homePaths } from '../util/home.ts';
import { HOSTNAME, localIPv4Addresses } from '../util/host.ts';

// ---------------------------------------------------------------------------------------------
// DER

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
}

const seq = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items));
const NULL = Buffer.from([0x05, 0x00]);

/** A non-negative INTEGER from big-endian magnitude bytes. */
function derUint(magnitude: Buffer): Buffer {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  let body = magnitude.subarray(i);
  if (body.length === 0) body = Buffer.from([0]);
  if ((body[0] ?? 0) & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  return tlv(0x02, body);
}

function derOid(oid: string): Buffer {
  const parts = oid.split('.').map((p) => BigInt(p));
  const [a = 0n, b = 0n, ...rest] = parts;
  const out: number[] = [];
  for (const arc of [a * 40n + b, ...rest]) {
    const chunk: number[] = [Number(arc & 0x7fn)];
    for (let v = arc >> 7n; v > 0n; v >>= 7n) chunk.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime for 1950–2049, GeneralizedTime otherwise (RFC 5280 §4.1.2.5). */
function derTime(date: Date): Buffer {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  const y = date.getUTCFullYear();
  const rest = `${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}Z`;
  if (y >= 1950 && y < 2050) return tlv(0x17, Buffer.from(`${p(y % 100)}${rest}`, 'ascii'));
  return tlv(0x18, Buffer.from(`${p(y, 4)}${rest}`, 'ascii'));
}

interface Node {
  tag: number;
  /** Content bytes. */
  body: Buffer;
  /** The whole element, header included. */
  raw: Buffer;
}

function readNode(buf: Buffer, offset: number): Node {
  const tag = buf[offset];
  let lenByte = buf[offset + 1];
  if (tag === undefined || lenByte === undefined) throw new RangeError('truncated DER');
  let pos = offset + 2;
  let len = lenByte;
  if (lenByte & 0x80) {
    const count = lenByte & 0x7f;
    if (count === 0 || count > 4) throw new RangeError('unsupported DER length');
    len = 0;
    for (let i = 0; i < count; i++) {
      lenByte = buf[pos++];
      if (lenByte === undefined) throw new RangeError('truncated DER');
      len = len * 256 + lenByte;
    }
  }
  if (pos + len > buf.length) throw new RangeError('truncated DER');
  return { tag, body: buf.subarray(pos, pos + len), raw: buf.subarray(offset, pos + len) };
}

function children(node: Node): Node[] {
  const out: Node[] = [];
  for (let off = 0; off < node.body.length; ) {
    const child = readNode(node.body, off);
    out.push(child);
    off += child.raw.length;
  }
  return out;
}

function child(node: Node, index: number): Node {
  const c = children(node)[index];
  if (c === undefined) throw new RangeError(`DER element has no child ${index}`);
  return c;
}

function decodeOid(body: Buffer): string {
  const arcs: bigint[] = [];
  let v = 0n;
  for (const byte of body) {
    v = (v << 7n) | BigInt(byte & 0x7f);
    if ((byte & 0x80) === 0) {
      arcs.push(v);
      v = 0n;
    }
  }
  const first = arcs.shift() ?? 0n;
  const a = first < 80n ? first / 40n : 2n;
  return [a, first - a * 40n, ...arcs].join('.');
}

function decodeString(node: Node): string {
  switch (node.tag) {
    case 0x1e: {
      // BMPString: UTF-16BE
      const swapped = Buffer.from(node.body);
      swapped.swap16();
      return swapped.toString('utf16le');
    }
    case 0x1c: {
      let s = '';
      for (let i = 0; i + 3 < node.body.length; i += 4) s += String.fromCodePoint(node.body.readUInt32BE(i));
      return s;
    }
    case 0x14:
      return node.body.toString('latin1');
    default:
      return node.body.toString('utf8');
  }
}

function decodeTime(node: Node): Date {
  const s = node.body.toString('ascii');
  const m = node.tag === 0x17 ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?Z$/.exec(s) : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(?:\.\d+)?Z$/.exec(s);
  if (m === null) return new Date(Number.NaN);
  let year = Number(m[1]);
  if (node.tag === 0x17) year += year >= 50 ? 1900 : 2000;
  return new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0)));
}

function pem(label: string, der: Buffer, headers = ''): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${headers}${b64}\n-----END ${label}-----\n`;
}

// ---------------------------------------------------------------------------------------------
// Object identifiers

const OID_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'street',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'title',
  '2.5.4.17': 'postalCode',
  '2.5.4.42': 'GN',
  '1.2.840.113549.1.9.1': 'emailAddress',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.1.1': 'rsaEncryption',
  '1.2.840.113549.1.1.10': 'rsassaPss',
  '1.2.840.10045.2.1': 'id-ecPublicKey',
  '1.2.840.10040.4.1': 'dsaEncryption',
  '1.3.101.112': 'ED25519',
  '1.3.101.113': 'ED448',
  '2.5.29.14': 'X509v3 Subject Key Identifier',
  '2.5.29.15': 'X509v3 Key Usage',
  '2.5.29.17': 'X509v3 Subject Alternative Name',
  '2.5.29.19': 'X509v3 Basic Constraints',
  '2.5.29.35': 'X509v3 Authority Key Identifier',
  '2.5.29.37': 'X509v3 Extended Key Usage',
  '1.3.6.1.5.5.7.3.1': 'TLS Web Server Authentication',
  '1.3.6.1.5.5.7.3.2': 'TLS Web Client Authentication',
};

/** Named curves: OID → [OpenSSL name, NIST name or '', bits]. */
const CURVES: Record<string, [string, string, number]> = {
  '1.2.840.10045.3.1.1': ['prime192v1', 'P-192', 192],
  '1.3.132.0.33': ['secp224r1', 'P-224', 224],
  '1.2.840.10045.3.1.7': ['prime256v1', 'P-256', 256],
  '1.3.132.0.34': ['secp384r1', 'P-384', 384],
  '1.3.132.0.35': ['secp521r1', 'P-521', 521],
  '1.3.132.0.10': ['secp256k1', '', 256],
  '1.3.36.3.3.2.8.1.1.7': ['brainpoolP256r1', '', 256],
  '1.3.36.3.3.2.8.1.1.11': ['brainpoolP384r1', '', 384],
  '1.3.36.3.3.2.8.1.1.13': ['brainpoolP512r1', '', 512],
};

type KeyKind = 'rsa' | 'ec' | 'dsa' | 'ed25519' | 'ed448';

/**
 * Signature algorithms we sign with: hash (msl-style name) → key kind → [OID, OpenSSL name, whether
 * the parameters are NULL]. Only pairs that both OpenSSL 3.0 (Node 20's TLS) and Python's
 * `cryptography` can verify: ECDSA/DSA with SHA-3, DSA with SHA-384/512 and RSA with
 * SHA-512/224 or SHA-512/256 are refused with a {@link TlsError}.
 */
const SIGNATURES: Record<string, Partial<Record<KeyKind, [string, string, boolean]>>> = {
  MD5: { rsa: ['1.2.840.113549.1.1.4', 'md5WithRSAEncryption', true] },
  SHA1: {
    rsa: ['1.2.840.113549.1.1.5', 'sha1WithRSAEncryption', true],
    ec: ['1.2.840.10045.4.1', 'ecdsa-with-SHA1', false],
    dsa: ['1.2.840.10040.4.3', 'dsaWithSHA1', false],
  },
  SHA224: {
    rsa: ['1.2.840.113549.1.1.14', 'sha224WithRSAEncryption', true],
    ec: ['1.2.840.10045.4.3.1', 'ecdsa-with-SHA224', false],
    dsa: ['2.16.840.1.101.3.4.3.1', 'dsa_with_SHA224', false],
  },
  SHA256: {
    rsa: ['1.2.840.113549.1.1.11', 'sha256WithRSAEncryption', true],
    ec: ['1.2.840.10045.4.3.2', 'ecdsa-with-SHA256', false],
    dsa: ['2.16.840.1.101.3.4.3.2', 'dsa_with_SHA256', false],
  },
  SHA384: {
    rsa: ['1.2.840.113549.1.1.12', 'sha384WithRSAEncryption', true],
    ec: ['1.2.840.10045.4.3.3', 'ecdsa-with-SHA384', false],
  },
  SHA512: {
    rsa: ['1.2.840.113549.1.1.13', 'sha512WithRSAEncryption', true],
    ec: ['1.2.840.10045.4.3.4', 'ecdsa-with-SHA512', false],
  },
  SHA3_224: { rsa: ['2.16.840.1.101.3.4.3.13', 'RSA-SHA3-224', true] },
  SHA3_256: { rsa: ['2.16.840.1.101.3.4.3.14', 'RSA-SHA3-256', true] },
  SHA3_384: { rsa: ['2.16.840.1.101.3.4.3.15', 'RSA-SHA3-384', true] },
  SHA3_512: { rsa: ['2.16.840.1.101.3.4.3.16', 'RSA-SHA3-512', true] },
};

/** Names of signature algorithms for the text dump, including some we do not sign with. */
const SIGNATURE_NAMES: Record<string, string> = {
  '1.3.101.112': 'ED25519',
  '1.3.101.113': 'ED448',
  '1.2.840.113549.1.1.10': 'rsassaPss',
  '1.2.840.113549.1.1.15': 'sha512-224WithRSAEncryption',
  '1.2.840.113549.1.1.16': 'sha512-256WithRSAEncryption',
  '2.16.840.1.101.3.4.3.3': 'dsa_with_SHA384',
  '2.16.840.1.101.3.4.3.4': 'dsa_with_SHA512',
  '2.16.840.1.101.3.4.3.9': 'ecdsa_with_SHA3-224',
  '2.16.840.1.101.3.4.3.10': 'ecdsa_with_SHA3-256',
  '2.16.840.1.101.3.4.3.11': 'ecdsa_with_SHA3-384',
  '2.16.840.1.101.3.4.3.12': 'ecdsa_with_SHA3-512',
};
for (const byKind of Object.values(SIGNATURES)) {
  for (const entry of Object.values(byKind)) SIGNATURE_NAMES[entry[0]] = entry[1];
}

/** DSA signature OIDs, whose value OpenSSL prints as r and s. */
const DSA_SIGNATURE = /^(1\.2\.840\.10040\.4\.3|2\.16\.840\.1\.101\.3\.4\.3\.[1-8])$/;

/** msl-network's hash names (cryptography's class names, upper-cased) → Node's digest names. */
const HASHES: Record<string, string> = {
  MD5: 'md5',
  SHA1: 'sha1',
  SHA224: 'sha224',
  SHA256: 'sha256',
  SHA384: 'sha384',
  SHA512: 'sha512',
  SHA512_224: 'sha512-224',
  SHA512_256: 'sha512-256',
  SHA3_224: 'sha3-224',
  SHA3_256: 'sha3-256',
  SHA3_384: 'sha3-384',
  SHA3_512: 'sha3-512',
  BLAKE2B: 'blake2b512',
  BLAKE2S: 'blake2s256',
  SM3: 'sm3',
};

/**
 * Normalises a hash name: msl-network's (`SHA256`, `sha3_256`, `SHA512_224`) or Node's
 * (`sha256`, `sha3-256`, `sha512-224`, `SHA-256`). Returns the msl-style key of {@link HASHES}.
 */
function hashKey(algorithm: string): string {
  let key = algorithm.trim().toUpperCase().replace(/[-/]/g, '_');
  key = key.replace(/^SHA_(\d)/, 'SHA$1');
  if (key === 'BLAKE2B512') key = 'BLAKE2B';
  if (key === 'BLAKE2S256') key = 'BLAKE2S';
  const node = HASHES[key];
  if (node === undefined || !getHashes().includes(node)) {
    const allowed = Object.keys(HASHES).filter((k) => getHashes().includes(HASHES[k] ?? ''));
    throw new InvalidArgumentError(
      'algorithm',
      `Invalid hash algorithm '${key}'. Allowed algorithms are\n${allowed.join(', ')}`,
    );
  }
  return key;
}

/** msl-network's elliptic-curve names (cryptography's) → OpenSSL's names as Node spells them. */
const CURVE_NAMES: Record<string, string> = {
  BRAINPOOLP256R1: 'brainpoolP256r1',
  BRAINPOOLP384R1: 'brainpoolP384r1',
  BRAINPOOLP512R1: 'brainpoolP512r1',
  PRIME192V1: 'prime192v1',
  PRIME256V1: 'prime256v1',
  SECP192R1: 'prime192v1',
  SECP224R1: 'secp224r1',
  SECP256K1: 'secp256k1',
  SECP256R1: 'prime256v1',
  SECP384R1: 'secp384r1',
  SECP521R1: 'secp521r1',
  'P-256': 'prime256v1',
  'P-384': 'secp384r1',
  'P-521': 'secp521r1',
};

// ---------------------------------------------------------------------------------------------
// Keys

/** Key algorithms {@link generateKey} makes (msl-network's names). */
export type KeyAlgorithm = 'rsa' | 'dsa' | 'ecc';

/** Options of {@link generateKey}. */
export interface GenerateKeyOptions {
  /** `rsa` (default), `dsa` or `ecc`; case-insensitive. */
  algorithm?: KeyAlgorithm | Uppercase<KeyAlgorithm> | undefined;
  /** Key size in bits for RSA and DSA. Default 2048. */
  size?: number | undefined;
  /** Curve for ECC, msl-network's names (`SECP384R1`, the default; `SECP256R1`, `SECP521R1`, `BRAINPOOLP256R1`, ...). */
  curve?: string | undefined;
  /** Encrypts the key file (AES-256-CBC) with this password. */
  password?: string | undefined;
  /** Where to write the key. Default `keys/localhost.key` under the Switchyard home. */
  out?: string | undefined;
}

function writePrivate(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text, { mode: 0o600 });
}

/** OpenSSL's EVP_BytesToKey(MD5, 1 iteration): the key of a legacy encrypted PEM block. */
function legacyPemKey(password: string, salt: Buffer, length: number): Buffer {
  const pass = Buffer.from(password, 'utf8');
  const parts: Buffer[] = [];
  let prev = Buffer.alloc(0);
  let size = 0;
  while (size < length) {
    prev = createHash('md5').update(Buffer.concat([prev, pass, salt])).digest();
    parts.push(prev);
    size += prev.length;
  }
  return Buffer.concat(parts).subarray(0, length);
}

/**
 * `-----BEGIN DSA PRIVATE KEY-----` (OpenSSL's traditional DSA form, which Node cannot export):
 * SEQUENCE { 0, p, q, g, y, x }, rebuilt from the PKCS#8 and SPKI encodings.
 */
function traditionalDsaPem(key: KeyObject, password: string | undefined): string {
  const pkcs8 = readNode(key.export({ type: 'pkcs8', format: 'der' }), 0);
  const params = children(child(child(pkcs8, 1), 1));
  const x = readNode(child(pkcs8, 2).body, 0);
  const spki = readNode(createPublicKey(key).export({ type: 'spki', format: 'der' }), 0);
  const y = readNode(child(spki, 1).body.subarray(1), 0);
  const der = seq(tlv(0x02, Buffer.from([0])), ...params.map((p) => p.raw), y.raw, x.raw);
  if (password === undefined) return pem('DSA PRIVATE KEY', der);
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-256-cbc', legacyPemKey(password, iv.subarray(0, 8), 32), iv);
  const encrypted = Buffer.concat([cipher.update(der), cipher.final()]);
  return pem('DSA PRIVATE KEY', encrypted, `Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,${iv.toString('hex').toUpperCase()}\n\n`);
}

/** Serialises a private key as msl-network does (PEM, traditional format, AES-256-CBC when a password is given). */
function privateKeyPem(key: KeyObject, password: string | undefined): string {
  const enc = password === undefined ? {} : { cipher: 'aes-256-cbc', passphrase: password };
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return String(key.export({ type: 'pkcs1', format: 'pem', ...enc }));
    case 'ec':
      return String(key.export({ type: 'sec1', format: 'pem', ...enc }));
    case 'dsa':
      return traditionalDsaPem(key, password);
    default:
      return String(key.export({ type: 'pkcs8', format: 'pem', ...enc }));
  }
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) {
    throw new InvalidArgumentError(name, `The ${name} must be a positive integer, got ${value}`);
  }
  return value;
}

function newKeyPair(type: 'rsa' | 'dsa' | 'ec', options: { modulusLength?: number; namedCurve?: string; publicExponent?: number }): Promise<KeyObject> {
  return new Promise((resolve, reject) => {
    // The overloads of generateKeyPair are per key type; one call site serves all three.
    (generateKeyPair as unknown as (t: string, o: object, cb: (e: Error | null, pub: KeyObject, priv: KeyObject) => void) => void)(
      type,
      options,
      (err, _pub, priv) => (err === null ? resolve(priv) : reject(err)),
    );
  });
}

/**
 * Generates a private key on the libuv thread pool and writes it (mode 0600). Resolves with the path.
 * RSA uses the public exponent 65537.
 * @throws {InvalidArgumentError} (as a rejection) unknown algorithm or curve, or a bad size.
 * @throws {TlsError} (as a rejection) OpenSSL refused the parameters or the file cannot be written.
 * @example
 * await generateKey({ algorithm: 'ecc', curve: 'SECP256R1', out: '/tmp/k.key' });
 */
export async function generateKey(options: GenerateKeyOptions = {}): Promise<string> {
  const algorithm = (options.algorithm ?? 'rsa').toLowerCase();
  const out = options.out ?? homePaths.key('localhost');
  let key: KeyObject;
  try {
    if (algorithm === 'rsa' || algorithm === 'dsa') {
      const size = positiveInt('size', options.size ?? 2048);
      key = await newKeyPair(algorithm, algorithm === 'rsa' ? { modulusLength: size, publicExponent: 65537 } : { modulusLength: size });
    } else if (algorithm === 'ecc') {
      const curveU = (options.curve ?? 'SECP384R1').toUpperCase();
      const curve = CURVE_NAMES[curveU];
      if (curve === undefined) {
        const allowed = Object.keys(CURVE_NAMES).filter((k) => !k.startsWith('P-'));
        throw new InvalidArgumentError('curve', `Invalid curve name '${curveU}'. Allowed curves are\n${allowed.join(', ')}`);
      }
      key = await newKeyPair('ec', { namedCurve: curve });
    } else {
      throw new InvalidArgumentError('algorithm', `The encryption algorithm must be RSA, DSA or ECC. Got ${algorithm.toUpperCase()}`);
    }
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw err;
    throw new TlsError(`Cannot generate a ${algorithm.toUpperCase()} key: ${(err as Error).message}`, out, { cause: err });
  }
  try {
    writePrivate(out, privateKeyPem(key, options.password));
  } catch (err) {
    throw new TlsError(`Cannot write the private key to ${out}: ${(err as Error).message}`, out, { cause: err });
  }
  return out;
}

/**
 * Reads a PEM private key (any format OpenSSL reads: traditional, PKCS#8, encrypted or not).
 * @throws {TlsError} the file is missing, holds no private key, is encrypted and no (or a wrong) password was given.
 */
export function loadKey(file: string, password?: string): KeyObject {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (err) {
    throw new TlsError(`Cannot read the private key file ${file}: ${(err as Error).message}`, file, { cause: err });
  }
  const encrypted = /ENCRYPTED/.test(data.toString('latin1'));
  if (encrypted && password === undefined) {
    throw new TlsError(`The private key in ${file} is encrypted; give its password (--key-file-password)`, file);
  }
  try {
    return createPrivateKey(password === undefined ? { key: data, format: 'pem' } : { key: data, format: 'pem', passphrase: password });
  } catch (err) {
    const why = encrypted ? 'the password is wrong' : 'it does not hold a PEM private key';
    throw new TlsError(`Cannot load the private key in ${file}: ${why}`, file, { cause: err });
  }
}

/** What a certificate argument may be: a path, PEM text, PEM or DER bytes, or a parsed certificate. */
export type CertificateInput = string | Buffer | X509Certificate;

/**
 * Parses a certificate given as a file path, PEM text, PEM/DER bytes or an `X509Certificate`.
 * When a file holds several PEM blocks (a chain, or a certificate and its key), the first
 * certificate is used.
 * @throws {TlsError} the file is missing or holds no certificate.
 */
export function loadCertificate(cert: CertificateInput): X509Certificate {
  if (cert instanceof X509Certificate) return cert;
  let data: Buffer;
  let file: string | undefined;
  if (typeof cert === 'string' && !cert.includes('-----BEGIN')) {
    file = cert;
    try {
      data = readFileSync(cert);
    } catch (err) {
      throw new TlsError(`Cannot read the certificate file ${cert}: ${(err as Error).message}`, cert, { cause: err });
    }
  } else {
    data = typeof cert === 'string' ? Buffer.from(cert, 'utf8') : cert;
  }
  const text = data.toString('latin1');
  const block = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(text);
  try {
    return new X509Certificate(block === null ? data : Buffer.from(block[0], 'latin1'));
  } catch (err) {
    throw new TlsError(`${file ?? 'The data'} does not hold a valid certificate`, file, { cause: err });
  }
}

/**
 * The fingerprint of a certificate as colon-separated lower-case hex, as msl-network prints it
 * (`get_fingerprint`), e.g. `'3f:a2:...'`. `algorithm` takes msl-network's names (`SHA1`, the
 * default; `SHA256`, `SHA3_256`) or Node's (`sha256`, `sha3-256`).
 * @throws {TlsError} no certificate could be read. @throws {InvalidArgumentError} unknown hash.
 */
export function getFingerprint(cert: CertificateInput, algorithm = 'sha1'): string {
  const digest = HASHES[hashKey(algorithm)] ?? 'sha1';
  return colonHex(createHash(digest).update(loadCertificate(cert).raw).digest());
}

function colonHex(bytes: Buffer): string {
  return (bytes.toString('hex').match(/../g) ?? []).join(':');
}

// ---------------------------------------------------------------------------------------------
// Certificates

/** Options of {@link generateCertificate}. */
export interface GenerateCertificateOptions {
  /** The private key that signs (and whose public key is certified). Default `keys/localhost.key`, generated (RSA 2048) when missing. */
  keyFile?: string | undefined;
  /** Password of an encrypted `keyFile`. */
  keyPassword?: string | undefined;
  /** Hash algorithm for the signature, msl-network's names. Default `SHA256`. Ignored for Ed25519/Ed448 keys. */
  algorithm?: string | undefined;
  /** Years of validity; fractions allowed (0.25 is three months). Default 100. */
  yearsValid?: number | undefined;
  /** Where to write the certificate. Default `certs/localhost.crt` under the Switchyard home. */
  out?: string | undefined;
  /** The Common Name, also added to the subject alternative names. Default this machine's hostname. */
  host?: string | undefined;
}

const KIND_LABELS: Record<KeyKind, string> = { rsa: 'an RSA', ec: 'an EC', dsa: 'a DSA', ed25519: 'an Ed25519', ed448: 'an Ed448' };

function keyKind(key: KeyObject): KeyKind {
  const t = key.asymmetricKeyType;
  if (t === 'rsa' || t === 'ec' || t === 'dsa' || t === 'ed25519' || t === 'ed448') return t;
  throw new TlsError(`Cannot sign a certificate with a ${t ?? 'unknown'} key; use an RSA, EC, DSA or Ed25519 key`);
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  let text = ip.split('%')[0] ?? ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1] !== undefined) {
    const b = ipBytes(v4[1]);
    text = text.slice(0, -v4[1].length) + `${b.readUInt16BE(0).toString(16)}:${b.readUInt16BE(2).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** Adds whole years then `floor(fraction × 365)` days, as msl-network does (29 February becomes 28 February). */
function addYears(start: Date, years: number): Date {
  const whole = Math.trunc(years);
  const days = Math.trunc((years - whole) * 365);
  const end = new Date(start.getTime());
  const targetYear = start.getUTCFullYear() + whole;
  end.setUTCFullYear(targetYear);
  if (end.getUTCMonth() !== start.getUTCMonth()) end.setUTCDate(0);
  return new Date(end.getTime() + days * 86_400_000);
}

function subjectAltNames(host: string): Buffer {
  const entries: Buffer[] = [];
  const seen = new Set<string>();
  const add = (name: string): void => {
    const key = name.toLowerCase();
    if (name === '' || seen.has(key)) return;
    seen.add(key);
    if (isIP(name) !== 0) entries.push(tlv(0x87, ipBytes(name)));
    else {
      const ascii = domainToASCII(name) || name;
      entries.push(tlv(0x82, Buffer.from(ascii, 'ascii')));
    }
  };
  for (const name of [HOSTNAME, 'localhost', '127.0.0.1', ...localIPv4Addresses(), host]) add(name);
  return seq(...entries);
}

/**
 * Creates a self-signed certificate for `keyFile`'s key and writes it as PEM. Resolves with the path.
 * Subject = issuer = `O=Switchyard, CN=<host>`; subject alternative names: `DNS:<hostname>`,
 * `DNS:localhost`, `IP:127.0.0.1`, every local IPv4 address, and `host`; a random 159-bit serial;
 * valid from now for `yearsValid` years.
 * @throws {InvalidArgumentError} (as a rejection) unknown hash or a non-positive `yearsValid`.
 * @throws {TlsError} (as a rejection) the key cannot be loaded, the key type cannot sign with that hash, or the file cannot be written.
 * @example
 * await generateCertificate({ keyFile: 'server.key', out: 'server.crt', host: 'labpc' });
 */
export async function generateCertificate(options: GenerateCertificateOptions = {}): Promise<string> {
  const years = options.yearsValid ?? 100;
  if (!Number.isFinite(years) || years <= 0) {
    throw new InvalidArgumentError('yearsValid', `The years valid must be a positive number, got ${years}`);
  }
  const hash = hashKey(options.algorithm ?? 'SHA256');
  let keyFile = options.keyFile;
  if (keyFile === undefined) {
    keyFile = homePaths.key('localhost');
    if (!existsSync(keyFile)) await generateKey({ out: keyFile, password: options.keyPassword });
  }
  const key = loadKey(keyFile, options.keyPassword);
  const out = options.out ?? homePaths.cert('localhost');
  const pem = buildCertificate(key, { hash, years, host: options.host ?? HOSTNAME, keyFile });
  try {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, pem);
  } catch (err) {
    throw new TlsError(`Cannot write the certificate to ${out}: ${(err as Error).message}`, out, { cause: err });
  }
  return out;
}

function buildCertificate(key: KeyObject, o: { hash: string; years: number; host: string; keyFile: string }): string {
  const kind = keyKind(key);
  let algId: Buffer;
  let digest: string | null;
  if (kind === 'ed25519' || kind === 'ed448') {
    algId = seq(derOid(kind === 'ed25519' ? '1.3.101.112' : '1.3.101.113'));
    digest = null;
  } else {
    const entry = SIGNATURES[o.hash]?.[kind];
    if (entry === undefined) {
      const usable = Object.keys(SIGNATURES).filter((h) => SIGNATURES[h]?.[kind] !== undefined);
      throw new TlsError(
        `Cannot sign a certificate with ${o.hash} and ${KIND_LABELS[kind]} key; use one of ${usable.join(', ')}`,
        o.keyFile,
      );
    }
    algId = entry[2] ? seq(derOid(entry[0]), NULL) : seq(derOid(entry[0]));
    digest = HASHES[o.hash] ?? null;
  }
  const name = seq(
    set(seq(derOid('2.5.4.10'), tlv(0x0c, Buffer.from('Switchyard', 'utf8')))),
    set(seq(derOid('2.5.4.3'), tlv(0x0c, Buffer.from(o.host, 'utf8')))),
  );
  const now = new Date(Math.floor(Date.now() / 1000) * 1000);
  const serial = randomBytes(20);
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x40;
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const san = seq(derOid('2.5.29.17'), tlv(0x04, subjectAltNames(o.host)));
  const tbs = seq(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))),
    derUint(serial),
    algId,
    name,
    seq(derTime(now), derTime(addYears(now, o.years))),
    name,
    spki,
    tlv(0xa3, seq(san)),
  );
  let signature: Buffer;
  try {
    signature = sign(digest, tbs, key);
  } catch (err) {
    throw new TlsError(`OpenSSL cannot sign with ${o.hash} and ${KIND_LABELS[kind]} key: ${(err as Error).message}`, o.keyFile, {
      cause: err,
    });
  }
  const der = seq(tbs, algId, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  return pem('CERTIFICATE', der);
}

// ---------------------------------------------------------------------------------------------
// Text dump

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `Jan  2 03:04:05 2025 GMT`, OpenSSL's date format. */
function opensslDate(d: Date): string {
  if (Number.isNaN(d.getTime())) return '(invalid)';
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} ${d.getUTCFullYear()} GMT`;
}

/** Colon hex wrapped at `perLine` bytes, each line indented. */
function hexBlock(bytes: Buffer, indent: number, perLine: number): string[] {
  const pad = ' '.repeat(indent);
  const pairs = bytes.toString('hex').match(/../g) ?? [];
  const lines: string[] = [];
  for (let i = 0; i < pairs.length; i += perLine) {
    const last = i + perLine >= pairs.length;
    lines.push(pad + pairs.slice(i, i + perLine).join(':') + (last ? '' : ':'));
  }
  return lines;
}

function formatName(node: Node): string {
  const parts: string[] = [];
  for (const rdn of children(node)) {
    for (const atv of children(rdn)) {
      const [oid, value] = children(atv);
      if (oid === undefined || value === undefined) continue;
      const id = decodeOid(oid.body);
      parts.push(`${OID_NAMES[id] ?? id} = ${decodeString(value)}`);
    }
  }
  return parts.join(', ');
}

function formatGeneralNames(body: Buffer): string {
  const names: string[] = [];
  for (const gn of children({ tag: 0x30, body, raw: body })) {
    switch (gn.tag & 0x1f) {
      case 1:
        names.push(`email:${gn.body.toString('ascii')}`);
        break;
      case 2:
        names.push(`DNS:${gn.body.toString('ascii')}`);
        break;
      case 6:
        names.push(`URI:${gn.body.toString('ascii')}`);
        break;
      case 7:
        if (gn.body.length === 4) names.push(`IP Address:${[...gn.body].join('.')}`);
        else if (gn.body.length === 16) {
          const groups: string[] = [];
          for (let i = 0; i < 16; i += 2) groups.push(gn.body.readUInt16BE(i).toString(16).toUpperCase());
          names.push(`IP Address:${groups.join(':')}`);
        } else names.push(`IP Address:<invalid>`);
        break;
      default:
        names.push(`othername:<unsupported>`);
    }
  }
  return names.join(', ');
}

const KEY_USAGES = [
  'Digital Signature',
  'Non Repudiation',
  'Key Encipherment',
  'Data Encipherment',
  'Key Agreement',
  'Certificate Sign',
  'CRL Sign',
  'Encipher Only',
  'Decipher Only',
];

function formatExtension(id: string, value: Buffer): string[] {
  const pad = ' '.repeat(16);
  try {
    const node = readNode(value, 0);
    switch (id) {
      case '2.5.29.17':
        return [pad + formatGeneralNames(node.body)];
      case '2.5.29.19': {
        const items = children(node);
        const ca = items[0]?.tag === 0x01 && (items[0].body[0] ?? 0) !== 0;
        const len = items.find((i) => i.tag === 0x02);
        return [pad + `CA:${ca ? 'TRUE' : 'FALSE'}` + (len === undefined ? '' : `, pathlen:${parseInt(len.body.toString('hex') || '0', 16)}`)];
      }
      case '2.5.29.15': {
        const unused = node.body[0] ?? 0;
        const bits = node.body.subarray(1);
        const set: string[] = [];
        KEY_USAGES.forEach((usage, i) => {
          const byte = bits[i >> 3] ?? 0;
          if (byte & (0x80 >> (i & 7)) && !(i >> 3 === bits.length - 1 && 7 - (i & 7) < unused)) set.push(usage);
        });
        return [pad + set.join(', ')];
      }
      case '2.5.29.37':
        return [pad + children(node).map((o) => { const oid = decodeOid(o.body); return OID_NAMES[oid] ?? oid; }).join(', ')];
      case '2.5.29.14':
        return [pad + colonHex(node.body).toUpperCase()];
      case '2.5.29.35': {
        const keyId = children(node).find((c) => c.tag === 0x80);
        return keyId === undefined ? hexBlock(value, 16, 18) : [pad + colonHex(keyId.body).toUpperCase()];
      }
      default:
        return hexBlock(value, 16, 18);
    }
  } catch {
    return hexBlock(value, 16, 18);
  }
}

/** Bits in a big-endian unsigned integer (leading zero bytes ignored). */
function bitLength(bytes: Buffer): number {
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  if (i === bytes.length) return 0;
  return (bytes.length - i - 1) * 8 + (32 - Math.clz32(bytes[i] ?? 0));
}

function formatPublicKey(spki: Node): string[] {
  const [algNode, bits] = children(spki);
  if (algNode === undefined || bits === undefined) return ['            Public Key Algorithm: (invalid)'];
  const [oidNode, params] = children(algNode);
  const oid = oidNode === undefined ? '' : decodeOid(oidNode.body);
  const keyBytes = bits.body.subarray(1);
  const lines = [`            Public Key Algorithm: ${OID_NAMES[oid] ?? oid}`];
  const pad = ' '.repeat(16);
  if (oid === '1.2.840.113549.1.1.1' || oid === '1.2.840.113549.1.1.10') {
    const [n, e] = children(readNode(keyBytes, 0));
    if (n === undefined || e === undefined) return lines;
    const modulus = n.body;
    const exponent = BigInt(`0x${e.body.toString('hex') || '0'}`);
    lines.push(`${pad}Public-Key: (${bitLength(modulus)} bit)`, `${pad}Modulus:`, ...hexBlock(modulus, 20, 15));
    lines.push(`${pad}Exponent: ${exponent} (0x${exponent.toString(16)})`);
  } else if (oid === '1.2.840.10045.2.1') {
    const curveOid = params?.tag === 0x06 ? decodeOid(params.body) : '';
    const curve = CURVES[curveOid];
    const size = curve?.[2] ?? ((keyBytes.length - 1) / 2) * 8;
    lines.push(`${pad}Public-Key: (${size} bit)`, `${pad}pub:`, ...hexBlock(keyBytes, 20, 15));
    lines.push(`${pad}ASN1 OID: ${curve?.[0] ?? curveOid}`);
    if (curve !== undefined && curve[1] !== '') lines.push(`${pad}NIST CURVE: ${curve[1]}`);
  } else if (oid === '1.2.840.10040.4.1') {
    const y = readNode(keyBytes, 0).body;
    const [p, q, g] = params === undefined ? [] : children(params);
    const size = p === undefined ? 0 : bitLength(p.body);
    lines.push(`${pad}Public-Key: (${size} bit)`, `${pad}pub: `, ...hexBlock(y, 20, 15));
    for (const [label, v] of [['P', p], ['Q', q], ['G', g]] as const) {
      if (v !== undefined) lines.push(`${pad}${label}:   `, ...hexBlock(v.body, 20, 15));
    }
  } else if (oid === '1.3.101.112' || oid === '1.3.101.113') {
    lines.push(`${pad}${OID_NAMES[oid]} Public-Key:`, `${pad}pub:`, ...hexBlock(keyBytes, 20, 15));
  } else {
    lines.push(`${pad}Public-Key:`, ...hexBlock(keyBytes, 20, 15));
  }
  return lines;
}

function signatureLines(oid: string, value: Buffer): string[] {
  if (DSA_SIGNATURE.test(oid)) {
    try {
      const [r, sv] = children(readNode(value, 0));
      if (r !== undefined && sv !== undefined) {
        return ['        r:   ', ...hexBlock(r.body, 12, 15), '        s:   ', ...hexBlock(sv.body, 12, 15)];
      }
    } catch {
      // not DER: fall through to the raw bytes
    }
  }
  return hexBlock(value, 8, 18);
}

/**
 * A readable dump of a certificate in the layout of `openssl x509 -text -noout` (version, serial,
 * signature algorithm, issuer, validity, subject, public key, extensions with the subject
 * alternative names, signature), followed by its SHA-1 and SHA-256 fingerprints.
 * @throws {TlsError} no certificate could be read.
 */
export function certificateText(cert: CertificateInput): string {
  const x509 = loadCertificate(cert);
  const root = readNode(x509.raw, 0);
  const [tbs, sigAlg, sigValue] = children(root);
  if (tbs === undefined || sigAlg === undefined || sigValue === undefined) throw new TlsError('The certificate is not valid DER');
  const fields = children(tbs);
  let i = 0;
  let version = 1;
  if (fields[0]?.tag === 0xa0) {
    version = Number(BigInt(`0x${readNode(fields[0].body, 0).body.toString('hex') || '0'}`)) + 1;
    i = 1;
  }
  const [serial, , issuer, validity, subject, spki] = fields.slice(i);
  const extensions = fields.slice(i + 6).find((f) => f.tag === 0xa3);
  const sigOid = decodeOid(child(sigAlg, 0).body);
  const sigName = SIGNATURE_NAMES[sigOid] ?? sigOid;
  const lines: string[] = ['Certificate:', '    Data:', `        Version: ${version} (0x${(version - 1).toString(16)})`];
  if (serial !== undefined) {
    const negative = ((serial.body[0] ?? 0) & 0x80) !== 0;
    const magnitude = serial.body[0] === 0 && serial.body.length > 1 ? serial.body.subarray(1) : serial.body;
    if (magnitude.length <= 7 && !negative) {
      const n = BigInt(`0x${magnitude.toString('hex') || '0'}`);
      lines.push(`        Serial Number: ${n} (0x${n.toString(16)})`);
    } else {
      lines.push(`        Serial Number:${negative ? ' (Negative)' : ''}`, ...hexBlock(magnitude, 12, 20));
    }
  }
  lines.push(`        Signature Algorithm: ${sigName}`);
  if (issuer !== undefined) lines.push(`        Issuer: ${formatName(issuer)}`);
  if (validity !== undefined) {
    const [from, to] = children(validity);
    lines.push('        Validity');
    if (from !== undefined) lines.push(`            Not Before: ${opensslDate(decodeTime(from))}`);
    if (to !== undefined) lines.push(`            Not After : ${opensslDate(decodeTime(to))}`);
  }
  if (subject !== undefined) lines.push(`        Subject: ${formatName(subject)}`);
  if (spki !== undefined) lines.push('        Subject Public Key Info:', ...formatPublicKey(spki));
  if (extensions !== undefined) {
    lines.push('        X509v3 extensions:');
    for (const ext of children(readNode(extensions.body, 0))) {
      const parts = children(ext);
      const id = parts[0] === undefined ? '' : decodeOid(parts[0].body);
      const critical = parts[1]?.tag === 0x01 && (parts[1].body[0] ?? 0) !== 0;
      const value = parts.find((p) => p.tag === 0x04);
      lines.push(`            ${OID_NAMES[id] ?? id}: ${critical ? 'critical' : ''}`);
      if (value !== undefined) lines.push(...formatExtension(id, value.body));
    }
  }
  lines.push(`    Signature Algorithm: ${sigName}`, '    Signature Value:', ...signatureLines(sigOid, sigValue.body.subarray(1)));
  lines.push(`Fingerprint (SHA1): ${getFingerprint(x509, 'sha1')}`, `Fingerprint (SHA256): ${getFingerprint(x509, 'sha256')}`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// The Manager's certificate

/** Options of {@link ensureManagerCertificate}: the `start` command's `--host`, `--cert-file`, `--key-file`, `--key-file-password`. */
export interface ManagerCertificateOptions {
  /** The host the Manager serves as; names the default files `keys/<host>.key` and `certs/<host>.crt` and is the certificate's CN. */
  host: string;
  /** A certificate to use. Given alone, the file must also hold the private key. */
  certFile?: string | undefined;
  /** A private key to use. Given alone, the default certificate is made from it. */
  keyFile?: string | undefined;
  /** Password of an encrypted key; also encrypts a newly generated default key. */
  keyPassword?: string | undefined;
}

function sameKey(cert: X509Certificate, key: KeyObject): boolean {
  try {
    return cert.checkPrivateKey(key);
  } catch {
    return false;
  }
}

/**
 * Finds or creates the Manager's TLS key and certificate, following msl-network's first-start rules:
 * - neither file given: `keys/<host>.key` and `certs/<host>.crt` under the Switchyard home,
 *   each generated when missing (the key is EC P-256, see the module notes);
 * - `keyFile` without `certFile`: `certs/<host>.crt` is made from that key, unless it already
 *   certifies that key and is still valid (msl-network rewrites it on every start, which changes
 *   the fingerprint that clients have trusted);
 * - `certFile` without `keyFile`: the certificate file must also hold the key; `keyFile` is returned equal to `certFile`;
 * - both: used as they are.
 * In every case the key is loaded (with `keyPassword`) and checked against the certificate.
 * @throws {TlsError} (as a rejection) a file is missing or unreadable, the key is encrypted and the
 * password is missing or wrong, the certificate does not match the key, or the key is DSA (Node's
 * TLS offers no DSA cipher suites; use an RSA or EC key).
 */
export async function ensureManagerCertificate(options: ManagerCertificateOptions): Promise<{ certFile: string; keyFile: string }> {
  const { host, keyPassword } = options;
  let certFile = options.certFile;
  let keyFile = options.keyFile;
  if (certFile === undefined && keyFile === undefined) {
    keyFile = homePaths.key(host);
    certFile = homePaths.cert(host);
    if (!existsSync(keyFile)) await generateKey({ algorithm: 'ecc', curve: 'SECP256R1', password: keyPassword, out: keyFile });
    if (!existsSync(certFile)) await generateCertificate({ keyFile, keyPassword, out: certFile, host });
  } else if (certFile === undefined && keyFile !== undefined) {
    const key = loadKey(keyFile, keyPassword);
    rejectDsa(key, keyFile);
    certFile = homePaths.cert(host);
    let reuse = false;
    if (existsSync(certFile)) {
      try {
        const existing = loadCertificate(certFile);
        reuse = sameKey(existing, key) && Date.parse(existing.validTo) > Date.now();
      } catch {
        reuse = false;
      }
    }
    if (!reuse) await generateCertificate({ keyFile, keyPassword, out: certFile, host });
  } else if (certFile !== undefined && keyFile === undefined) {
    keyFile = certFile;
  }
  if (certFile === undefined || keyFile === undefined) throw new TlsError('No certificate or key file');
  const key = loadKey(keyFile, keyPassword);
  rejectDsa(key, keyFile);
  const cert = loadCertificate(certFile);
  if (!sameKey(cert, key)) {
    throw new TlsError(`The certificate ${certFile} does not match the private key ${keyFile}`, certFile);
  }
  return { certFile, keyFile };
}

function rejectDsa(key: KeyObject, file: string): void {
  if (key.asymmetricKeyType === 'dsa') {
    throw new TlsError(
      `The key ${file} is a DSA key, which Node.js TLS cannot serve (no DSA cipher suites in TLS 1.2 defaults or TLS 1.3); use an RSA or EC key (switchyard keygen rsa | ecc)`,
      file,
    );
  }
}
