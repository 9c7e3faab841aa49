/**
 * Resources for proxyless gRPC (grpc flavor): an API listener per mesh service, named as the
 * client's `xds:///<service>` target, and a server Listener per inbound, named by the
 * bootstrap's `server_listener_resource_name_template` (gRPC A27, A36).
 */
import type { DataplaneModel, MeshModel } from '../model/model.js';
import { httpConnectionManagerConfig, httpConnectionManagerFilter } from '../envoy/filters.js';
import { apiListener, socketListener } from '../envoy/listener.js';
import { grpcApiListenerName, grpcServerListenerName, outboundRouteName } from '../envoy/names.js';
import { routeConfiguration, serverSideRouteConfiguration, virtualHost } from '../envoy/route.js';
import type { GeneratedConfig } from '../xds/snapshot.js';
import { ROUTE_TYPE } from '../xds/types.js';
import { ConfigBuilder } from './config-builder.js';
import { addServiceCluster } from './services.js';

export function generateProxylessGrpc(mesh: MeshModel, dataplane: DataplaneModel): GeneratedConfig {
  const builder = new ConfigBuilder();
  for (const service of mesh.services.values()) {
    const cluster = addServiceCluster(builder, service, service.name);
    const listenerName = grpcApiListenerName(service.name);
    const routeName = outboundRouteName(service.name);
    builder.route(routeName, routeConfiguration(routeName, [virtualHost(service.name, ['*'], [{ prefix: '', cluster }])]));
    builder.ref(ROUTE_TYPE, routeName, `listener ${listenerName}`);
    builder.listener(listenerName, apiListener(listenerName, httpConnectionManagerConfig({ name: listenerName, rds: routeName })));
  }
  for (const inbound of dataplane.inbound) {
    const listenerName = grpcServerListenerName(dataplane.address, inbound.port);
    builder.listener(
      listenerName,
      socketListener(listenerName, dataplane.address, inbound.port, [
        { filters: [httpConnectionManagerFilter({ name: listenerName, routeConfig: serverSideRouteConfiguration(listenerName) })] },
      ], 'INBOUND'),
    );
  }
  return builder.build();
}
