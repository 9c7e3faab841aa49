/**
 * Server certificates meshcp issues for Gateway Route hosts that name no `tls.serverCertificate`
 * (SPEC §1 Route). Generation asks synchronously; the first ask starts the issuance and returns
 * nothing (the host is left out, failing closed), and `changed(mesh, host)` asks for a regeneration
 * once the certificate is ready. They are rotated at 4/5 of their lifetime, and re-issued when
 * the mesh CA changes. Keys are held in memory only.
 */
import type { IssuedServerCertificate } from '../ca/workload-identity.js';
import { issueCertificate } from '../ca/pki.js';
import type { MeshCa } from '../ca/providers/types.js';
import { rotationDelayMs } from './rotation.js';
import type { Clock, Scheduler } from './time.js';

export interface ServerCertificateIssuer {
  /**
   * The CA to issue from and the lifetime; `'pending'` while the CA is being initialized (a
   * `changed` follows); undefined when there is none to be had.
   */
  caFor(mesh: string): { readonly ca: MeshCa; readonly validitySeconds: number } | 'pending' | undefined;
}

export interface ServerCertificatesOptions {
  readonly issuer: ServerCertificateIssuer;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly random: () => number;
  readonly log: { info(obj: object, msg: string): void; error(obj: object, msg: string): void };
  /** Called when a mesh's issued certificate for `host` changed (issued, or due): its gateways must be generated again. */
  readonly changed: (mesh: string, host: string) => void;
}

interface Entry {
  cert?: IssuedServerCertificate & { readonly caId: string; readonly notAfter: Date };
  /** The CA id an issuance is running for. */
  issuing?: string;
  /** Due for rotation. */
  stale: boolean;
  /** The CA was being initialized at the last ask. */
  awaitingCa: boolean;
  cancel?: () => void;
}

export class IssuedServerCertificates {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly options: ServerCertificatesOptions) {}

  get(mesh: string, host: string): IssuedServerCertificate | undefined {
    const key = `${mesh}\n${host.toLowerCase()}`;
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { stale: false, awaitingCa: false };
      this.entries.set(key, entry);
    }
    const found = this.options.issuer.caFor(mesh);
    entry.awaitingCa = found === 'pending';
    const source = found === 'pending' ? undefined : found;
    if (source && entry.issuing !== source.ca.id && (entry.cert === undefined || entry.stale || entry.cert.caId !== source.ca.id)) {
      this.issue(key, entry, mesh, host, source.ca, source.validitySeconds);
    }
    const cert = this.validCertificate(entry);
    return cert ? { certPem: cert.certPem, keyPem: cert.keyPem } : undefined;
  }

  /**
   * True while the host has no valid certificate but one is on its way (its issuance, or its
   * CA's initialization, is running). A failed issuance is not pending: the host fails closed.
   */
  pending(mesh: string, host: string): boolean {
    const entry = this.entries.get(`${mesh}\n${host.toLowerCase()}`);
    if (!entry || this.validCertificate(entry)) return false;
    return entry.issuing !== undefined || entry.awaitingCa;
  }

  /**
   * The certificate a host is served with, without its key and without starting an issuance (a
   * read for the admin API: `get` issues on first ask).
   */
  peek(mesh: string, host: string): { readonly certPem: string; readonly notAfter: Date } | undefined {
    const entry = this.entries.get(`${mesh}\n${host.toLowerCase()}`);
    const cert = entry ? this.validCertificate(entry) : undefined;
    return cert ? { certPem: cert.certPem, notAfter: cert.notAfter } : undefined;
  }

  /** Until its replacement is ready, a certificate is served as long as it is valid. */
  private validCertificate(entry: Entry): Entry['cert'] {
    const cert = entry.cert;
    return cert && cert.notAfter.getTime() > this.options.clock.now().getTime() ? cert : undefined;
  }

  close(): void {
    for (const entry of this.entries.values()) entry.cancel?.();
    this.entries.clear();
  }

  private issue(key: string, entry: Entry, mesh: string, host: string, ca: MeshCa, validitySeconds: number): void {
    entry.issuing = ca.id;
    const now = this.options.clock.now();
    issueCertificate({ issuer: { certPem: ca.certPem, keyPem: ca.keyPem }, dnsNames: [host], usage: 'server', validitySeconds, now }).then(
      (issued) => {
        if (this.entries.get(key) !== entry || entry.issuing !== ca.id) return;
        entry.issuing = undefined;
        entry.stale = false;
        entry.cert = { certPem: issued.chainPem, keyPem: issued.keyPem, caId: ca.id, notAfter: issued.notAfter };
        entry.cancel?.();
        const delay = rotationDelayMs(now, issued.notAfter, this.options.random);
        entry.cancel = this.options.scheduler.schedule(delay - (this.options.clock.now().getTime() - now.getTime()), () => {
          entry.stale = true;
          this.options.changed(mesh, host);
        });
        this.options.log.info({ mesh, host, serial: issued.serialHex, notAfter: issued.notAfter.toISOString(), backend: ca.backend }, 'issued a gateway server certificate');
        this.options.changed(mesh, host);
      },
      (err: unknown) => {
        if (entry.issuing === ca.id) entry.issuing = undefined;
        this.options.log.error({ mesh, host, err: err instanceof Error ? err.message : String(err) }, 'cannot issue a gateway server certificate');
      },
    );
  }
}
