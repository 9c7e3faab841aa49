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
import { checkedIssuerChain, randomSerialHex, type CaMaterial, type IssuedCertificate } from './pki.js';

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

/** A P-256 key pair, encoded on the thread pool too: the SPKI (DER) for the certificate, PKCS#8 PEM for the secret. */
const generateP256 = (): Promise<{ readonly spki: Buffer; readonly keyPem: string }> =>
  new Promise((resolve, reject) =>
    crypto.generateKeyPair(
      'ec',
      { namedCurve: 'P-256', publicKeyEncoding: { type: 'spki', format: 'der' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } },
      (err, spki, keyPem) => (err ? reject(err) : resolve({ spki, keyPem })),
    ),
  );

const signAsync = (hash: string, data: Buffer, key: crypto.KeyObject): Promise<Buffer> =>
  new Promise((resolve, reject) => crypto.sign(hash, data, key, (err, signature) => (err ? reject(err) : resolve(signature))));

/** A CA loaded once for many SVIDs. */
export class SvidIssuer {
  private readonly signingKey: crypto.KeyObject;
  private readonly algorithm: { readonly der: Buffer; readonly hash: string };
  private readonly issuerName: Buffer;
  private readonly authorityKeyId: Buffer;
  private readonly issuerNotAfter: Date;
  /** The issuer's certificates that are not roots: sent after the leaf. */
  private readonly intermediatesPem: string;

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
  }

  /**
   * A SPIFFE X509-SVID for `spiffeIds` with a fresh ECDSA P-256 key; its lifetime is capped at the
   * CA's own expiry. Key generation and the signature run on libuv's thread pool (the async forms
   * of `crypto.generateKeyPair` and `crypto.sign`): off the event loop, and on every core.
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

    const { spki, keyPem } = await generateP256();
    const serialHex = randomSerialHex();
    // RFC 5280 §4.2.1.6: the subject is empty, so the SAN extension is critical.
    const san = extension('2.5.29.17', true, seq(...spiffeIds.map((uri) => tlv(0x86, Buffer.from(uri, 'ascii')))));
    const tbs = seq(
      VERSION_3,
      tlv(0x02, Buffer.from(serialHex, 'hex')),
      this.algorithm.der,
      this.issuerName,
      seq(time(notBefore), time(notAfter)),
      seq(),
      spki,
      tlv(
        0xa3,
        seq(
          BASIC_CONSTRAINTS_LEAF,
          KEY_USAGE_DIGITAL_SIGNATURE,
          EKU_SERVER_AND_CLIENT,
          extension('2.5.29.14', false, octets(keyIdentifier(spki))),
          san,
          this.authorityKeyId,
        ),
      ),
    );
    const signature = await signAsync(this.algorithm.hash, tbs, this.signingKey);
    const der = seq(tbs, this.algorithm.der, bitString(signature));
    const certPem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`;
    return {
      certPem,
      chainPem: certPem + this.intermediatesPem,
      keyPem,
      serialHex,
      notBefore,
      notAfter,
    };
  }
}
