/** Resources for an Envoy sidecar (envoy flavor): outbound and inbound listeners, EDS clusters. */
import type { DataplaneModel, MeshModel, Protocol } from '../model/model.js';
import { staticCluster } from '../envoy/cluster.js';
import { httpConnectionManagerFilter, tcpProxyFilter } from '../envoy/filters.js';
import { socketListener } from '../envoy/listener.js';
import { inboundListenerName, localAppClusterName, outboundListenerName, outboundRouteName } from '../envoy/names.js';
import { routeConfiguration, virtualHost } from '../envoy/route.js';
import type { GeneratedConfig } from '../xds/snapshot.js';
import { ROUTE_TYPE } from '../xds/types.js';
import { ConfigBuilder } from './config-builder.js';
import { addServiceCluster, isHttp2 } from './services.js';

/** Sidecars accept outbound calls from the local application on loopback. */
const OUTBOUND_BIND_ADDRESS = '127.0.0.1';

const isHttp = (protocol: Protocol): boolean => protocol !== 'tcp';

export function generateEnvoySidecar(mesh: MeshModel, dataplane: DataplaneModel): GeneratedConfig {
  const builder = new ConfigBuilder();
  for (const outbound of dataplane.outbound) {
    const service = mesh.services.get(outbound.service);
    const cluster = addServiceCluster(builder, service, outbound.service);
    const listenerName = outboundListenerName(OUTBOUND_BIND_ADDRESS, outbound.port);
    const protocol = service?.protocol ?? 'tcp';
    if (isHttp(protocol)) {
      const routeName = outboundRouteName(outbound.service);
      builder.route(routeName, routeConfiguration(routeName, [virtualHost(outbound.service, ['*'], [{ prefix: '/', cluster }])]));
      builder.ref(ROUTE_TYPE, routeName, `listener ${listenerName}`);
      builder.listener(
        listenerName,
        socketListener(listenerName, OUTBOUND_BIND_ADDRESS, outbound.port, [{ filters: [httpConnectionManagerFilter({ name: listenerName, rds: routeName })] }], 'OUTBOUND'),
      );
    } else {
      builder.listener(listenerName, socketListener(listenerName, OUTBOUND_BIND_ADDRESS, outbound.port, [{ filters: [tcpProxyFilter(listenerName, cluster)] }], 'OUTBOUND'));
    }
  }
  for (const inbound of dataplane.inbound) {
    const localCluster = localAppClusterName(inbound.servicePort);
    builder.cluster(localCluster, staticCluster(localCluster, '127.0.0.1', inbound.servicePort, isHttp2(inbound.protocol)));
    const listenerName = inboundListenerName(dataplane.address, inbound.port);
    const filter = isHttp(inbound.protocol)
      ? httpConnectionManagerFilter({
          name: listenerName,
          routeConfig: { name: listenerName, virtual_hosts: [virtualHost(inbound.service, ['*'], [{ prefix: '/', cluster: localCluster }])] },
        })
      : tcpProxyFilter(listenerName, localCluster);
    builder.listener(listenerName, socketListener(listenerName, dataplane.address, inbound.port, [{ filters: [filter] }], 'INBOUND'));
  }
  return builder.build();
}
