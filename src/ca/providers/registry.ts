/**
 * Initialized mesh CAs, one per (mesh, backend, material). Initialization is asynchronous (a
 * builtin root is an RSA key generation and a store write) and deduplicated: every caller asking
 * for the same material while it is being prepared gets the same promise.
 */
import type { BuiltinMtlsBackend, MtlsBackend, Resource } from '../../api/types.js';
import { BuiltinCaProvider, MemoryBlobStore, type BlobStore } from './builtin.js';
import type { CaFileReader } from './ca-files.js';
import { ProvidedCaProvider } from './provided.js';
import { svidWorkerPool, type SvidWorkerPool } from '../svid-workers.js';
import { backendMaterialKey, initializeBackend, providerOf, type CaProviders, type IssuedIdentity, type MeshCa, type WorkloadCertificateRequest } from './types.js';

/**
 * `readCaFile`: how a provided CA's `file:` is read (serve: the last accepted content, ca-files.ts); the disk by default.
 * `svidWorkers`: the worker threads that sign workload certificates (serve: the runtime's); the process's by default.
 */
export function defaultCaProviders(store: BlobStore = new MemoryBlobStore(), readCaFile?: CaFileReader, svidWorkers: SvidWorkerPool = svidWorkerPool()): CaProviders {
  return { builtin: new BuiltinCaProvider(store, svidWorkers), provided: new ProvidedCaProvider(readCaFile, svidWorkers) };
}

export class MeshCaRegistry {
  private readonly byKey = new Map<string, Promise<MeshCa>>();
  private readonly ready = new Map<string, MeshCa>();

  constructor(
    readonly providers: CaProviders,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** The material key for a backend, or an Error when its material cannot be resolved. */
  keyOf(mesh: string, backend: MtlsBackend, resources: readonly Resource[]): string | Error {
    try {
      return backendMaterialKey(this.providers, mesh, backend, { resources, now: this.now() });
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  /** The CA for a backend, initializing it on first use. */
  ensure(mesh: string, backend: MtlsBackend, resources: readonly Resource[]): Promise<MeshCa> {
    const key = this.keyOf(mesh, backend, resources);
    if (key instanceof Error) return Promise.reject(key);
    let pending = this.byKey.get(key);
    if (!pending) {
      pending = initializeBackend(this.providers, mesh, backend, { resources, now: this.now() });
      this.byKey.set(key, pending);
      pending.then(
        (ca) => this.ready.set(key, ca),
        () => this.byKey.delete(key),
      );
    }
    return pending;
  }

  /** The CA for a material key, if it is initialized. */
  get(key: string): MeshCa | undefined {
    return this.ready.get(key);
  }

  /** Every initialized builtin CA (for `get secrets`). */
  builtinCas(): MeshCa[] {
    return [...this.ready.values()].filter((ca) => ca.type === 'builtin');
  }

  issue(ca: MeshCa, request: WorkloadCertificateRequest): Promise<IssuedIdentity> {
    return providerOf(this.providers, ca.type).issue(ca, request);
  }

  trustRoots(ca: MeshCa): readonly string[] {
    return providerOf(this.providers, ca.type).trustRoots(ca);
  }
}

/**
 * The builtin backend a mesh without mTLS uses to issue Gateway server certificates for Routes
 * without `tls.serverCertificate` (SPEC §1 Route). Stored like any builtin backend, as
 * `{mesh}.ca-builtin-cert-gateway-ca` / `{mesh}.ca-builtin-key-gateway-ca`.
 */
export const GATEWAY_CA_BACKEND: BuiltinMtlsBackend = {
  name: 'gateway-ca',
  type: 'builtin',
  mode: 'STRICT',
  dpCert: { rotation: { expiration: '30d', expirationSeconds: 30 * 86_400 } },
  conf: { caCert: { RSAbits: 2048, expiration: '10y', expirationSeconds: 10 * 365 * 86_400 } },
};
