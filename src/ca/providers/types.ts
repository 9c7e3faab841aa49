/**
 * The mesh CA as a provider interface keyed by backend type (DESIGN.md, Kuma's
 * `IdentityProvider`): `validate` a backend's configuration, `initialize` it into signing
 * material, `issue` workload certificates from it, and name the `trustRoots` peers must hold.
 */
import type { BuiltinMtlsBackend, MtlsBackend, ProvidedMtlsBackend, Resource } from '../../api/types.js';
import type { MaterialIssue } from '../secret-material.js';
import type { CaFileReader } from './ca-files.js';
import type { WorkloadIdentity } from '../workload-identity.js';

/** An initialized mesh CA: what signs the workload certificates of one (mesh, backend). */
export interface MeshCa {
  readonly mesh: string;
  readonly backend: string;
  readonly type: MtlsBackend['type'];
  /** The signing CA first, then its issuers up to the root (the `provided` chain order). */
  readonly certPem: string;
  /** The signing CA's private key. Never logged, never served to a proxy. */
  readonly keyPem: string;
  /** The roots peers must trust for certificates this CA issues, as PEM (one certificate each). */
  readonly trustRoots: readonly string[];
  /**
   * Identifies the material: the SHA-256 fingerprint (hex) of the signing CA certificate.
   * Two backends with the same material are the same CA; a provided CA whose secret changes is a new one.
   */
  readonly id: string;
  /** ISO 8601; when a builtin CA was generated (the AGE of its Secrets). */
  readonly creationTime?: string;
  /** Expiry of the signing CA certificate. */
  readonly notAfter: Date;
}

/** What a provider may look at besides the backend: Secret resources of the mesh, and the time. */
export interface CaContext {
  readonly resources: readonly Resource[];
  readonly now: Date;
  /**
   * How a provided CA's `file:` is read: a validation reads the disk (and records what it read),
   * serving reads the content of the last accepted set (ca-files.ts). The provider's own reader
   * when absent.
   */
  readonly readFile?: CaFileReader;
}

/** Problems with paths relative to the backend's `conf` (`cert`, `cert[1]`, `key`, `cert.secret`). */
export interface CaValidation {
  readonly errors: readonly MaterialIssue[];
  readonly warnings: readonly MaterialIssue[];
}

export interface WorkloadCertificateRequest {
  /** `spiffe://<mesh>/<service>`, one per service the proxy serves. */
  readonly spiffeIds: readonly string[];
  readonly validitySeconds: number;
  readonly now: Date;
}

/** A workload certificate, with what the rotation logic needs to know about it. */
export interface IssuedIdentity extends WorkloadIdentity {
  /** The {@link MeshCa.id} of the CA that signed it. */
  readonly caId: string;
  readonly backend: string;
  readonly issuedAt: Date;
  readonly notBefore: Date;
}

export interface CaProvider<B extends MtlsBackend> {
  readonly type: B['type'];
  /** Synchronous and side-effect free: runs on every change of the resource set. */
  validate(mesh: string, backend: B, context: CaContext): CaValidation;
  /**
   * What identifies the material `initialize` would return now: equal keys, equal CA. Throws
   * when the material cannot be resolved (validation reports why).
   */
  materialKey(mesh: string, backend: B, context: CaContext): string;
  initialize(mesh: string, backend: B, context: CaContext): Promise<MeshCa>;
  issue(ca: MeshCa, request: WorkloadCertificateRequest): Promise<IssuedIdentity>;
  trustRoots(ca: MeshCa): readonly string[];
}

export interface CaProviders {
  readonly builtin: CaProvider<BuiltinMtlsBackend>;
  readonly provided: CaProvider<ProvidedMtlsBackend>;
}

/** Dispatch by backend type, keeping the backend's type narrowed for the provider. */
export function validateBackend(providers: CaProviders, mesh: string, backend: MtlsBackend, context: CaContext): CaValidation {
  return backend.type === 'builtin' ? providers.builtin.validate(mesh, backend, context) : providers.provided.validate(mesh, backend, context);
}

export function backendMaterialKey(providers: CaProviders, mesh: string, backend: MtlsBackend, context: CaContext): string {
  return backend.type === 'builtin' ? providers.builtin.materialKey(mesh, backend, context) : providers.provided.materialKey(mesh, backend, context);
}

export function initializeBackend(providers: CaProviders, mesh: string, backend: MtlsBackend, context: CaContext): Promise<MeshCa> {
  return backend.type === 'builtin' ? providers.builtin.initialize(mesh, backend, context) : providers.provided.initialize(mesh, backend, context);
}

export function providerOf(providers: CaProviders, type: MtlsBackend['type']): CaProvider<MtlsBackend> {
  return (type === 'builtin' ? providers.builtin : providers.provided) as CaProvider<MtlsBackend>;
}
