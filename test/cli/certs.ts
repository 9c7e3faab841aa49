/** Test PKI for the admin API and CLI tests, written as PEM files (src/ca/pki.ts makes them). */
import fs from 'node:fs';
import path from 'node:path';
import { createRootCa, issueCertificate } from '../../src/ca/pki.js';

const DAY = 86_400;

export interface TestPki {
  readonly dir: string;
  /** A root CA (tls-ca material). */
  readonly caCert: string;
  readonly caKey: string;
  /** A client/server leaf signed by the CA, and its key. */
  readonly leafCert: string;
  readonly leafKey: string;
  /** A key that matches no certificate here. */
  readonly otherKey: string;
  /** A CA certificate that expired a year ago. */
  readonly expiredCaCert: string;
  /** Not PEM at all. */
  readonly malformedPem: string;
  /** PEM text of each, for inline YAML. */
  readonly pem: Readonly<Record<'caCert' | 'caKey' | 'leafCert' | 'leafKey' | 'otherKey' | 'expiredCaCert', string>>;
}

let cached: Promise<Omit<TestPki, 'dir' | 'caCert' | 'caKey' | 'leafCert' | 'leafKey' | 'otherKey' | 'expiredCaCert' | 'malformedPem'>> | undefined;

function material(): NonNullable<typeof cached> {
  cached ??= (async () => {
    const ca = await createRootCa({ commonName: 'Test Root CA', validitySeconds: 365 * DAY });
    const leaf = await issueCertificate({ issuer: ca, commonName: 'client.acme.org', dnsNames: ['client.acme.org'], usage: 'both', validitySeconds: 90 * DAY });
    const other = await issueCertificate({ issuer: ca, commonName: 'other.acme.org', usage: 'client', validitySeconds: 90 * DAY });
    const past = new Date(Date.now() - 3 * 365 * DAY * 1000);
    const expired = await createRootCa({ commonName: 'Expired CA', validitySeconds: 365 * DAY, now: past });
    return { pem: { caCert: ca.certPem, caKey: ca.keyPem, leafCert: leaf.certPem, leafKey: leaf.keyPem, otherKey: other.keyPem, expiredCaCert: expired.certPem } };
  })();
  return cached;
}

export async function writeTestPki(dir: string): Promise<TestPki> {
  const { pem } = await material();
  fs.mkdirSync(dir, { recursive: true });
  const write = (name: string, text: string): string => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };
  return {
    dir,
    caCert: write('ca.pem', pem.caCert),
    caKey: write('ca.key', pem.caKey),
    leafCert: write('leaf.pem', pem.leafCert),
    leafKey: write('leaf.key', pem.leafKey),
    otherKey: write('other.key', pem.otherKey),
    expiredCaCert: write('expired-ca.pem', pem.expiredCaCert),
    malformedPem: write('malformed.pem', '-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n'),
    pem,
  };
}
