/**
 * PEM decoding for certificates and private keys. Decoding never throws: it returns a
 * discriminated union, so secret checks can report every problem with its position. Messages
 * never quote the PEM text, so key material cannot leak into errors or logs (SPEC §1 Secret).
 */
import crypto from 'node:crypto';

export interface PemBlock {
  readonly label: string;
  /** The DER bytes of the block. */
  readonly der: Buffer;
}

/** A problem with the PEM text; `index` is the 0-based block it concerns, when there is one. */
export interface PemProblem {
  readonly index?: number;
  readonly message: string;
}

export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: PemProblem };

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;
const BASE64_BODY = /^[A-Za-z0-9+/]+={0,2}$/;
const KEY_LABELS = new Set(['PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY']);

function isPrivateKeyLabel(label: string): boolean {
  return label.endsWith('PRIVATE KEY');
}

/** Splits PEM text into blocks. Text outside blocks is ignored, as OpenSSL does. */
export function decodePemBlocks(pem: string): Decoded<readonly PemBlock[]> {
  const text = pem.replace(/\r\n?/g, '\n');
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(BLOCK)) {
    const [, begin = '', body = '', end = ''] = match;
    const index = blocks.length;
    if (begin !== end) return { ok: false, problem: { index, message: `PEM block ${index} starts with BEGIN ${describeLabel(begin)} but ends with END ${describeLabel(end)}` } };
    // RFC 1421 headers (`Proc-Type: 4,ENCRYPTED`) only appear in legacy encrypted keys.
    if (body.includes(':')) {
      const message = isPrivateKeyLabel(begin) ? 'the private key is encrypted; provide an unencrypted key' : `PEM block ${index} has headers, which are not supported`;
      return { ok: false, problem: { index, message } };
    }
    const compact = body.replace(/\s+/g, '');
    if (compact === '' || compact.length % 4 !== 0 || !BASE64_BODY.test(compact)) {
      return { ok: false, problem: { index, message: `PEM block ${index} (${describeLabel(begin)}) has invalid base64` } };
    }
    blocks.push({ label: begin, der: Buffer.from(compact, 'base64') });
  }
  const begins = text.match(/-----BEGIN /g)?.length ?? 0;
  if (begins !== blocks.length) {
    return { ok: false, problem: { index: blocks.length, message: `PEM block ${blocks.length} has a BEGIN line without a matching END line` } };
  }
  return { ok: true, value: blocks };
}

/** Names a block's label in messages without ever printing the words of a key label verbatim. */
function describeLabel(label: string): string {
  return isPrivateKeyLabel(label) ? 'a private key' : label;
}

/** Every CERTIFICATE block in `pem`, in order. Fails on anything else, including a key pasted into a cert field. */
export function decodeCertificates(pem: string): Decoded<readonly crypto.X509Certificate[]> {
  const blocks = decodePemBlocks(pem);
  if (!blocks.ok) return blocks;
  if (blocks.value.length === 0) return { ok: false, problem: { message: 'no PEM certificate found (expected -----BEGIN CERTIFICATE-----)' } };
  const certs: crypto.X509Certificate[] = [];
  for (const [index, block] of blocks.value.entries()) {
    if (isPrivateKeyLabel(block.label)) return { ok: false, problem: { index, message: 'holds a private key where a certificate was expected' } };
    if (block.label !== 'CERTIFICATE') return { ok: false, problem: { index, message: `holds a ${block.label} PEM block where a CERTIFICATE was expected` } };
    try {
      certs.push(new crypto.X509Certificate(block.der));
    } catch {
      return { ok: false, problem: { index, message: 'is not a valid X.509 certificate (DER decoding failed)' } };
    }
  }
  return { ok: true, value: certs };
}

/**
 * The one unencrypted private key in `pem`: PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or
 * SEC 1 (`EC PRIVATE KEY`, optionally after the `EC PARAMETERS` block that `openssl ecparam` writes).
 */
export function decodePrivateKey(pem: string): Decoded<crypto.KeyObject> {
  const blocks = decodePemBlocks(pem);
  if (!blocks.ok) return blocks;
  const keys = blocks.value.filter((b) => isPrivateKeyLabel(b.label));
  const others = blocks.value.filter((b) => !isPrivateKeyLabel(b.label) && b.label !== 'EC PARAMETERS');
  if (keys.length === 0) {
    const found = others.length > 0 ? `; found ${others.map((b) => b.label).join(', ')}` : '';
    return { ok: false, problem: { message: `no PEM private key found${found}` } };
  }
  if (keys.length > 1) return { ok: false, problem: { message: `expected one private key, found ${keys.length}` } };
  if (others.length > 0) return { ok: false, problem: { message: `expected only a private key, also found ${others.map((b) => b.label).join(', ')}` } };
  const [key] = keys as [PemBlock];
  if (key.label === 'ENCRYPTED PRIVATE KEY') return { ok: false, problem: { message: 'the private key is encrypted; provide an unencrypted key' } };
  if (!KEY_LABELS.has(key.label)) return { ok: false, problem: { message: 'unsupported private key format; use PKCS#8, PKCS#1 (RSA) or SEC 1 (EC)' } };
  try {
    const type = key.label === 'PRIVATE KEY' ? 'pkcs8' : key.label === 'RSA PRIVATE KEY' ? 'pkcs1' : 'sec1';
    return { ok: true, value: crypto.createPrivateKey({ key: key.der, format: 'der', type }) };
  } catch {
    // Node's own message is dropped: it is not needed, and nothing about the key may leak.
    return { ok: false, problem: { message: 'is not a valid private key (decoding failed)' } };
  }
}

/** Thrown by the `parse*` helpers; the message is one line and never holds key material. */
export class PemError extends Error {
  constructor(
    message: string,
    readonly index?: number,
  ) {
    super(message);
    this.name = 'PemError';
  }
}

function unwrap<T>(decoded: Decoded<T>, what: string): T {
  if (decoded.ok) return decoded.value;
  const where = decoded.problem.index !== undefined ? `${what}[${decoded.problem.index}]` : what;
  throw new PemError(`${where}: ${decoded.problem.message}`, decoded.problem.index);
}

/** All CERTIFICATE blocks of `pem`, in order; throws {@link PemError} when any block is malformed. */
export function parseCertificates(pem: string): crypto.X509Certificate[] {
  return [...unwrap(decodeCertificates(pem), 'certificate')];
}

/** The private key in `pem`; throws {@link PemError} (never quoting the key). */
export function parsePrivateKey(pem: string): crypto.KeyObject {
  return unwrap(decodePrivateKey(pem), 'private key');
}

function toCertificate(cert: string | crypto.X509Certificate): crypto.X509Certificate {
  if (typeof cert !== 'string') return cert;
  const [first] = parseCertificates(cert);
  if (first === undefined) throw new PemError('certificate: no PEM certificate found');
  return first;
}

/** True when the private key is the one for the (first) certificate: their SubjectPublicKeyInfo DER is identical. */
export function keyMatchesCertificate(key: string | crypto.KeyObject, cert: string | crypto.X509Certificate): boolean {
  const privateKey = typeof key === 'string' ? parsePrivateKey(key) : key;
  const fromKey = crypto.createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const fromCert = toCertificate(cert).publicKey.export({ type: 'spki', format: 'der' });
  return fromKey.equals(fromCert);
}

/**
 * SHA-256 of the certificate's DER, as uppercase colon-separated hex (`AB:CD:…`): the format of
 * `openssl x509 -fingerprint -sha256` and of Node's `fingerprint256`, so users can compare them directly.
 */
export function fingerprintSha256(cert: string | crypto.X509Certificate): string {
  return toCertificate(cert).fingerprint256;
}

/** A certificate as PEM text (one block, trailing newline). */
export function certificateToPem(cert: crypto.X509Certificate): string {
  const body = cert.raw.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
}

/** Certificates as concatenated PEM. */
export function certificatesToPem(certs: readonly crypto.X509Certificate[]): string {
  return certs.map(certificateToPem).join('');
}
