/**
 * The seam between the CA side (issuance, rotation, trust bundles; src/ca, src/identity) and
 * generation (src/generate). Generation stays a pure function of the model and this material;
 * the runtime re-generates a proxy's config when its material changes.
 */

/** A proxy's current workload certificate (X509-SVID): URI SANs `spiffe://<mesh>/<service>`. */
export interface WorkloadIdentity {
  /** The leaf first, then any intermediates up to (not including) the root. */
  readonly certChainPem: string;
  readonly keyPem: string;
  readonly spiffeIds: readonly string[];
  readonly serialHex: string;
  readonly notAfter: Date;
}

/** A server certificate issued by the mesh CA for a Gateway Route host (identity/server-certificates.ts). */
export interface IssuedServerCertificate {
  /** The leaf first, then any intermediates. */
  readonly certPem: string;
  readonly keyPem: string;
}

export interface MeshTlsMaterial {
  /** This proxy's workload certificate, or undefined while none has been issued yet. */
  identity(mesh: string, proxyName: string): WorkloadIdentity | undefined;
  /**
   * PEM bundle of every CA root the mesh trusts right now: the enabled backend's, plus the
   * previous one while a CA switch is in progress (SPEC §1 Mesh, "Changing enabledBackend").
   */
  trustBundle(mesh: string): string | undefined;
}

export const NO_MESH_TLS_MATERIAL: MeshTlsMaterial = {
  identity: () => undefined,
  trustBundle: () => undefined,
};
