/** model × proxy → Envoy resources for that proxy, by flavor. */
import { NO_MESH_TLS_MATERIAL, type MeshTlsMaterial } from '../ca/workload-identity.js';
import { DependencyCache } from '../change/dependency-cache.js';
import type { Model } from '../model/model.js';
import type { NodeInfo } from '../snapshot/watcher.js';
import type { GeneratedConfig } from '../snapshot/snapshot.js';
import { ConfigBuilder } from './config-builder.js';
import { generateEnvoySidecar } from './envoy-flavor.js';
import { generateEnvoyGateway } from './gateway.js';
import { generateProxylessGrpc } from './grpc-flavor.js';
import { GenerationMemo, generationMemo } from './memo.js';
import { NO_SECRET_MATERIAL, type SecretMaterialSource } from './secret-material.js';

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

/** What generation needs besides the model. */
export interface GenerateContext {
  /** PEM material for the secrets a Gateway serves; without it a Gateway serves nothing. */
  readonly secrets?: SecretMaterialSource;
  /**
   * Workload certificates and trust bundles for meshes with mTLS on. Without it (or while a
   * proxy's identity is not issued yet) generation fails closed: see envoy-flavor.ts.
   */
  readonly meshTls?: MeshTlsMaterial;
  /**
   * Where resources shared between proxies are kept: the control plane's dependency cache. A
   * fresh one per call when absent, so nothing is shared between calls (the full-recompute
   * oracle, one-off views).
   */
  readonly cache?: DependencyCache;
}

/**
 * The generation memo of `context` (generate/memo.ts): its cache's, or a fresh one, which shares
 * nothing (as generation without a cache). What patches a generated config (an endpoint change)
 * takes it from here, so it swaps in the objects generation shares.
 */
export function contextMemo(context: GenerateContext): GenerationMemo {
  return context.cache ? generationMemo(context.cache) : new GenerationMemo();
}

/**
 * A proxy whose Dataplane or Gateway is not (yet) defined gets an empty config: it stays
 * connected and receives its resources as soon as it is applied. A Dataplane wins over a
 * Gateway of the same name.
 */
export function generateForProxy(model: Model, proxy: ProxyIdentity, context: GenerateContext = {}): GeneratedConfig {
  const mesh = model.meshes.get(proxy.mesh);
  const dataplane = mesh?.dataplanes.get(proxy.name);
  const gateway = mesh?.gateways.get(proxy.name);
  const meshTls = context.meshTls ?? NO_MESH_TLS_MATERIAL;
  const cache = context.cache ?? new DependencyCache();
  if (mesh && !dataplane && gateway && proxy.flavor === 'envoy') {
    return generateEnvoyGateway(mesh, gateway, context.secrets ?? NO_SECRET_MATERIAL, meshTls, cache);
  }
  if (!mesh || !dataplane) {
    if (mesh && proxy.flavor === 'grpc') {
      // A proxyless client with no Dataplane of its own can still resolve mesh services.
      return generateProxylessGrpc(mesh, { mesh: proxy.mesh, name: proxy.name, address: '', inbound: [], outbound: [] }, meshTls, [], cache);
    }
    return new ConfigBuilder([], cache).build();
  }
  return proxy.flavor === 'grpc' ? generateProxylessGrpc(mesh, dataplane, meshTls, undefined, cache) : generateEnvoySidecar(mesh, dataplane, meshTls, cache);
}
