/**
 * Fast SPIFFE X509-SVID issuance: the certificate is assembled from DER pieces and signed with
 * Node's native `crypto.sign`, instead of the general @peculiar/x509 path (WebCrypto, ASN.1
 * schema objects, a re-parse of the issuer for every certificate). Workload certificates are the
 * hot path of a cold start (every proxy of an mTLS mesh needs one at once, issue #11): the
 * general path managed about 100 certificates/s, most of it outside the signature itself.
 *
 * Everything that is the same for every certificate of one CA (the issuer Name, the signature
 * algorithm, the authority key identifier, the constant extensions) is encoded once when the
 * issuer is loaded; per certificate only the serial, the validity, the key and the SANs vary.
 * The profile is exactly the one of `issueCertificate({ usage: 'workload' })` in pki.ts, which
 * test/ca/svid.test.ts checks field by field (and with `openssl verify`).
 *
 * DER (X.690) and the certificate structure (RFC 5280 §4.1); the SVID profile:
 * https://github.com/spiffe/spiffe/blob/main/standards/X509-SVID.md
 */
import crypto from 'node:crypto';
import { x509 } from './x509.js';
import { isSelfSigned } from './cert-info.js';
import { certificatesToPem, parsePrivateKey } from './pem.js';
import { checkedIssuerChain, type CaMaterial, type IssuedCertificate } from './pki.js';

/** Certificates made elsewhere may reach a peer whose clock is slightly behind ours (as pki.ts). */
const BACKDATE_MS = 60_000;

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = content.length === 1 ? (content[0] as Buffer) : Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}

const seq = (...content: Buffer[]): Buffer => tlv(0x30, ...content);
const octets = (content: Buffer): Buffer => tlv(0x04, content);

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const bytes: number[] = [40 * (parts[0] ?? 0) + (parts[1] ?? 0)];
  for (const part of parts.slice(2)) {
    const chunk: number[] = [part & 0x7f];
    for (let v = Math.floor(part / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}

function bitString(content: Buffer, unusedBits = 0): Buffer {
  return tlv(0x03, Buffer.from([unusedBits]), content);
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
function time(date: Date): Buffer {
  const iso = date.toISOString();
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(digits.slice(2), 'ascii')) : tlv(0x18, Buffer.from(digits, 'ascii'));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [Buffer.from([0x01, 0x01, 0xff])] : []), octets(value));
}

const SHA256_WITH_RSA = seq(oid('1.2.840.113549.1.1.11'), Buffer.from([0x05, 0x00]));
const ECDSA_WITH_SHA256 = seq(oid('1.2.840.10045.4.3.2'));
const ECDSA_WITH_SHA384 = seq(oid('1.2.840.10045.4.3.3'));
const ECDSA_WITH_SHA512 = seq(oid('1.2.840.10045.4.3.4'));

/** The extensions every SVID carries, in the order pki.ts writes them. */
const BASIC_CONSTRAINTS_LEAF = extension('2.5.29.19', true, seq());
/** digitalSignature only: the leaf key is ECDSA P-256 (keyEncipherment means RSA key transport). */
const KEY_USAGE_DIGITAL_SIGNATURE = extension('2.5.29.15', true, bitString(Buffer.from([0x80]), 7));
const EKU_SERVER_AND_CLIENT = extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'), oid('1.3.6.1.5.5.7.3.2')));
const VERSION_3 = tlv(0xa0, tlv(0x02, Buffer.from([0x02])));

function signatureAlgorithm(key: crypto.KeyObject): { readonly der: Buffer; readonly hash: string } {
  if (key.asymmetricKeyType === 'rsa') return { der: SHA256_WITH_RSA, hash: 'sha256' };
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return { der: ECDSA_WITH_SHA256, hash: 'sha256' };
    if (curve === 'secp384r1') return { der: ECDSA_WITH_SHA384, hash: 'sha384' };
    if (curve === 'secp521r1') return { der: ECDSA_WITH_SHA512, hash: 'sha512' };
    throw new Error(`unsupported CA key: EC curve ${curve ?? 'unknown'} (use P-256, P-384 or P-521)`);
  }
  throw new Error(`unsupported CA key type ${key.asymmetricKeyType ?? 'unknown'} (use RSA or ECDSA)`);
}

/** The key identifier of RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
function keyIdentifier(spkiDer: Buffer): Buffer {
  // SubjectPublicKeyInfo ::= SEQUENCE { algorithm, BIT STRING }: the BIT STRING is last.
  const bits = lastBitStringContent(spkiDer);
  return crypto.createHash('sha1').update(bits).digest();
}

/** Reads a DER TLV header at `offset`: the content's start and length. */
function header(der: Buffer, offset: number): { readonly start: number; readonly length: number } {
  const first = der[offset + 1] ?? 0;
  if (first < 0x80) return { start: offset + 2, length: first };
  const count = first & 0x7f;
  let n = 0;
  for (let i = 0; i < count; i++) n = n * 256 + (der[offset + 2 + i] ?? 0);
  return { start: offset + 2 + count, length: n };
}

function lastBitStringContent(spkiDer: Buffer): Buffer {
  const outer = header(spkiDer, 0);
  const algorithm = header(spkiDer, outer.start);
  const bitsAt = algorithm.start + algorithm.length;
  const bits = header(spkiDer, bitsAt);
  // Skip the unused-bits byte.
  return spkiDer.subarray(bits.start + 1, bits.start + bits.length);
}

/**
 * P-256 key encodings from fixed templates (no OpenSSL encoder per key: in OpenSSL 3 the SPKI and
 * PKCS#8 encoders cost several times the key generation itself).
 * - SubjectPublicKeyInfo (RFC 5480 §2): SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING <point> }.
 * - PKCS#8 PrivateKeyInfo (RFC 5958 §2) around an ECPrivateKey (RFC 5915 §3): version 1, the 32-byte
 *   scalar, no parameters (they are in the PKCS#8 algorithm), and the public point ([1] BIT STRING),
 *   the layout Node itself exports.
 */
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
const P256_PKCS8_PREFIX = Buffer.from('308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420', 'hex');
const P256_PKCS8_POINT = Buffer.from('a144034200', 'hex');
const P256_SCALAR_BYTES = 32;
const P256_POINT_BYTES = 65;

/** The SPKI (DER) of an uncompressed P-256 point (0x04 || X || Y). */
export function p256SpkiDer(point: Buffer): Buffer {
  if (point.length !== P256_POINT_BYTES || point[0] !== 0x04) throw new Error('not an uncompressed P-256 point');
  return Buffer.concat([P256_SPKI_PREFIX, point], P256_SPKI_PREFIX.length + P256_POINT_BYTES);
}

/**
 * The unencrypted PKCS#8 DER of a P-256 key. `scalar` may be shorter than 32 bytes (OpenSSL drops
 * leading zero bytes of a BIGNUM, about one key in 256): ECPrivateKey wants it left-padded to the
 * curve's byte length (RFC 5915 §3, SEC 1 §C.4).
 */
export function p256Pkcs8Der(scalar: Buffer, point: Buffer): Buffer {
  if (scalar.length === 0 || scalar.length > P256_SCALAR_BYTES) throw new Error('not a P-256 private scalar');
  if (point.length !== P256_POINT_BYTES || point[0] !== 0x04) throw new Error('not an uncompressed P-256 point');
  const der = Buffer.alloc(P256_PKCS8_PREFIX.length + P256_SCALAR_BYTES + P256_PKCS8_POINT.length + P256_POINT_BYTES);
  let at = P256_PKCS8_PREFIX.copy(der, 0);
  at += P256_SCALAR_BYTES - scalar.length; // the padding is already zero (Buffer.alloc)
  at += scalar.copy(der, at);
  at += P256_PKCS8_POINT.copy(der, at);
  point.copy(der, at);
  return der;
}

/** PEM (RFC 7468): base64 in 64-character lines, as Node and OpenSSL write it. */
function pem(label: string, der: Buffer): string {
  const b64 = der.toString('base64');
  let body = '';
  for (let i = 0; i < b64.length; i += 64) body += `${b64.slice(i, i + 64)}\n`;
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

/**
 * One ECDH context, reused: `generateKeys()` replaces its key pair with a fresh random one each
 * call (EC_KEY_generate_key). This is the cheapest way Node offers to a raw P-256 key pair: about
 * 23 µs on this machine, against about 65 µs of CPU for `generateKeyPair` to KeyObjects plus about
 * 30 µs for their JWK export. It runs on the event loop, a bounded number at a time (see below).
 */
let keygen: crypto.ECDH | undefined;

/** A fresh P-256 key: the public point for the certificate and the PKCS#8 PEM for the secret. */
function generateP256(): { readonly point: Buffer; readonly keyPem: string } {
  keygen ??= crypto.createECDH('prime256v1');
  const point = keygen.generateKeys();
  const scalar = keygen.getPrivateKey();
  const pkcs8 = p256Pkcs8Der(scalar, point);
  const keyPem = pem('PRIVATE KEY', pkcs8);
  scalar.fill(0);
  pkcs8.fill(0);
  return { point, keyPem };
}

/**
 * Signatures run on libuv's thread pool (async `crypto.sign`), on every core. At most
 * MAX_SIGNING certificates are between key generation and signature at once, across every issuer:
 * the rest wait in a queue. So a burst of thousands of requests neither floods the thread pool (fs
 * and dns work share it) nor generates thousands of keys in one stretch of the event loop: each
 * finished signature starts the next certificate, a few tens of microseconds of event-loop work.
 */
const MAX_SIGNING = Math.max(4, 2 * (Number(process.env.UV_THREADPOOL_SIZE) || 4));
let signing = 0;
const waiting: Array<() => void> = [];

function acquireSigningSlot(): Promise<void> | undefined {
  if (signing < MAX_SIGNING) {
    signing++;
    return undefined;
  }
  return new Promise((resolve) => waiting.push(resolve));
}

function releaseSigningSlot(): void {
  const next = waiting.shift();
  if (next !== undefined) next();
  else signing--;
}

const signAsync = (hash: string, data: Buffer, key: crypto.KeyObject): Promise<Buffer> =>
  new Promise((resolve, reject) => crypto.sign(hash, data, key, (err, signature) => (err ? reject(err) : resolve(signature))));

/** The size of a DER header (tag and length octets) for `length` content bytes. */
function headerSize(length: number): number {
  if (length < 0x80) return 2;
  let bytes = 0;
  for (let v = length; v > 0; v = Math.floor(v / 256)) bytes++;
  return 2 + bytes;
}

/** Writes a DER header at `at`; returns where its content starts. */
function writeHeader(out: Buffer, at: number, tag: number, length: number): number {
  out[at++] = tag;
  if (length < 0x80) {
    out[at++] = length;
    return at;
  }
  const size = headerSize(length) - 2;
  out[at++] = 0x80 | size;
  for (let i = size - 1; i >= 0; i--) out[at++] = Math.floor(length / 256 ** i) & 0xff;
  return at;
}

/** Serial numbers: drawn from a block of random bytes, refilled every 256 certificates (one call into the CSPRNG instead of one per certificate). */
const SERIAL_BYTES = 16;
let serialPool = Buffer.alloc(0);
let serialAt = 0;

/** 128 random bits with the top bit clear: a positive DER INTEGER of exactly 16 bytes (as pki.ts `randomSerialHex`). */
function randomSerial(): Buffer {
  if (serialAt + SERIAL_BYTES > serialPool.length) {
    serialPool = crypto.randomBytes(SERIAL_BYTES * 256);
    serialAt = 0;
  }
  const serial = serialPool.subarray(serialAt, serialAt + SERIAL_BYTES);
  serialAt += SERIAL_BYTES;
  serial[0] = (serial[0] ?? 0) & 0x7f || 0x01;
  return serial;
}

/** INTEGER header of the 16-byte serial; SubjectKeyIdentifier extension header before its 20-byte SHA-1. */
const SERIAL_HEADER = Buffer.from([0x02, SERIAL_BYTES]);
const SKI_EXTENSION_HEADER = extension('2.5.29.14', false, octets(Buffer.alloc(20))).subarray(0, -20);
const EMPTY_SUBJECT = seq();
const LEAF_EXTENSIONS_HEAD = Buffer.concat([BASIC_CONSTRAINTS_LEAF, KEY_USAGE_DIGITAL_SIGNATURE, EKU_SERVER_AND_CLIENT]);
/** Encoded SAN extensions kept per issuer (many proxies of one service share their SPIFFE IDs). */
const SAN_CACHE_LIMIT = 4096;

/** A CA loaded once for many SVIDs. */
export class SvidIssuer {
  private readonly signingKey: crypto.KeyObject;
  private readonly algorithm: { readonly der: Buffer; readonly hash: string };
  private readonly issuerName: Buffer;
  private readonly authorityKeyId: Buffer;
  private readonly issuerNotAfter: Date;
  /** The issuer's certificates that are not roots: sent after the leaf. */
  private readonly intermediatesPem: string;
  /** The TBSCertificate between the serial and the validity: signature algorithm and issuer name. */
  private readonly afterSerial: Buffer;
  private readonly sans = new Map<string, Buffer>();
  private validityKey = '';
  private validity: Buffer = Buffer.alloc(0);

  constructor(ca: CaMaterial) {
    const { chain, first, notAfter } = checkedIssuerChain(ca);
    this.signingKey = parsePrivateKey(ca.keyPem);
    this.algorithm = signatureAlgorithm(this.signingKey);
    const parsed = new x509.X509Certificate(first.raw);
    this.issuerName = Buffer.from(parsed.subjectName.toArrayBuffer());
    // RFC 5280 §4.2.1.1: the authority key identifier is the issuer's subject key identifier.
    const ski = parsed.getExtension(x509.SubjectKeyIdentifierExtension);
    const issuerKeyId = ski !== null ? Buffer.from(ski.keyId, 'hex') : keyIdentifier(first.publicKey.export({ type: 'spki', format: 'der' }));
    this.authorityKeyId = extension('2.5.29.35', false, seq(tlv(0x80, issuerKeyId)));
    this.issuerNotAfter = notAfter;
    this.intermediatesPem = certificatesToPem(chain.filter((c) => !isSelfSigned(c)));
    this.afterSerial = Buffer.concat([this.algorithm.der, this.issuerName]);
  }

  /**
   * A SPIFFE X509-SVID for `spiffeIds` with a fresh ECDSA P-256 key; its lifetime is capped at the
   * CA's own expiry. The key pair comes from the reused ECDH context and is encoded from templates
   * on the event loop (a few tens of microseconds); the signature runs on libuv's thread pool (async
   * `crypto.sign`), on every core. A burst of requests queues for signing slots (MAX_SIGNING).
   */
  async issue(spiffeIds: readonly string[], validitySeconds: number, now: Date): Promise<IssuedCertificate> {
    if (spiffeIds.length === 0) throw new Error('a workload certificate needs at least one spiffe:// URI SAN');
    const bad = spiffeIds.find((u) => !u.startsWith('spiffe://'));
    if (bad !== undefined) throw new Error(`workload URI SAN ${JSON.stringify(bad)} is not a spiffe:// ID`);
    if (!Number.isFinite(validitySeconds) || validitySeconds <= 0) throw new Error(`validity must be a positive duration, got ${validitySeconds}s`);
    const start = Math.floor(now.getTime() / 1000) * 1000;
    const notBefore = new Date(start - BACKDATE_MS);
    const requestedEnd = new Date(start + Math.floor(validitySeconds) * 1000);
    const notAfter = requestedEnd.getTime() > this.issuerNotAfter.getTime() ? this.issuerNotAfter : requestedEnd;

    const slot = acquireSigningSlot();
    if (slot !== undefined) await slot;
    let signature: Buffer;
    let tbs: Buffer;
    let keyPem: string;
    let serialHex: string;
    try {
      const key = generateP256();
      keyPem = key.keyPem;
      const serial = randomSerial();
      serialHex = serial.toString('hex');
      tbs = this.tbs(serial, notBefore, notAfter, key.point, spiffeIds);
      signature = await signAsync(this.algorithm.hash, tbs, this.signingKey);
    } finally {
      releaseSigningSlot();
    }
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
    const bitsLength = 1 + signature.length;
    const contentLength = tbs.length + this.algorithm.der.length + headerSize(bitsLength) + bitsLength;
    const der = Buffer.allocUnsafe(headerSize(contentLength) + contentLength);
    let at = writeHeader(der, 0, 0x30, contentLength);
    at += tbs.copy(der, at);
    at += this.algorithm.der.copy(der, at);
    at = writeHeader(der, at, 0x03, bitsLength);
    der[at++] = 0;
    signature.copy(der, at);
    const certPem = pem('CERTIFICATE', der);
    return {
      certPem,
      chainPem: certPem + this.intermediatesPem,
      keyPem,
      serialHex,
      notBefore,
      notAfter,
    };
  }

  /**
   * The TBSCertificate (RFC 5280 §4.1.2) in the profile of pki.ts `issueCertificate({ usage: 'workload' })`,
   * written into one buffer: version, serial, signature algorithm, issuer, validity, empty subject,
   * the P-256 SPKI, then the extensions basicConstraints, keyUsage, extKeyUsage, subjectKeyIdentifier,
   * subjectAltName and authorityKeyIdentifier.
   */
  private tbs(serial: Buffer, notBefore: Date, notAfter: Date, point: Buffer, spiffeIds: readonly string[]): Buffer {
    const validity = this.validityOf(notBefore, notAfter);
    const san = this.sanOf(spiffeIds);
    const keyId = crypto.createHash('sha1').update(point).digest();
    const extensionsLength = LEAF_EXTENSIONS_HEAD.length + SKI_EXTENSION_HEADER.length + keyId.length + san.length + this.authorityKeyId.length;
    const extensionsSeqSize = headerSize(extensionsLength) + extensionsLength;
    const contentLength =
      VERSION_3.length +
      SERIAL_HEADER.length +
      serial.length +
      this.afterSerial.length +
      validity.length +
      EMPTY_SUBJECT.length +
      P256_SPKI_PREFIX.length +
      point.length +
      headerSize(extensionsSeqSize) +
      extensionsSeqSize;
    const out = Buffer.allocUnsafe(headerSize(contentLength) + contentLength);
    let at = writeHeader(out, 0, 0x30, contentLength);
    at += VERSION_3.copy(out, at);
    at += SERIAL_HEADER.copy(out, at);
    at += serial.copy(out, at);
    at += this.afterSerial.copy(out, at);
    at += validity.copy(out, at);
    at += EMPTY_SUBJECT.copy(out, at);
    at += P256_SPKI_PREFIX.copy(out, at);
    at += point.copy(out, at);
    at = writeHeader(out, at, 0xa3, extensionsSeqSize);
    at = writeHeader(out, at, 0x30, extensionsLength);
    at += LEAF_EXTENSIONS_HEAD.copy(out, at);
    at += SKI_EXTENSION_HEADER.copy(out, at);
    at += keyId.copy(out, at);
    at += san.copy(out, at);
    at += this.authorityKeyId.copy(out, at);
    if (at !== out.length) throw new Error(`internal error: TBSCertificate is ${at} bytes, expected ${out.length}`);
    return out;
  }

  /** Validity ::= SEQUENCE { notBefore, notAfter }; a burst issued within one second shares it. */
  private validityOf(notBefore: Date, notAfter: Date): Buffer {
    const key = `${notBefore.getTime()}/${notAfter.getTime()}`;
    if (key !== this.validityKey) {
      this.validity = seq(time(notBefore), time(notAfter));
      this.validityKey = key;
    }
    return this.validity;
  }

  /** RFC 5280 §4.2.1.6: the subject is empty, so the SAN extension is critical. */
  private sanOf(spiffeIds: readonly string[]): Buffer {
    // A SPIFFE ID starts with "spiffe://", so a single one never collides with a JSON array.
    const key = spiffeIds.length === 1 ? (spiffeIds[0] as string) : JSON.stringify(spiffeIds);
    let san = this.sans.get(key);
    if (san === undefined) {
      san = extension('2.5.29.17', true, seq(...spiffeIds.map((uri) => tlv(0x86, Buffer.from(uri, 'ascii')))));
      if (this.sans.size >= SAN_CACHE_LIMIT) this.sans.clear();
      this.sans.set(key, san);
    }
    return san;
  }
}
