/**
 * The `builtin` backend (SPEC §1 Mesh, Kuma's builtin CA): a self-signed RSA root generated once
 * per (mesh, backend), honouring `conf.caCert.RSAbits` and `expiration`, and kept in the store
 * so it survives restarts. Its certificate and key are what Kuma calls the Secrets
 * `{mesh}.ca-builtin-cert-{backend}` and `{mesh}.ca-builtin-key-{backend}`; here they are one
 * blob, written once with `ifAbsent`, so the certificate and its key can never be torn apart by a
 * crash, and two replicas starting together agree on one root.
 *
 * Blob names. They used to be `ca/{mesh}.ca-builtin-{backend}.json`,
 * which is ambiguous: mesh `a` with backend `b.ca-builtin-c` and mesh `a.ca-builtin-b` with backend
 * `c` shared one root key. A blob is now named by a hash of the length-prefixed pair, which is
 * unambiguous and of bounded length (names may be 253 characters). An old blob is still used when
 * the mesh and backend recorded inside it are the ones asked for, which is exactly the case
 * where the old name was not ambiguous; otherwise it belongs to the other pair and is left alone.
 *
 * A later change of `RSAbits` or `expiration` does not regenerate an existing root (as in Kuma):
 * a new root would invalidate every certificate in the mesh. Use a new backend to rotate the CA.
 */
import crypto from 'node:crypto';
import type { BuiltinMtlsBackend } from '../../api/types.js';
import { isoSeconds } from '../cert-info.js';
import { keyMatchesCertificate } from '../pem.js';
import { createRootCa } from '../pki.js';
import type { Store } from '../../store/store.js';
import { svidWorkerPool, type SvidWorkerPool } from '../svid-workers.js';
import { caIdOf, caNotAfter, trustRootsOf, WorkloadIssuers } from './common.js';
import type { CaContext, CaProvider, CaValidation, IssuedIdentity, MeshCa, WorkloadCertificateRequest } from './types.js';

/** Where builtin CA material is kept: the data directory store, or memory (MemoryBlobStore). */
export type BlobStore = Pick<Store, 'putBlob' | 'getBlob'>;

/**
 * For CA providers without a data directory: the validation providers (sources/validate.ts), which
 * never make a CA, and a control plane made without a store; a CA made here lives as long as the process.
 */
export class MemoryBlobStore implements BlobStore {
  private readonly blobs = new Map<string, Buffer>();

  async putBlob(name: string, data: string | Uint8Array, options: { ifAbsent?: boolean } = {}): Promise<boolean> {
    if (options.ifAbsent && this.blobs.has(name)) return false;
    this.blobs.set(name, Buffer.from(data));
    return true;
  }

  async getBlob(name: string): Promise<Buffer | undefined> {
    return this.blobs.get(name);
  }
}

/** Kuma's Secret names for builtin CA material (SPEC §1 Mesh). */
export function builtinCaCertSecretName(mesh: string, backend: string): string {
  return `${mesh}.ca-builtin-cert-${backend}`;
}

export function builtinCaKeySecretName(mesh: string, backend: string): string {
  return `${mesh}.ca-builtin-key-${backend}`;
}

export function builtinCaBlobName(mesh: string, backend: string): string {
  const digest = crypto.createHash('sha256').update(`${mesh.length}:${mesh}\n${backend.length}:${backend}`).digest('hex');
  return `ca/builtin/${digest}.json`;
}

/** The layout before the hashed names; only ever written when its file name fit (see legacyBlob). */
export function legacyBuiltinCaBlobName(mesh: string, backend: string): string {
  return `ca/${mesh}.ca-builtin-${backend}.json`;
}

/** The longest file name the old layout could write: its temporary file `.tmp-{name}.{12 hex}` had to fit in 255 bytes. */
const LEGACY_MAX_FILE_NAME = 255 - '.tmp-'.length - 13;

interface StoredBuiltinCa {
  readonly format: 1;
  readonly mesh: string;
  readonly backend: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly creationTime: string;
}

function parseStored(data: Buffer, blob: string): StoredBuiltinCa {
  const corrupt = (why: string): Error =>
    new Error(`builtin CA material ${blob} in the store is unreadable (${why}); restore it from a backup, or switch the mesh to a new backend`);
  let doc: unknown;
  try {
    doc = JSON.parse(data.toString('utf8'));
  } catch {
    throw corrupt('not JSON');
  }
  if (typeof doc !== 'object' || doc === null) throw corrupt('not an object');
  const o = doc as Record<string, unknown>;
  const { mesh, backend, certPem, keyPem, creationTime } = o;
  if (o['format'] !== 1 || typeof mesh !== 'string' || typeof backend !== 'string' || typeof certPem !== 'string' || typeof keyPem !== 'string' || typeof creationTime !== 'string') {
    throw corrupt('missing fields');
  }
  try {
    if (!keyMatchesCertificate(keyPem, certPem)) throw corrupt('the key does not match the certificate');
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('builtin CA material')) throw err;
    throw corrupt('malformed PEM');
  }
  return { format: 1, mesh, backend, certPem, keyPem, creationTime };
}

function toMeshCa(stored: StoredBuiltinCa): MeshCa {
  const trustRoots = trustRootsOf(stored.certPem);
  return {
    mesh: stored.mesh,
    backend: stored.backend,
    type: 'builtin',
    certPem: stored.certPem,
    keyPem: stored.keyPem,
    trustRoots,
    id: caIdOf(stored.certPem),
    creationTime: stored.creationTime,
    notAfter: caNotAfter(stored.certPem),
  };
}

export class BuiltinCaProvider implements CaProvider<BuiltinMtlsBackend> {
  readonly type = 'builtin' as const;
  /** One generation at a time per blob within this process; the store's ifAbsent covers other processes. */
  private readonly pending = new Map<string, Promise<MeshCa>>();

  /** `svidWorkers`: the worker threads that sign its workload certificates (the server's; by default the process's). */
  constructor(
    private readonly store: BlobStore,
    svidWorkers: SvidWorkerPool = svidWorkerPool(),
  ) {
    this.issuers = new WorkloadIssuers(svidWorkers);
  }

  validate(): CaValidation {
    // Everything about a builtin backend is checked when the Mesh is parsed (RSAbits, durations).
    return { errors: [], warnings: [] };
  }

  materialKey(mesh: string, backend: BuiltinMtlsBackend): string {
    return `builtin/${mesh}/${backend.name}`;
  }

  initialize(mesh: string, backend: BuiltinMtlsBackend, context: CaContext): Promise<MeshCa> {
    const blob = builtinCaBlobName(mesh, backend.name);
    let pending = this.pending.get(blob);
    if (!pending) {
      pending = this.loadOrCreate(mesh, backend, context.now, blob);
      this.pending.set(blob, pending);
      // A failure is retried on the next call; a success stays cached (the blob never changes).
      pending.catch(() => this.pending.delete(blob));
    }
    return pending;
  }

  /** The stored CA, without creating one. */
  async load(mesh: string, backend: string): Promise<MeshCa | undefined> {
    const stored = await this.read(mesh, backend);
    return stored ? toMeshCa(stored) : undefined;
  }

  /** The stored material for exactly (mesh, backend): under its hashed name, or an old-layout blob recorded for that pair. */
  private async read(mesh: string, backend: string): Promise<StoredBuiltinCa | undefined> {
    const blob = builtinCaBlobName(mesh, backend);
    const data = await this.store.getBlob(blob);
    if (data) {
      const stored = parseStored(data, blob);
      if (stored.mesh !== mesh || stored.backend !== backend) {
        throw new Error(`builtin CA material ${blob} in the store belongs to mesh "${stored.mesh}" backend "${stored.backend}", not mesh "${mesh}" backend "${backend}"; restore it from a backup`);
      }
      return stored;
    }
    const legacy = legacyBuiltinCaBlobName(mesh, backend);
    if (legacy.slice('ca/'.length).length > LEGACY_MAX_FILE_NAME) return undefined;
    const old = await this.store.getBlob(legacy);
    if (!old) return undefined;
    const stored = parseStored(old, legacy);
    return stored.mesh === mesh && stored.backend === backend ? stored : undefined;
  }

  /** This provider's loaded issuers, one per CA it made. */
  private readonly issuers: WorkloadIssuers;

  issue(ca: MeshCa, request: WorkloadCertificateRequest): Promise<IssuedIdentity> {
    return this.issuers.issue(ca, request);
  }

  trustRoots(ca: MeshCa): readonly string[] {
    return ca.trustRoots;
  }

  private async loadOrCreate(mesh: string, backend: BuiltinMtlsBackend, now: Date, blob: string): Promise<MeshCa> {
    const existing = await this.read(mesh, backend.name);
    if (existing) return toMeshCa(existing);
    const { caCert } = backend.conf;
    const root = await createRootCa({
      commonName: `meshcp ${mesh} CA (${backend.name})`,
      ...(caCert.keyType === 'ECDSA' ? { keyType: 'ecdsa-p256' as const } : { rsaBits: caCert.RSAbits }),
      validitySeconds: caCert.expirationSeconds,
      now,
      // The SPIFFE trust domain of the mesh.
      uris: [`spiffe://${mesh}`],
    });
    const stored: StoredBuiltinCa = { format: 1, mesh, backend: backend.name, certPem: root.certPem, keyPem: root.keyPem, creationTime: isoSeconds(now) };
    const written = await this.store.putBlob(blob, `${JSON.stringify(stored, null, 2)}\n`, { ifAbsent: true });
    if (written) return toMeshCa(stored);
    // Another process created it first: theirs is the one every proxy must trust.
    const winner = await this.store.getBlob(blob);
    if (!winner) throw new Error(`builtin CA ${blob} vanished from the store while being created`);
    return toMeshCa(parseStored(winner, blob));
  }
}
