/** What every CA provider does the same way: workload certificate issuance and CA identity. */
import { certificateInfo, isSelfSigned } from '../cert-info.js';
import { certificateToPem, parseCertificates } from '../pem.js';
import { SvidIssuer } from '../svid.js';
import { svidWorkerPool, type SvidWorkerPool } from '../svid-workers.js';
import type { IssuedIdentity, MeshCa, WorkloadCertificateRequest } from './types.js';

/**
 * Issues SPIFFE X509-SVIDs (https://github.com/spiffe/spiffe/blob/main/standards/X509-SVID.md):
 * one URI SAN per service, CA=false, digitalSignature, serverAuth and clientAuth, empty subject.
 * The key is generated for each certificate and held in memory only (SPEC §1 Mesh, "Workload
 * certificates"). Issued through the fast DER path of svid.ts (the cold-start hot path).
 *
 * Each CA provider holds one: the loaded issuer of a CA (its parsed chain and imported key) is
 * kept for as long as the CA object lives, and belongs to the provider that made the CA, so two
 * control planes share none.
 */
export class WorkloadIssuers {
  private readonly byCa = new WeakMap<MeshCa, SvidIssuer>();

  /** `pool`: the worker threads that sign (the server's; by default the process's). */
  constructor(private readonly pool: SvidWorkerPool = svidWorkerPool()) {}

  async issue(ca: MeshCa, request: WorkloadCertificateRequest): Promise<IssuedIdentity> {
    const issued = await this.issuerOf(ca).issue(request.spiffeIds, request.validitySeconds, request.now);
    return {
      certChainPem: issued.chainPem,
      keyPem: issued.keyPem,
      // The request's list, not a copy per certificate: it is never mutated (readonly).
      spiffeIds: request.spiffeIds,
      serialHex: issued.serialHex,
      notAfter: issued.notAfter,
      notBefore: issued.notBefore,
      issuedAt: request.now,
      caId: ca.id,
      backend: ca.backend,
    };
  }

  /** Parsing the CA and importing its key happen once per CA, not per certificate. */
  private issuerOf(ca: MeshCa): SvidIssuer {
    let issuer = this.byCa.get(ca);
    if (!issuer) {
      issuer = new SvidIssuer({ certPem: ca.certPem, keyPem: ca.keyPem }, this.pool);
      this.byCa.set(ca, issuer);
    }
    return issuer;
  }
}

/**
 * The trust anchors for a CA chain (signing CA first, then its issuers): the self-signed
 * certificates in it, or the last one when the chain stops below a root. Peers verify a
 * workload chain (leaf + intermediates) up to these.
 */
export function trustRootsOf(chainPem: string): string[] {
  const chain = parseCertificates(chainPem);
  const roots = chain.filter((c) => isSelfSigned(c));
  const anchors = roots.length > 0 ? roots : chain.slice(-1);
  return anchors.map(certificateToPem);
}

/** See {@link MeshCa.id}: the SHA-256 fingerprint of the signing CA certificate (the first of the chain). */
export function caIdOf(chainPem: string): string {
  const [first] = parseCertificates(chainPem);
  if (first === undefined) throw new Error('CA chain holds no certificate');
  return first.fingerprint256.replace(/:/g, '').toLowerCase();
}

export function caNotAfter(chainPem: string): Date {
  return certificateInfo(chainPem).notAfter;
}
