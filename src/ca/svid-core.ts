/**
 * The per-certificate code of SVID issuance (svid.ts): DER assembly of the TBSCertificate, the
 * P-256 key encodings from fixed templates, and signing, for one CA at a time.
 *
 * {@link svidCore} must stay self-contained: the workers (svid-workers.ts) run its source text
 * (`Function.prototype.toString`), so that the same code works from the compiled dist/ and from
 * the TypeScript sources under vitest, with no worker file on disk.
 *
 * DER (X.690) and the certificate structure (RFC 5280 §4.1); the SVID profile:
 * https://github.com/spiffe/spiffe/blob/main/standards/X509-SVID.md
 */
import crypto from 'node:crypto';

/** What a worker needs to sign for one CA: cloned to each worker once (a KeyObject crosses threads by postMessage). */
export interface IssuerTemplate {
  readonly key: crypto.KeyObject;
  readonly hash: string;
  /** AlgorithmIdentifier of the signature. */
  readonly signatureAlgorithm: Uint8Array;
  /** The issuer's Name (its certificate's subject). */
  readonly issuerName: Uint8Array;
  /** The authorityKeyIdentifier extension. */
  readonly authorityKeyId: Uint8Array;
}

/** One SVID, as the core returns it. */
export interface SignedSvid {
  readonly certPem: string;
  readonly keyPem: string;
  readonly serialHex: string;
}

/**
 * The per-certificate code. Self-contained by contract: it may use only its parameter and
 * JavaScript/Node globals (Buffer, Math, Date, JSON), never a binding of this module, because
 * workers evaluate its source text. It is called once per thread.
 */
export function svidCore(nodeCrypto: typeof crypto) {
  function length(n: number): Buffer {
    if (n < 0x80) return Buffer.from([n]);
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    return Buffer.from([0x80 | bytes.length, ...bytes]);
  }

  function tlv(tag: number, ...content: Uint8Array[]): Buffer {
    const body = Buffer.concat(content);
    return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
  }

  const seq = (...content: Uint8Array[]): Buffer => tlv(0x30, ...content);
  const octets = (content: Uint8Array): Buffer => tlv(0x04, content);

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

  function bitString(content: Uint8Array, unusedBits = 0): Buffer {
    return tlv(0x03, Buffer.from([unusedBits]), content);
  }

  /** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
  function time(date: Date): Buffer {
    const iso = date.toISOString();
    const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
    return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(digits.slice(2), 'ascii')) : tlv(0x18, Buffer.from(digits, 'ascii'));
  }

  function extension(id: string, critical: boolean, value: Uint8Array): Buffer {
    return seq(oid(id), ...(critical ? [Buffer.from([0x01, 0x01, 0xff])] : []), octets(value));
  }

  /** The size of a DER header (tag and length octets) for `contentLength` content bytes. */
  function headerSize(contentLength: number): number {
    if (contentLength < 0x80) return 2;
    let bytes = 0;
    for (let v = contentLength; v > 0; v = Math.floor(v / 256)) bytes++;
    return 2 + bytes;
  }

  /** Writes a DER header at `at`; returns where its content starts. */
  function writeHeader(out: Buffer, at: number, tag: number, contentLength: number): number {
    out[at++] = tag;
    if (contentLength < 0x80) {
      out[at++] = contentLength;
      return at;
    }
    const size = headerSize(contentLength) - 2;
    out[at++] = 0x80 | size;
    for (let i = size - 1; i >= 0; i--) out[at++] = Math.floor(contentLength / 256 ** i) & 0xff;
    return at;
  }

  /** PEM (RFC 7468): base64 in 64-character lines, as Node and OpenSSL write it. */
  function pem(label: string, der: Uint8Array): string {
    const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
    let body = '';
    for (let i = 0; i < b64.length; i += 64) body += `${b64.slice(i, i + 64)}\n`;
    return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
  }

  /**
   * P-256 key encodings from fixed templates.
   * - SubjectPublicKeyInfo (RFC 5480 §2): SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING <point> }.
   * - PKCS#8 PrivateKeyInfo (RFC 5958 §2) around an ECPrivateKey (RFC 5915 §3): version 1, the
   *   32-byte scalar, no parameters (they are in the PKCS#8 algorithm), then the public point as
   *   [1] BIT STRING: the layout Node itself exports.
   */
  const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
  const P256_PKCS8_PREFIX = Buffer.from('308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420', 'hex');
  const P256_PKCS8_POINT = Buffer.from('a144034200', 'hex');
  const P256_SCALAR_BYTES = 32;
  const P256_POINT_BYTES = 65;

  function checkPoint(point: Uint8Array): void {
    if (point.length !== P256_POINT_BYTES || point[0] !== 0x04) throw new Error('not an uncompressed P-256 point');
  }

  /** The SPKI (DER) of an uncompressed P-256 point (0x04 || X || Y). */
  function p256SpkiDer(point: Uint8Array): Buffer {
    checkPoint(point);
    return Buffer.concat([P256_SPKI_PREFIX, point]);
  }

  /**
   * The unencrypted PKCS#8 DER of a P-256 key. `scalar` may be shorter than 32 bytes (OpenSSL
   * drops leading zero bytes of a BIGNUM, about one key in 256): ECPrivateKey wants it left-padded
   * to the curve's byte length (RFC 5915 §3, SEC 1 §C.4).
   */
  function p256Pkcs8Der(scalar: Uint8Array, point: Uint8Array): Buffer {
    if (scalar.length === 0 || scalar.length > P256_SCALAR_BYTES) throw new Error('not a P-256 private scalar');
    checkPoint(point);
    const der = Buffer.alloc(P256_PKCS8_PREFIX.length + P256_SCALAR_BYTES + P256_PKCS8_POINT.length + P256_POINT_BYTES);
    let at = P256_PKCS8_PREFIX.copy(der, 0);
    at += P256_SCALAR_BYTES - scalar.length; // the padding is already zero (Buffer.alloc)
    der.set(scalar, at);
    at += scalar.length;
    at += P256_PKCS8_POINT.copy(der, at);
    der.set(point, at);
    return der;
  }

  /** The key identifier of RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
  function keyIdentifier(subjectPublicKey: Uint8Array): Buffer {
    return nodeCrypto.createHash('sha1').update(subjectPublicKey).digest();
  }

  const SHA256_WITH_RSA = seq(oid('1.2.840.113549.1.1.11'), Buffer.from([0x05, 0x00]));
  const ECDSA_WITH_SHA256 = seq(oid('1.2.840.10045.4.3.2'));
  const ECDSA_WITH_SHA384 = seq(oid('1.2.840.10045.4.3.3'));
  const ECDSA_WITH_SHA512 = seq(oid('1.2.840.10045.4.3.4'));

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

  function authorityKeyIdExtension(issuerKeyId: Uint8Array): Buffer {
    return extension('2.5.29.35', false, seq(tlv(0x80, issuerKeyId)));
  }

  /** The extensions every SVID carries, in the order pki.ts writes them. */
  const VERSION_3 = tlv(0xa0, tlv(0x02, Buffer.from([0x02])));
  const BASIC_CONSTRAINTS_LEAF = extension('2.5.29.19', true, seq());
  /** digitalSignature only: the leaf key is ECDSA P-256 (keyEncipherment means RSA key transport). */
  const KEY_USAGE_DIGITAL_SIGNATURE = extension('2.5.29.15', true, bitString(Buffer.from([0x80]), 7));
  const EKU_SERVER_AND_CLIENT = extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'), oid('1.3.6.1.5.5.7.3.2')));
  const LEAF_EXTENSIONS_HEAD = Buffer.concat([BASIC_CONSTRAINTS_LEAF, KEY_USAGE_DIGITAL_SIGNATURE, EKU_SERVER_AND_CLIENT]);
  /** The subjectKeyIdentifier extension up to its 20-byte SHA-1. */
  const SKI_EXTENSION_HEADER = extension('2.5.29.14', false, octets(Buffer.alloc(20))).subarray(0, -20);
  const EMPTY_SUBJECT = seq();
  const SERIAL_BYTES = 16;
  const SERIAL_HEADER = Buffer.from([0x02, SERIAL_BYTES]);

  /** Serial numbers come from a block of random bytes, refilled every 256 certificates (one CSPRNG call instead of one each). */
  let serialPool: Buffer = Buffer.alloc(0);
  let serialAt = 0;

  /** 128 random bits with the top bit clear: a positive DER INTEGER of exactly 16 bytes (as pki.ts `randomSerialHex`). */
  function randomSerial(): Buffer {
    if (serialAt + SERIAL_BYTES > serialPool.length) {
      serialPool = nodeCrypto.randomBytes(SERIAL_BYTES * 256);
      serialAt = 0;
    }
    const serial = serialPool.subarray(serialAt, serialAt + SERIAL_BYTES);
    serialAt += SERIAL_BYTES;
    serial[0] = (serial[0] ?? 0) & 0x7f || 0x01;
    return serial;
  }

  /**
   * One ECDH context, reused: `generateKeys()` replaces its key pair with a fresh random one on
   * each call (EC_KEY_generate_key). The cheapest raw P-256 key pair Node offers: about 23 µs here,
   * against about 65 µs of CPU for `generateKeyPair` to KeyObjects plus about 30 µs for a JWK export.
   */
  let ecdh: crypto.ECDH | undefined;

  /** A fresh P-256 key: the public point for the certificate and the PKCS#8 PEM for the secret. */
  function generateP256(): { readonly point: Buffer; readonly keyPem: string } {
    ecdh ??= nodeCrypto.createECDH('prime256v1');
    const point = ecdh.generateKeys();
    const scalar = ecdh.getPrivateKey();
    const pkcs8 = p256Pkcs8Der(scalar, point);
    const keyPem = pem('PRIVATE KEY', pkcs8);
    scalar.fill(0);
    pkcs8.fill(0);
    return { point, keyPem };
  }

  /** Encoded SAN extensions kept per issuer (the proxies of one service share their SPIFFE IDs). */
  const SAN_CACHE_LIMIT = 4096;

  /** Signs SVIDs for one CA, synchronously. */
  function signer(template: IssuerTemplate): (notBeforeMs: number, notAfterMs: number, spiffeIds: readonly string[]) => SignedSvid {
    const { key, hash } = template;
    const algorithm = Buffer.from(template.signatureAlgorithm);
    const afterSerial = Buffer.concat([template.signatureAlgorithm, template.issuerName]);
    const authorityKeyId = Buffer.from(template.authorityKeyId);
    const sans = new Map<string, Buffer>();
    let validityKey = '';
    let validity: Buffer = Buffer.alloc(0);

    /** RFC 5280 §4.2.1.6: the subject is empty, so the SAN extension is critical. */
    function sanOf(spiffeIds: readonly string[]): Buffer {
      // A SPIFFE ID starts with "spiffe://", so a single one never equals a JSON array.
      const cacheKey = spiffeIds.length === 1 ? (spiffeIds[0] as string) : JSON.stringify(spiffeIds);
      let san = sans.get(cacheKey);
      if (san === undefined) {
        san = extension('2.5.29.17', true, seq(...spiffeIds.map((uri) => tlv(0x86, Buffer.from(uri, 'ascii')))));
        if (sans.size >= SAN_CACHE_LIMIT) sans.clear();
        sans.set(cacheKey, san);
      }
      return san;
    }

    /** Validity ::= SEQUENCE { notBefore, notAfter }: a burst within one second shares it. */
    function validityOf(notBeforeMs: number, notAfterMs: number): Buffer {
      const cacheKey = `${notBeforeMs}/${notAfterMs}`;
      if (cacheKey !== validityKey) {
        validity = seq(time(new Date(notBeforeMs)), time(new Date(notAfterMs)));
        validityKey = cacheKey;
      }
      return validity;
    }

    /**
     * The TBSCertificate (RFC 5280 §4.1.2) written into one buffer: version, serial, signature
     * algorithm, issuer, validity, empty subject, the P-256 SPKI, then the extensions
     * basicConstraints, keyUsage, extKeyUsage, subjectKeyIdentifier, subjectAltName, authorityKeyIdentifier.
     */
    function tbs(serial: Buffer, notBeforeMs: number, notAfterMs: number, point: Buffer, spiffeIds: readonly string[]): Buffer {
      const dates = validityOf(notBeforeMs, notAfterMs);
      const san = sanOf(spiffeIds);
      const keyId = keyIdentifier(point);
      const extensionsLength = LEAF_EXTENSIONS_HEAD.length + SKI_EXTENSION_HEADER.length + keyId.length + san.length + authorityKeyId.length;
      const extensionsSeqSize = headerSize(extensionsLength) + extensionsLength;
      const contentLength =
        VERSION_3.length +
        SERIAL_HEADER.length +
        serial.length +
        afterSerial.length +
        dates.length +
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
      at += afterSerial.copy(out, at);
      at += dates.copy(out, at);
      at += EMPTY_SUBJECT.copy(out, at);
      at += P256_SPKI_PREFIX.copy(out, at);
      at += point.copy(out, at);
      at = writeHeader(out, at, 0xa3, extensionsSeqSize);
      at = writeHeader(out, at, 0x30, extensionsLength);
      at += LEAF_EXTENSIONS_HEAD.copy(out, at);
      at += SKI_EXTENSION_HEADER.copy(out, at);
      at += keyId.copy(out, at);
      at += san.copy(out, at);
      at += authorityKeyId.copy(out, at);
      if (at !== out.length) throw new Error(`internal error: TBSCertificate is ${at} bytes, expected ${out.length}`);
      return out;
    }

    return (notBeforeMs, notAfterMs, spiffeIds) => {
      const { point, keyPem } = generateP256();
      const serial = randomSerial();
      const toBeSigned = tbs(serial, notBeforeMs, notAfterMs, point, spiffeIds);
      const signature = nodeCrypto.sign(hash, toBeSigned, key);
      // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
      const bitsLength = 1 + signature.length;
      const contentLength = toBeSigned.length + algorithm.length + headerSize(bitsLength) + bitsLength;
      const der = Buffer.allocUnsafe(headerSize(contentLength) + contentLength);
      let at = writeHeader(der, 0, 0x30, contentLength);
      at += toBeSigned.copy(der, at);
      at += algorithm.copy(der, at);
      at = writeHeader(der, at, 0x03, bitsLength);
      der[at++] = 0;
      signature.copy(der, at);
      return { certPem: pem('CERTIFICATE', der), keyPem, serialHex: serial.toString('hex') };
    };
  }

  return { p256SpkiDer, p256Pkcs8Der, keyIdentifier, signatureAlgorithm, authorityKeyIdExtension, signer };
}

export type SvidCore = ReturnType<typeof svidCore>;

/** The core on this thread: issuer set-up in svid.ts, and the key encodings for tests. */
export const localCore = svidCore(crypto);
export const { p256SpkiDer, p256Pkcs8Der } = localCore;
