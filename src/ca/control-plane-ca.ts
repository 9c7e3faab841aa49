/**
 * The control-plane CA and the xDS serving certificate (SPEC §2 "xDS is TLS by default").
 *
 * The CA (a self-signed root and its key) is kept in the data-directory store as one blob, written
 * once with `ifAbsent` like the builtin mesh CAs (providers/builtin.ts), so it survives restarts
 * and replicas sharing a store agree on one root. Its blob lives under `control-plane/`, a prefix
 * no mesh CA uses (those are `ca/...`).
 *
 * The serving certificate is issued from it for `localhost`, `127.0.0.1` and each
 * `--xds-hostname`, kept in memory only, and re-issued at 4/5 of its lifetime. grpc-js takes it
 * through a `CertificateProvider` (grpc-js `experimental.createCertificateProviderServerCredentials`),
 * which swaps the TLS context of the listening server without a restart.
 *
 * Private keys never leave this module except into the TLS stack: nothing here logs them.
 */
import { isIP } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { certificateInfo } from './cert-info.js';
import { keyMatchesCertificate } from './pem.js';
import { createRootCa, issueCertificate, type CaMaterial } from './pki.js';
import type { BlobStore } from './providers/builtin.js';

type CertificateProvider = grpc.experimental.CertificateProvider;
type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;
type CaListener = grpc.experimental.CaCertificateUpdateListener;

export const CONTROL_PLANE_CA_BLOB = 'control-plane/ca.json';

/** Ten years, as Kuma's builtin CA: rotating it means re-bootstrapping every proxy. */
const CA_VALIDITY_SECONDS = 10 * 365 * 24 * 3600;
/** The serving certificate lives a day and is replaced at 4/5 of that (about every 19h). */
export const SERVING_CERT_VALIDITY_SECONDS = 24 * 3600;
const ROTATE_AT_FRACTION = 0.8;

interface StoredControlPlaneCa {
  readonly format: 1;
  readonly certPem: string;
  readonly keyPem: string;
  readonly creationTime: string;
}

function parseStored(data: Buffer): StoredControlPlaneCa {
  const corrupt = (why: string): Error =>
    new Error(`control-plane CA ${CONTROL_PLANE_CA_BLOB} in the data directory is unreadable (${why}); restore it from a backup, or delete it to create a new CA and re-bootstrap every proxy`);
  let doc: unknown;
  try {
    doc = JSON.parse(data.toString('utf8'));
  } catch {
    throw corrupt('not JSON');
  }
  const o = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<string, unknown>;
  const { certPem, keyPem, creationTime } = o;
  if (o['format'] !== 1 || typeof certPem !== 'string' || typeof keyPem !== 'string' || typeof creationTime !== 'string') throw corrupt('missing fields');
  let matches: boolean;
  try {
    matches = keyMatchesCertificate(keyPem, certPem);
  } catch {
    throw corrupt('malformed PEM');
  }
  if (!matches) throw corrupt('the key does not match the certificate');
  return { format: 1, certPem, keyPem, creationTime };
}

/** The stored control-plane CA, created on first use. Two processes racing agree on the first one written. */
export async function loadOrCreateControlPlaneCa(store: BlobStore, now: Date = new Date()): Promise<CaMaterial> {
  const existing = await store.getBlob(CONTROL_PLANE_CA_BLOB);
  if (existing) return parseStored(existing);
  const ca = await createRootCa({ commonName: 'meshcp control plane CA', validitySeconds: CA_VALIDITY_SECONDS, now });
  const stored: StoredControlPlaneCa = { format: 1, certPem: ca.certPem, keyPem: ca.keyPem, creationTime: now.toISOString() };
  await store.putBlob(CONTROL_PLANE_CA_BLOB, JSON.stringify(stored), { ifAbsent: true });
  const winner = await store.getBlob(CONTROL_PLANE_CA_BLOB);
  if (!winner) throw new Error(`control-plane CA ${CONTROL_PLANE_CA_BLOB} vanished from the data directory right after it was written`);
  return parseStored(winner);
}

export interface ServingCertLogger {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface XdsServingCertificateOptions {
  readonly ca: CaMaterial;
  /** Names besides `localhost` and `127.0.0.1`: DNS names or IP addresses. */
  readonly hostnames?: readonly string[];
  readonly validitySeconds?: number;
  readonly now?: () => Date;
  /** Timer used to schedule rotation (tests inject one they fire by hand). Returns a cancel function. */
  readonly setTimer?: (fn: () => void, ms: number) => () => void;
  readonly log?: ServingCertLogger;
}

export interface ServingCertificate {
  readonly certPem: string;
  readonly keyPem: string;
  readonly serialHex: string;
  readonly notAfter: Date;
}

const realTimer = (fn: () => void, ms: number): (() => void) => {
  // setTimeout caps at 2^31-1 ms; a longer wait is re-armed by rotate's own scheduling.
  const t = setTimeout(fn, Math.min(ms, 2 ** 31 - 1));
  t.unref();
  return () => clearTimeout(t);
};

/** The SANs of the serving certificate: `localhost`, `127.0.0.1`, then each hostname, split into DNS and IP. */
export function servingNames(hostnames: readonly string[] = []): { dnsNames: string[]; ipAddresses: string[] } {
  const all = ['localhost', '127.0.0.1', ...hostnames.map((h) => h.trim()).filter((h) => h !== '')];
  const unique = [...new Set(all)];
  return { dnsNames: unique.filter((n) => isIP(n) === 0), ipAddresses: unique.filter((n) => isIP(n) !== 0) };
}

/**
 * A rotating xDS serving certificate, as a grpc-js certificate provider. `start()` issues the first
 * one; every listener gets the current one (asynchronously: grpc-js registers its TLS context
 * watcher only after subscribing to the provider) and every later rotation.
 */
export class XdsServingCertificate implements CertificateProvider {
  private current: ServingCertificate | undefined;
  private readonly listeners = new Set<IdentityListener>();
  private cancelTimer: (() => void) | undefined;
  private closed = false;
  private rotations = 0;

  constructor(private readonly options: XdsServingCertificateOptions) {}

  async start(): Promise<ServingCertificate> {
    return this.rotate();
  }

  /** The certificate being served (never its key), or undefined before start. */
  certificate(): Omit<ServingCertificate, 'keyPem'> | undefined {
    if (!this.current) return undefined;
    const { certPem, serialHex, notAfter } = this.current;
    return { certPem, serialHex, notAfter };
  }

  /** How many times a certificate was issued after the first. */
  rotationCount(): number {
    return this.rotations;
  }

  /** Issues a new certificate now and hands it to grpc-js; the next rotation is scheduled from it. */
  async rotate(): Promise<ServingCertificate> {
    const now = this.options.now?.() ?? new Date();
    const { dnsNames, ipAddresses } = servingNames(this.options.hostnames);
    const issued = await issueCertificate({
      issuer: this.options.ca,
      commonName: 'meshcp xds',
      dnsNames,
      ipAddresses,
      usage: 'server',
      validitySeconds: this.options.validitySeconds ?? SERVING_CERT_VALIDITY_SECONDS,
      now,
    });
    const next: ServingCertificate = { certPem: issued.certPem, keyPem: issued.keyPem, serialHex: issued.serialHex, notAfter: issued.notAfter };
    if (this.closed) return next;
    const previous = this.current;
    this.current = next;
    if (previous) this.rotations += 1;
    this.options.log?.info(
      { serial: next.serialHex, notAfter: next.notAfter.toISOString(), dnsNames, ipAddresses, ...(previous ? { previousSerial: previous.serialHex } : {}) },
      previous ? 'rotated the xDS serving certificate' : 'issued the xDS serving certificate',
    );
    for (const listener of this.listeners) listener(this.update(next));
    this.schedule(now, next);
    return next;
  }

  close(): void {
    this.closed = true;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.listeners.add(listener);
    const current = this.current;
    if (current) {
      queueMicrotask(() => {
        if (this.listeners.has(listener) && this.current === current) listener(this.update(current));
      });
    }
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.listeners.delete(listener);
  }

  // The server verifies no client certificate here: proxies authenticate with their token (SPEC §2).
  addCaCertificateListener(_listener: CaListener): void {}
  removeCaCertificateListener(_listener: CaListener): void {}

  private update(cert: ServingCertificate): grpc.experimental.IdentityCertificateUpdate {
    return { certificate: Buffer.from(cert.certPem), privateKey: Buffer.from(cert.keyPem) };
  }

  private schedule(now: Date, cert: ServingCertificate): void {
    this.cancelTimer?.();
    const lifetime = cert.notAfter.getTime() - now.getTime();
    const delay = Math.max(1000, lifetime * ROTATE_AT_FRACTION);
    const setTimer = this.options.setTimer ?? realTimer;
    this.cancelTimer = setTimer(() => {
      this.rotate().catch((err: unknown) => {
        // Keep serving the current certificate; try again in a minute.
        this.options.log?.error({ err: err instanceof Error ? err.message : String(err) }, 'cannot rotate the xDS serving certificate; retrying in 60s');
        this.cancelTimer = setTimer(() => void this.rotate().catch(() => undefined), 60_000);
      });
    }, delay);
  }
}

/** A fixed, user-provided serving certificate (`--xds-tls-cert/--xds-tls-key`), re-read from its files periodically. */
export function fileServerCredentials(certFile: string, keyFile: string, refreshMs = 60_000): grpc.ServerCredentials {
  const provider = new grpc.experimental.FileWatcherCertificateProvider({ certificateFile: certFile, privateKeyFile: keyFile, refreshIntervalMs: refreshMs });
  // grpc-js names the first argument caCertificateProvider, but its constructor takes the identity provider first.
  return grpc.experimental.createCertificateProviderServerCredentials(provider, null, false);
}

export function providerServerCredentials(provider: CertificateProvider): grpc.ServerCredentials {
  return grpc.experimental.createCertificateProviderServerCredentials(provider, null, false);
}

/** Checks a user-provided serving certificate before the server starts: one line naming the file and the fix. */
export function checkServingFiles(certPem: string, keyPem: string, certFile: string, keyFile: string): void {
  let matches: boolean;
  try {
    certificateInfo(certPem);
  } catch (err) {
    throw new Error(`--xds-tls-cert "${certFile}": not a PEM certificate (${err instanceof Error ? err.message : String(err)})`);
  }
  try {
    matches = keyMatchesCertificate(keyPem, certPem);
  } catch {
    throw new Error(`--xds-tls-key "${keyFile}": not a PEM private key`);
  }
  if (!matches) throw new Error(`--xds-tls-key "${keyFile}" does not match the certificate in --xds-tls-cert "${certFile}"`);
}
