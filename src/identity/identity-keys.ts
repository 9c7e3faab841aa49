/**
 * Identity events as dependency keys (change/keys.ts), of the same kind as the keys of resource
 * changes, so that a consumer reads one vocabulary: the identity manager tells each proxy's
 * listeners the keys a new version stands for (`VersionListener.next(version, keys)`).
 */
import { dependencyKey, type DependencyKey } from '../change/keys.js';

/** The workload certificate of proxy `proxy` of `mesh`: issued, rotated, dropped, or settled as none. */
export function certificateKey(mesh: string, proxy: string): DependencyKey {
  return dependencyKey('Certificate', mesh, proxy);
}

/** The roots of CA backend `backend` joined or left the trust bundle of `mesh`. */
export function trustBundleKey(mesh: string, backend: string): DependencyKey {
  return dependencyKey('TrustBundle', mesh, backend);
}

/** The CA of backend `backend` in `mesh` changed phase (ready, trusted ahead of issuing, issuing, retired, dropped). */
export function caPhaseKey(mesh: string, backend: string): DependencyKey {
  return dependencyKey('CaPhase', mesh, backend);
}

/** The server certificate of a Gateway Route host of `mesh` was issued or fell due. */
export function serverCertificateKey(mesh: string, host: string): DependencyKey {
  return dependencyKey('ServerCertificate', mesh, host);
}

/** The keys of CA backends whose roots joined or left the bundle: each one's bundle and phase key. */
export function bundleChangeKeys(mesh: string, backends: Iterable<string>): readonly DependencyKey[] {
  const keys: DependencyKey[] = [];
  for (const backend of new Set(backends)) keys.push(trustBundleKey(mesh, backend), caPhaseKey(mesh, backend));
  return Object.freeze(keys);
}
