/** model × proxy → Envoy resources for that proxy, by flavor. */
import type { Model } from '../model/model.js';
import type { NodeInfo } from '../xds/session.js';
import type { GeneratedConfig } from '../xds/snapshot.js';
import { ConfigBuilder } from './config-builder.js';
import { generateEnvoySidecar } from './envoy-flavor.js';
import { generateProxylessGrpc } from './grpc-flavor.js';

export type Flavor = 'envoy' | 'grpc';

export interface ProxyIdentity {
  readonly name: string;
  readonly mesh: string;
  readonly flavor: Flavor;
}

export function proxyIdentity(node: NodeInfo): ProxyIdentity {
  const mesh = typeof node.metadata['mesh'] === 'string' && node.metadata['mesh'] !== '' ? node.metadata['mesh'] : 'default';
  const flavor: Flavor = node.metadata['flavor'] === 'grpc' ? 'grpc' : 'envoy';
  return { name: node.id, mesh, flavor };
}

/**
 * A proxy whose Dataplane is not (yet) defined gets an empty config: it stays connected and
 * receives its resources as soon as the Dataplane is applied.
 */
export function generateForProxy(model: Model, proxy: ProxyIdentity): GeneratedConfig {
  const mesh = model.meshes.get(proxy.mesh);
  const dataplane = mesh?.dataplanes.get(proxy.name);
  if (!mesh || !dataplane) {
    if (mesh && proxy.flavor === 'grpc') {
      // A proxyless client with no Dataplane of its own can still resolve mesh services.
      return generateProxylessGrpc(mesh, { mesh: proxy.mesh, name: proxy.name, address: '', inbound: [], outbound: [] });
    }
    return new ConfigBuilder().build();
  }
  return proxy.flavor === 'grpc' ? generateProxylessGrpc(mesh, dataplane) : generateEnvoySidecar(mesh, dataplane);
}
