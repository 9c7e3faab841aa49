/**
 * The equivalence property (used by equivalence.property.test.ts and injected-omission.test.ts):
 * the incremental pipeline gives byte-identical per-proxy output to the full recompute (issue #11).
 *
 * Random sequences of changes — add, remove and modify every resource kind (Mesh mTLS, Dataplane,
 * Service, TrafficPermission, Gateway, Route, Secret), a file-source-like reload of equal
 * objects, identity issuance, rotation and a CA switch (trust bundle change) — drive the
 * incremental path: IncrementalTranslator → proxyConfigs (skip / EDS patch / generate) →
 * SnapshotCache (snapshots reusing unchanged types). After every step each proxy's snapshot,
 * bytes and sources per resource name per type, must equal the oracle's: `generateForProxy` on
 * `translateMeshes` of the whole set, encoded by a separate encoder (the last consistent one,
 * as the cache keeps the last good snapshot).
 */
import fc from 'fast-check';
import { BehaviorSubject, type Subscription } from 'rxjs';
import { expect } from 'vitest';
import { DependencyCache } from '../../src/change/dependency-cache.js';
import type { Resource } from '../../src/api/types.js';
import type { MeshTlsMaterial, WorkloadIdentity } from '../../src/ca/workload-identity.js';
import { generateForProxy, type Flavor, type GenerateContext, type ProxyIdentity } from '../../src/generate/generate.js';
import { secretMaterialFromResources } from '../helpers/secret-material.js';
import { listFeed } from '../helpers/list-changes.js';
import { proxyConfigs, SharedParts, type GenerationCounters, type ResourceState } from '../../src/runtime/proxy-configs.js';
import { IncrementalTranslator } from '../../src/translate/incremental.js';
import { translateMeshes } from '../../src/translate/mesh-services.js';
import { SnapshotCache } from '../../src/snapshot/cache.js';
import { ResourceEncoder } from '../../src/snapshot/encode.js';
import { buildSnapshot, sourcesOf, type Snapshot } from '../../src/snapshot/snapshot.js';

const MESHES = ['m1', 'm2'] as const;
const DATAPLANES = ['dp-1', 'dp-2', 'dp-3'] as const;
const SERVICES = ['web', 'api', 'db'] as const;
const ADDRESSES = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'] as const;

/** Every proxy watched in each mesh: the Dataplanes in both flavors, a gateway and a proxyless client without a Dataplane. */
const PROXIES: ProxyIdentity[] = MESHES.flatMap((mesh) => [
  ...DATAPLANES.flatMap((name) => (['envoy', 'grpc'] as Flavor[]).map((flavor) => ({ mesh, name, flavor }))),
  { mesh, name: 'gw', flavor: 'envoy' as Flavor },
  { mesh, name: 'client', flavor: 'grpc' as Flavor },
]);

interface DataplaneState {
  address: string;
  service: string;
  protocol: string;
  version: string;
  outbound: string[];
}

interface MeshState {
  mtls?: { enabled: string; mode: 'STRICT' | 'PERMISSIVE' };
  dataplanes: Map<string, DataplaneState>;
  services: Map<string, { endpoints: readonly string[]; tls?: { caSecret?: string; sni?: string } }>;
  permissions: Map<string, { source: Record<string, string>; destination: Record<string, string> }>;
  gateway?: number[];
  routes: Map<string, { host: string; service: string; serverSecret?: string; clientCa?: string }>;
  secrets: Map<string, { secretType: 'tls' | 'tls-ca'; cert: string }>;
}

function backend(name: string, mode: 'STRICT' | 'PERMISSIVE'): Record<string, unknown> {
  return { name, type: 'builtin', mode, dpCert: { rotation: { expiration: '24h', expirationSeconds: 86400 } }, conf: { caCert: { RSAbits: 2048, expiration: '10y', expirationSeconds: 315360000 } } };
}

function toResources(world: ReadonlyMap<string, MeshState>): Resource[] {
  const out: Record<string, unknown>[] = [];
  for (const [mesh, m] of world) {
    out.push({
      type: 'Mesh',
      name: mesh,
      ...(m.mtls ? { mtls: { enabledBackend: m.mtls.enabled, backends: [backend('ca-1', m.mtls.mode), backend('ca-2', m.mtls.mode)] } } : {}),
    });
    for (const [name, dp] of m.dataplanes) {
      out.push({
        type: 'Dataplane',
        name,
        mesh,
        networking: {
          address: dp.address,
          inbound: [{ port: 8080, servicePort: 18080, tags: { 'kuma.io/service': dp.service, 'kuma.io/protocol': dp.protocol, version: dp.version } }],
          outbound: dp.outbound.map((service, i) => ({ port: 10000 + i, tags: { 'kuma.io/service': service } })),
        },
      });
    }
    for (const [name, s] of m.services) out.push({ type: 'Service', name, mesh, endpoints: s.endpoints.map((address) => ({ address, port: 5432 })), ...(s.tls ? { tls: s.tls } : {}) });
    for (const [name, p] of m.permissions) out.push({ type: 'TrafficPermission', name, mesh, sources: [{ match: p.source }], destinations: [{ match: p.destination }] });
    if (m.gateway) out.push({ type: 'Gateway', name: 'gw', mesh, listeners: m.gateway.map((port) => ({ port })) });
    for (const [name, r] of m.routes) {
      const tls = { ...(r.serverSecret ? { serverCertificate: { name: r.serverSecret } } : {}), ...(r.clientCa ? { clientValidationCa: { name: r.clientCa } } : {}) };
      out.push({ type: 'Route', name, mesh, host: r.host, routes: [{ prefix: '/', route: { service: r.service } }], ...(Object.keys(tls).length > 0 ? { tls } : {}) });
    }
    for (const [name, s] of m.secrets) out.push({ type: 'Secret', name, mesh, secretType: s.secretType, cert: s.cert, ...(s.secretType === 'tls' ? { key: `KEY-${s.cert}` } : {}) });
  }
  return out as unknown as Resource[];
}

/** Fake identity material: strings stand for PEMs (generation only carries them). */
class FakeMaterial implements MeshTlsMaterial {
  readonly identities = new Map<string, WorkloadIdentity>();
  readonly bundles = new Map<string, string>();
  identity(mesh: string, proxyName: string): WorkloadIdentity | undefined {
    return this.identities.get(`${mesh}/${proxyName}`);
  }
  trustBundle(mesh: string): string | undefined {
    return this.bundles.get(mesh);
  }
}

export type Step =
  | { kind: 'endpoints'; mesh: string; service: string; endpoints: readonly string[] }
  | { kind: 'dataplane'; mesh: string; name: string; dp: DataplaneState | null }
  | { kind: 'address'; mesh: string; name: string; address: string }
  | { kind: 'mtls'; mesh: string; mtls: MeshState['mtls'] | null }
  | { kind: 'service'; mesh: string; name: string; tls: { caSecret?: string; sni?: string } | null; remove: boolean }
  | { kind: 'permission'; mesh: string; name: string; permission: { source: Record<string, string>; destination: Record<string, string> } | null }
  | { kind: 'gateway'; mesh: string; ports: number[] | null }
  | { kind: 'route'; mesh: string; name: string; route: { host: string; service: string; serverSecret?: string; clientCa?: string } | null }
  | { kind: 'secret'; mesh: string; name: string; secret: { secretType: 'tls' | 'tls-ca'; cert: string } | null }
  | { kind: 'reload' }
  | { kind: 'issue'; mesh: string; name: string; serial: number }
  | { kind: 'bundle'; mesh: string; serial: number };

const mesh = fc.constantFrom(...MESHES);
const service = fc.constantFrom(...SERVICES);
const dpName = fc.constantFrom(...DATAPLANES);
const address = fc.constantFrom(...ADDRESSES);
const serial = fc.integer({ min: 1, max: 1_000_000 });
const selector = fc.oneof(
  fc.record({ 'kuma.io/service': fc.constantFrom('*', ...SERVICES) }),
  fc.record({ 'kuma.io/service': fc.constantFrom('*', ...SERVICES), version: fc.constantFrom('v1', 'v2') }),
);
const dataplaneState = fc.record({
  address,
  service,
  protocol: fc.constantFrom('http', 'tcp', 'grpc'),
  version: fc.constantFrom('v1', 'v2'),
  outbound: fc.uniqueArray(service, { maxLength: 3 }),
});
const secretName = fc.constantFrom('cert-a', 'ca-a');

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('endpoints' as const), mesh, service, endpoints: fc.oneof(fc.uniqueArray(address, { maxLength: 3 }), fc.constantFrom('db.internal', 'db.example.org').map((host) => [host])) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('dataplane' as const), mesh, name: dpName, dp: fc.option(dataplaneState, { nil: null }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('address' as const), mesh, name: dpName, address }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('mtls' as const), mesh, mtls: fc.option(fc.record({ enabled: fc.constantFrom('ca-1', 'ca-2', ''), mode: fc.constantFrom('STRICT' as const, 'PERMISSIVE' as const) }), { nil: null }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('service' as const),
      mesh,
      name: service,
      tls: fc.option(fc.record({ caSecret: fc.constantFrom('ca-a', 'missing'), sni: fc.constantFrom('api.example.com') }, { requiredKeys: [] }), { nil: null }),
      remove: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('permission' as const), mesh, name: fc.constantFrom('p1', 'p2'), permission: fc.option(fc.record({ source: selector, destination: selector }), { nil: null }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('gateway' as const), mesh, ports: fc.option(fc.uniqueArray(fc.constantFrom(8443, 9443), { minLength: 1, maxLength: 2 }), { nil: null }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('route' as const),
      mesh,
      name: fc.constantFrom('r1', 'r2'),
      route: fc.option(
        fc.record({ host: fc.constantFrom('a.example.com', 'b.example.com'), service, serverSecret: fc.constantFrom('cert-a', 'missing'), clientCa: fc.constantFrom('ca-a') }, { requiredKeys: ['host', 'service'] }),
        { nil: null },
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('secret' as const),
      mesh,
      name: secretName,
      secret: fc.option(fc.record({ secretType: fc.constantFrom('tls' as const, 'tls-ca' as const), cert: fc.constantFrom('PEM-1', 'PEM-2') }), { nil: null }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'reload' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('issue' as const), mesh, name: fc.constantFrom(...DATAPLANES, 'gw', 'client'), serial }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('bundle' as const), mesh, serial }) },
);

/** m1 starts with mTLS on, a tag-based permission and every identity issued; m2 plain. */
function initialWorld(material: FakeMaterial): Map<string, MeshState> {
  const world = new Map<string, MeshState>();
  for (const m of MESHES) {
    const mtlsOn = m === 'm1';
    if (mtlsOn) {
      material.bundles.set(m, `ROOT-${m}`);
      for (const p of PROXIES) if (p.mesh === m) material.identities.set(`${m}/${p.name}`, { certChainPem: `CERT-${p.name}`, keyPem: `KEY-${p.name}`, spiffeIds: [], serialHex: '1', notAfter: new Date(0) });
    }
    world.set(m, {
      ...(mtlsOn ? { mtls: { enabled: 'ca-1', mode: 'STRICT' as const } } : {}),
      dataplanes: new Map([
        ['dp-1', { address: '10.0.0.1', service: 'web', protocol: 'http', version: 'v1', outbound: ['api', 'db'] }],
        ['dp-2', { address: '10.0.0.2', service: 'api', protocol: 'http', version: 'v1', outbound: ['db'] }],
      ]),
      services: new Map([['db', { endpoints: ['10.0.0.9'] }]]),
      permissions: new Map(mtlsOn ? [['p1', { source: { 'kuma.io/service': 'web', version: 'v1' }, destination: { 'kuma.io/service': '*' } }]] : []),
      routes: new Map(),
      secrets: new Map(),
    });
  }
  return world;
}

/** Applies a resource step to the world; identity steps change the material and return the proxies to tick. */
function apply(world: Map<string, MeshState>, material: FakeMaterial, s: Step): 'resources' | ProxyIdentity[] {
  const m = s.kind === 'reload' ? undefined : world.get(s.mesh)!;
  switch (s.kind) {
    case 'endpoints': {
      const existing = m!.services.get(s.service);
      m!.services.set(s.service, { ...existing, endpoints: s.endpoints });
      return 'resources';
    }
    case 'dataplane':
      if (s.dp) m!.dataplanes.set(s.name, s.dp);
      else m!.dataplanes.delete(s.name);
      return 'resources';
    case 'address': {
      const dp = m!.dataplanes.get(s.name);
      if (dp) m!.dataplanes.set(s.name, { ...dp, address: s.address });
      return 'resources';
    }
    case 'mtls':
      if (s.mtls) m!.mtls = s.mtls;
      else delete m!.mtls;
      return 'resources';
    case 'service':
      if (s.remove) m!.services.delete(s.name);
      else m!.services.set(s.name, { endpoints: m!.services.get(s.name)?.endpoints ?? [], ...(s.tls ? { tls: s.tls } : {}) });
      return 'resources';
    case 'permission':
      if (s.permission) m!.permissions.set(s.name, s.permission);
      else m!.permissions.delete(s.name);
      return 'resources';
    case 'gateway':
      if (s.ports) m!.gateway = s.ports;
      else delete m!.gateway;
      return 'resources';
    case 'route':
      if (s.route) m!.routes.set(s.name, s.route);
      else m!.routes.delete(s.name);
      return 'resources';
    case 'secret':
      if (s.secret) m!.secrets.set(s.name, s.secret);
      else m!.secrets.delete(s.name);
      return 'resources';
    case 'reload':
      return 'resources';
    case 'issue':
      // Issuance and rotation: a new certificate for one proxy (the runtime ticks that proxy).
      material.identities.set(`${s.mesh}/${s.name}`, { certChainPem: `CERT-${s.serial}`, keyPem: `KEY-${s.serial}`, spiffeIds: [], serialHex: String(s.serial), notAfter: new Date(0) });
      if (!material.bundles.has(s.mesh)) material.bundles.set(s.mesh, `ROOT-${s.mesh}`);
      return PROXIES.filter((p) => p.mesh === s.mesh && p.name === s.name);
    case 'bundle':
      // A CA switch step: the mesh's trust bundle changes, every proxy of the mesh is ticked.
      material.bundles.set(s.mesh, `ROOTS-${s.serial}`);
      return PROXIES.filter((p) => p.mesh === s.mesh);
  }
}

/** What a proxy holds, as comparable data: per type, name → bytes (hex) and the user resources it came from. */
function bytesOf(snapshot: Snapshot | undefined): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const [typeUrl, byName] of snapshot?.resources ?? []) {
    out[typeUrl] = Object.fromEntries(
      [...byName].map(([name, r]) => [name, `${Buffer.from(r.value).toString('hex')} from ${sourcesOf(snapshot?.sources, typeUrl, name).join(',')}`]).sort(([a], [b]) => (a! < b! ? -1 : 1)),
    );
  }
  return out;
}

const key = (p: ProxyIdentity): string => `${p.mesh}/${p.name}/${p.flavor}`;


export interface EquivalenceOptions {
  /** The cache the incremental translator keeps its entries in (the oracle always has a fresh one). */
  readonly translatorCache: () => DependencyCache;
  /** Collects every distinct resource a proxy held, for Envoy's validators. */
  readonly served?: Map<string, { typeUrl: string; value: Uint8Array; where: string }>;
}

/** For random sequences of steps: after every step, every proxy holds what the full recompute gives (bytes and sources). */
export function equivalenceProperty(options: EquivalenceOptions): fc.IPropertyWithHooks<[Step[]]> {
  const served = options.served;
  return fc.property(fc.array(step, { minLength: 1, maxLength: 10 }), (steps) => {
    // given a world served by both paths, every proxy watched
    const material = new FakeMaterial();
    const world = initialWorld(material);
    const issued = (mesh: string, host: string): { certPem: string; keyPem: string } => ({ certPem: `SERVER-${mesh}-${host}`, keyPem: `SERVER-KEY-${mesh}-${host}` });
    const contextFor = (list: readonly Resource[]): GenerateContext => ({ meshTls: material, secrets: secretMaterialFromResources(list, issued, () => false) });
    const systemCache = options.translatorCache();
    const translator = new IncrementalTranslator(undefined, systemCache);
    // Every list reaches the translator as the change from the list before (the way a source's snapshots do).
    const translate = listFeed((change) => translator.apply(change));
    let list = toResources(world);
    // What the system's proxies share, as a control plane has it (the oracle shares nothing).
    const shared = new SharedParts();
    const states = new BehaviorSubject<ResourceState>({ revision: translate(list), context: { ...contextFor(list), cache: systemCache }, shared });
    const ticks = new Map(PROXIES.map((p) => [key(p), new BehaviorSubject(0)]));
    const counters: GenerationCounters = { proxyGenerations: 0, endpointPatches: 0, identityPatches: 0 };
    const byNode = new Map(PROXIES.map((p) => [`${p.mesh}/${p.name}/${p.flavor}`, p]));
    const cache = new SnapshotCache(
      (node) => {
        const proxy = byNode.get(`${String(node.metadata['mesh'])}/${node.id}/${String(node.metadata['flavor'])}`)!;
        return proxyConfigs(proxy, states, ticks.get(key(proxy))!, counters);
      },
      { error: () => undefined },
      { encoder: new ResourceEncoder() },
    );
    const latest = new Map<string, Snapshot>();
    const subscriptions: Subscription[] = PROXIES.map((p) =>
      cache.watch({ id: p.name, cluster: 'test', metadata: { mesh: p.mesh, flavor: p.flavor } }).subscribe((snapshot) => latest.set(key(p), snapshot)),
    );
    const lastGood = new Map<string, Snapshot>();
    const check = (after: string): void => {
      // The oracle: a fresh cache and a fresh encoder per check, sharing nothing with the system.
      const model = translateMeshes(list, new DependencyCache());
      // Plain protobuf encoding (no template splicing): the spliced bytes of the system must match it.
      const encoder = new ResourceEncoder({ templates: false });
      const context = contextFor(list);
      for (const proxy of PROXIES) {
        const result = buildSnapshot(generateForProxy(model, proxy, context), { encoder });
        if (result.ok) lastGood.set(key(proxy), result.snapshot);
        expect(bytesOf(latest.get(key(proxy))), `${key(proxy)} after ${after}`).toEqual(bytesOf(lastGood.get(key(proxy))));
        for (const [typeUrl, byName] of latest.get(key(proxy))?.resources ?? []) {
          for (const [name, r] of byName) {
            const id = `${typeUrl} ${Buffer.from(r.value).toString('base64')}`;
            if (!served?.has(id)) served?.set(id, { typeUrl, value: r.value, where: `${key(proxy)} ${name} after ${after}` });
          }
        }
      }
    };
    try {
      check('the initial config');
      for (const s of steps) {
        // when the change happens
        const effect = apply(world, material, s);
        if (effect === 'resources') {
          list = s.kind === 'reload' ? (structuredClone(list) as Resource[]) : toResources(world);
          states.next({ revision: translate(list), context: { ...contextFor(list), cache: systemCache }, shared });
        } else {
          for (const proxy of effect) ticks.get(key(proxy))!.next(ticks.get(key(proxy))!.value + 1);
        }
        // then every proxy holds what the full recompute gives
        check(JSON.stringify(s));
      }
    } finally {
      for (const subscription of subscriptions) subscription.unsubscribe();
    }
  });
}
