/**
 * The `provided` backend (SPEC §1 Mesh, Kuma's provided CA): the user's CA certificate (a chain:
 * the signing CA first, then its issuers up to the root) and the signing CA's key, from a Secret,
 * inline base64 PEM, or a file. The material is checked with `checkProvidedCa` whenever the
 * resource set changes, so a Mesh that names a bad CA is rejected before it is served.
 *
 * A `secret` source names a Secret of the mesh: `cert` takes its `cert` PEM (a `tls-ca` or
 * `tls` Secret), `key` takes its `key` PEM (a `tls` Secret, as it is the only kind with a key).
 * One `tls` Secret holding the chain and the key serves both.
 */
import crypto from 'node:crypto';
import type { DataSource, ProvidedMtlsBackend, SecretResource } from '../../api/types.js';
import { checkProvidedCa } from '../provided-ca.js';
import { readCaFileFromDisk, type CaFileReader } from './ca-files.js';
import type { MaterialIssue } from '../secret-material.js';
import { svidWorkerPool, type SvidWorkerPool } from '../svid-workers.js';
import { caIdOf, caNotAfter, trustRootsOf, WorkloadIssuers } from './common.js';
import type { CaContext, CaProvider, CaValidation, IssuedIdentity, MeshCa, WorkloadCertificateRequest } from './types.js';

type Resolved = { readonly ok: true; readonly pem: string } | { readonly ok: false; readonly issue: MaterialIssue };

function findSecret(context: CaContext, mesh: string, name: string): SecretResource | undefined {
  for (const r of context.resources) if (r.type === 'Secret' && r.mesh === mesh && r.name === name) return r;
  return undefined;
}

function errnoOf(err: unknown): string {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : 'read error';
}

/** Reads one data source; paths are relative to the backend's `conf` (`cert.secret`, `key.inline`, ...). */
export function resolveDataSource(source: DataSource, field: 'cert' | 'key', mesh: string, context: CaContext): Resolved {
  if ('secret' in source) {
    const path = `${field}.secret`;
    const secret = findSecret(context, mesh, source.secret);
    if (!secret) return { ok: false, issue: { path, message: `secret "${source.secret}" not found in mesh "${mesh}"` } };
    // Kuma's own secret (`data: <base64>`): usually one for the certificate and one for the key;
    // one holding both serves both (the Kuma docs name one secret for cert and key).
    if (secret.secretType === 'generic') return genericSecretPem(Buffer.from(secret.key ?? '', 'base64').toString('utf8'), field, path, source.secret);
    if (field === 'cert') return { ok: true, pem: secret.cert };
    if (secret.key === undefined || secret.key.trim() === '') {
      return { ok: false, issue: { path, message: `secret "${source.secret}" is a ${secret.secretType} secret and holds no private key; put the CA certificate and its key in a tls secret` } };
    }
    return { ok: true, pem: secret.key };
  }
  if ('inline' in source) {
    const text = source.inline.trim();
    if (text.startsWith('-----BEGIN')) return { ok: true, pem: text };
    const decoded = Buffer.from(text.replace(/\s+/g, ''), 'base64').toString('utf8');
    if (!decoded.includes('-----BEGIN')) return { ok: false, issue: { path: `${field}.inline`, message: 'is not base64-encoded PEM' } };
    return { ok: true, pem: decoded };
  }
  try {
    return { ok: true, pem: (context.readFile ?? readCaFileFromDisk)(source.file, mesh) };
  } catch (err) {
    return { ok: false, issue: { path: `${field}.file`, message: `cannot read "${source.file}": ${errnoOf(err)}` } };
  }
}

function genericSecretPem(data: string, field: 'cert' | 'key', path: string, name: string): Resolved {
  const pattern = field === 'cert' ? /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g : /-----BEGIN ([A-Z ]*)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----/g;
  const blocks = data.match(pattern);
  if (!blocks) {
    const wanted = field === 'cert' ? 'PEM certificate' : 'PEM private key';
    return { ok: false, issue: { path, message: `secret "${name}" (data) holds no ${wanted}; its data must be the base64 of the PEM file` } };
  }
  return { ok: true, pem: `${blocks.join('\n')}\n` };
}

interface ProvidedMaterial {
  readonly certPem: string;
  readonly keyPem: string;
}

function resolveMaterial(mesh: string, backend: ProvidedMtlsBackend, context: CaContext): { material?: ProvidedMaterial; errors: MaterialIssue[] } {
  const cert = resolveDataSource(backend.conf.cert, 'cert', mesh, context);
  const key = resolveDataSource(backend.conf.key, 'key', mesh, context);
  const errors = [...(cert.ok ? [] : [cert.issue]), ...(key.ok ? [] : [key.issue])];
  if (!cert.ok || !key.ok) return { errors };
  return { material: { certPem: cert.pem, keyPem: key.pem }, errors };
}

export class ProvidedCaProvider implements CaProvider<ProvidedMtlsBackend> {
  readonly type = 'provided' as const;

  /**
   * `readFile`: how `file:` sources are read when the context does not say. `meshcp serve` passes
   * the content of the last accepted set (ca-files.ts), so a CA file that turns bad on disk is not
   * what its mesh signs with (pinned at its last good version). `svidWorkers`: the worker threads
   * that sign its workload certificates (the server's; by default the process's).
   */
  constructor(
    private readonly readFile: CaFileReader = readCaFileFromDisk,
    svidWorkers: SvidWorkerPool = svidWorkerPool(),
  ) {
    this.issuers = new WorkloadIssuers(svidWorkers);
  }

  validate(mesh: string, backend: ProvidedMtlsBackend, context: CaContext): CaValidation {
    const { material, errors } = resolveMaterial(mesh, backend, this.withReader(context));
    if (!material) return { errors, warnings: [] };
    return checkProvidedCa(material.certPem, material.keyPem, context.now);
  }

  materialKey(mesh: string, backend: ProvidedMtlsBackend, context: CaContext): string {
    const material = this.material(mesh, backend, this.withReader(context));
    const digest = crypto.createHash('sha256').update(material.certPem).update('\0').update(material.keyPem).digest('hex');
    return `provided/${mesh}/${backend.name}/${digest}`;
  }

  async initialize(mesh: string, backend: ProvidedMtlsBackend, context: CaContext): Promise<MeshCa> {
    const material = this.material(mesh, backend, this.withReader(context));
    const check = checkProvidedCa(material.certPem, material.keyPem, context.now);
    const [first] = check.errors;
    if (first) throw new Error(`Mesh/${mesh}: provided CA backend "${backend.name}": conf.${first.path}: ${first.message}`);
    const trustRoots = trustRootsOf(material.certPem);
    return {
      mesh,
      backend: backend.name,
      type: 'provided',
      certPem: material.certPem,
      keyPem: material.keyPem,
      trustRoots,
      id: caIdOf(material.certPem),
      notAfter: caNotAfter(material.certPem),
    };
  }

  /** This provider's loaded issuers, one per CA it made. */
  private readonly issuers: WorkloadIssuers;

  issue(ca: MeshCa, request: WorkloadCertificateRequest): Promise<IssuedIdentity> {
    return this.issuers.issue(ca, request);
  }

  trustRoots(ca: MeshCa): readonly string[] {
    return ca.trustRoots;
  }

  private withReader(context: CaContext): CaContext {
    return context.readFile ? context : { ...context, readFile: this.readFile };
  }

  private material(mesh: string, backend: ProvidedMtlsBackend, context: CaContext): ProvidedMaterial {
    const { material, errors } = resolveMaterial(mesh, backend, context);
    const [first] = errors;
    if (!material || first) throw new Error(`Mesh/${mesh}: provided CA backend "${backend.name}": conf.${first?.path ?? ''}: ${first?.message ?? 'unresolved'}`);
    return material;
  }
}
