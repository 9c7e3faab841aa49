/**
 * Fast SPIFFE X509-SVID issuance: the certificate is assembled from DER pieces and signed with
 * Node's native `crypto.sign`, instead of the general @peculiar/x509 path (WebCrypto, ASN.1
 * schema objects, a re-parse of the issuer for every certificate). Workload certificates are the
 * hot path of a cold start (every proxy of an mTLS mesh needs one at once): the
 * general path managed about 100 certificates/s, most of it outside the signature itself.
 *
 * Everything that is the same for every certificate of one CA (the issuer Name, the signature
 * algorithm, the authority key identifier, the constant extensions) is encoded once when the
 * issuer is loaded; per certificate only the serial, the validity, the key and the SANs vary.
 * The profile is exactly the one of `issueCertificate({ usage: 'workload' })` in pki.ts, which
 * test/ca/svid.test.ts checks field by field (and with `openssl verify`).
 *
 * Where the time goes (measured on the 2-core bench machine):
 * - No OpenSSL encoder per key. `generateKeyPair` with SPKI/PKCS#8 encodings managed about 4,000
 *   P-256 keys/s on both cores: OpenSSL 3's encoders cost several times the key generation. The key
 *   comes from a reused ECDH context as a raw scalar and point (about 23 µs), and its SPKI and
 *   PKCS#8 are fixed templates around them (RFC 5480, RFC 5915, RFC 5958).
 * - Everything per certificate (key, DER, signature, PEM) runs in worker threads, synchronously,
 *   in batches: about 90 µs of CPU per certificate with a P-256 CA (about 60 µs of it the key
 *   generation and the signature), against about 115 µs when the event loop generated keys and
 *   built DER around async `crypto.sign` calls on libuv's thread pool (a promise, a thread hop and
 *   a callback per signature, and the event loop itself, at about 55 µs per certificate, as the
 *   bottleneck). The event loop now spends about 10 µs per certificate: it queues requests and
 *   resolves results, a batch at a time.
 *
 * The per-certificate code is svid-core.ts, the worker threads svid-workers.ts; this module loads
 * a CA for them.
 *
 * DER (X.690) and the certificate structure (RFC 5280 §4.1); the SVID profile:
 * https://github.com/spiffe/spiffe/blob/main/standards/X509-SVID.md
 */
import { x509 } from './x509.js';
import { isSelfSigned } from './cert-info.js';
import { certificatesToPem, parsePrivateKey } from './pem.js';
import { checkedIssuerChain, type CaMaterial, type IssuedCertificate } from './pki.js';
import { localCore as core } from './svid-core.js';
import type { SvidWorkerPool } from './svid-workers.js';

/** Certificates made elsewhere may reach a peer whose clock is slightly behind ours (as pki.ts). */
const BACKDATE_MS = 60_000;
/** A CA loaded once for many SVIDs. */
export class SvidIssuer {
  private readonly issuerNotAfter: Date;
  /** The issuer's certificates that are not roots: sent after the leaf. */
  private readonly intermediatesPem: string;
  private readonly id: number;
  private readonly pool: SvidWorkerPool;

  /** `pool`: the worker threads that sign for it (the CA provider's). */
  constructor(ca: CaMaterial, pool: SvidWorkerPool) {
    const { chain, first, notAfter } = checkedIssuerChain(ca);
    const key = parsePrivateKey(ca.keyPem);
    const algorithm = core.signatureAlgorithm(key);
    const parsed = new x509.X509Certificate(first.raw);
    // RFC 5280 §4.2.1.1: the authority key identifier is the issuer's subject key identifier.
    const ski = parsed.getExtension(x509.SubjectKeyIdentifierExtension);
    const issuerKeyId =
      ski !== null ? Buffer.from(ski.keyId, 'hex') : core.keyIdentifier(subjectPublicKeyBits(first.publicKey.export({ type: 'spki', format: 'der' })));
    this.issuerNotAfter = notAfter;
    this.intermediatesPem = certificatesToPem(chain.filter((c) => !isSelfSigned(c)));
    this.pool = pool;
    // Copies: a Buffer may be a view into a shared 8 KiB pool, which postMessage would clone whole.
    this.id = pool.register(this, {
      key,
      hash: algorithm.hash,
      signatureAlgorithm: Uint8Array.from(algorithm.der),
      issuerName: new Uint8Array(parsed.subjectName.toArrayBuffer()),
      authorityKeyId: Uint8Array.from(core.authorityKeyIdExtension(issuerKeyId)),
    });
  }

  /** The last validity period handed out: a burst within one second shares its two Dates (per-proxy memory). */
  private lastValidity?: { readonly start: number; readonly seconds: number; readonly notBefore: Date; readonly notAfter: Date };

  private validity(start: number, seconds: number): { readonly notBefore: Date; readonly notAfter: Date } {
    const last = this.lastValidity;
    if (last?.start === start && last.seconds === seconds) return last;
    const requestedEnd = new Date(start + seconds * 1000);
    const notAfter = requestedEnd.getTime() > this.issuerNotAfter.getTime() ? this.issuerNotAfter : requestedEnd;
    this.lastValidity = { start, seconds, notBefore: new Date(start - BACKDATE_MS), notAfter };
    return this.lastValidity;
  }

  /**
   * A SPIFFE X509-SVID for `spiffeIds` with a fresh ECDSA P-256 key; its lifetime is capped at the
   * CA's own expiry. Made in a worker thread (key, DER, signature, PEM): the event loop only queues
   * the request and resolves the result.
   */
  async issue(spiffeIds: readonly string[], validitySeconds: number, now: Date): Promise<IssuedCertificate> {
    if (spiffeIds.length === 0) throw new Error('a workload certificate needs at least one spiffe:// URI SAN');
    const bad = spiffeIds.find((u) => !u.startsWith('spiffe://'));
    if (bad !== undefined) throw new Error(`workload URI SAN ${JSON.stringify(bad)} is not a spiffe:// ID`);
    if (!Number.isFinite(validitySeconds) || validitySeconds <= 0) throw new Error(`validity must be a positive duration, got ${validitySeconds}s`);
    const { notBefore, notAfter } = this.validity(Math.floor(now.getTime() / 1000) * 1000, Math.floor(validitySeconds));
    const svid = await this.pool.submit(this.id, notBefore.getTime(), notAfter.getTime(), [...spiffeIds]);
    return { certPem: svid.certPem, chainPem: svid.certPem + this.intermediatesPem, keyPem: svid.keyPem, serialHex: svid.serialHex, notBefore, notAfter };
  }
}

/** SubjectPublicKeyInfo ::= SEQUENCE { algorithm, subjectPublicKey BIT STRING }: the BIT STRING's bits. */
function subjectPublicKeyBits(spkiDer: Buffer): Buffer {
  const outer = header(spkiDer, 0);
  const algorithm = header(spkiDer, outer.start);
  const bits = header(spkiDer, algorithm.start + algorithm.length);
  // Skip the unused-bits byte.
  return spkiDer.subarray(bits.start + 1, bits.start + bits.length);
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
