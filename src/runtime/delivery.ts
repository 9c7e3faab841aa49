/**
 * MaterialDelivery from the xDS status registry: a proxy has received its new certificate once an
 * SDS response sent after the certificate was published has been ACKed. Only proxies that take
 * their identity over SDS can be observed (Envoy, and `meshcp agent` for proxyless gRPC); for the
 * others publishing is all that can be known.
 */
import { filter, type Observable } from 'rxjs';
import { proxyKey } from '../snapshot/node.js';
import type { StatusRegistry } from '../xds/status.js';
import { SECRET_TYPE } from '../snapshot/types.js';
import type { MaterialDelivery } from '../identity/manager.js';
import { identityCertificateSecretName } from '../identity/names.js';

export function statusDelivery(status: StatusRegistry): MaterialDelivery & { close(): void } {
  /**
   * Proxies, by (mesh, name), that have been sent their identity certificate over SDS on a stream
   * still open. Keyed by the mesh too: `web-01` of another mesh is another proxy.
   */
  const consumers = new Set<string>();
  // Every push and ACK of every proxy passes here: the key is made only for the events that use it.
  const subscription = status.events.subscribe((event) => {
    if (event.kind === 'disconnect') {
      if ((status.get(event.nodeId, event.mesh)?.activeStreams ?? 0) === 0) consumers.delete(proxyKey({ mesh: event.mesh, name: event.nodeId }));
      return;
    }
    if (event.kind !== 'sent' || event.typeUrl !== SECRET_TYPE) return;
    const proxy = status.get(event.nodeId, event.mesh);
    const names = proxy?.types.get(SECRET_TYPE)?.lastSentNames ?? [];
    if (proxy && names.includes(identityCertificateSecretName(proxy.mesh))) consumers.add(proxyKey({ mesh: event.mesh, name: event.nodeId }));
  });
  // Only what can make `delivered` true: an SDS ACK, or a disconnect (a gone proxy is not waited for).
  // Other types' ACKs, one per proxy per change, would wake every CA-switch check for nothing.
  const changes: Observable<unknown> = status.events.pipe(filter((e) => (e.kind === 'ack' && e.typeUrl === SECRET_TYPE) || e.kind === 'disconnect'));
  return {
    delivered(mesh, proxyName, since) {
      if (!consumers.has(proxyKey({ mesh, name: proxyName }))) return true;
      const sds = status.get(proxyName, mesh)?.types.get(SECRET_TYPE);
      if (!sds?.lastSentAt || !sds.lastAckedAt || sds.lastSentVersion === undefined) return false;
      return sds.lastSentAt.getTime() >= since.getTime() && sds.lastAckedVersion === sds.lastSentVersion && sds.lastAckedAt.getTime() >= sds.lastSentAt.getTime();
    },
    changes,
    close: () => subscription.unsubscribe(),
  };
}
