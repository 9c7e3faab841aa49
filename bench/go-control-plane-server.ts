/**
 * Server process: go-control-plane, the reference Go xDS server library (test/peers/go/cmd/
 * xds-server), serving exactly the resources meshcp serves each proxy. They are generated and
 * encoded with meshcp's own code before any clock (as for the raw grpc-js baseline), handed to the
 * Go server once, decoded there once each and shared: per node a SnapshotCache snapshot for CDS,
 * LDS, RDS (and SDS), with the per-type versions meshcp sends, and one LinearCache for EDS (the
 * ClusterLoadAssignments are the same for every proxy that names them; BENCH_GO_EDS_CACHE=snapshot
 * puts EDS in each node's snapshot instead).
 *
 * This process only drives the Go server: the clocks and the memory figures are the Go server's
 * own. A change is the new ClusterLoadAssignment of `ext`, encoded before the clock; the Go server
 * times it from decoding it and updating its cache to the last ACK. In the mtls scenario, as for
 * the baseline, every certificate is issued before the clock: go-control-plane does not issue
 * certificates, so its cold start is delivery only.
 */
import { serviceClusterName } from '../src/envoy/names.js';
import { generateForProxy } from '../src/generate/generate.js';
import { translateMeshes } from '../src/translate/mesh-services.js';
import { buildSnapshot } from '../src/snapshot/snapshot.js';
import { GoXdsServer } from './go-xds-server.js';
import type { MemorySample } from './ipc.js';
import { issueAll, prepareProxyConfigs } from './prepared.js';
import { ENDPOINT_TYPE, benchTypes } from './protocol.js';
import { MESH, nodeId, resourcesAt, staticResources, type Scenario } from './scenario.js';
import { runServerProcess, type BenchTarget, type ChangeResult } from './server-harness.js';
import type { Resource } from '../src/api/types.js';
import type { MeshTlsMaterial } from '../src/ca/workload-identity.js';

class GoControlPlaneTarget implements BenchTarget {
  private server?: GoXdsServer;
  private proxies = 0;
  private types: readonly string[] = [];
  private base: Resource[] = [];
  private meshTls: MeshTlsMaterial | undefined;
  private before?: MemorySample;

  async start(proxies: number, scenario: Scenario): Promise<number> {
    this.proxies = proxies;
    this.types = benchTypes(scenario);
    this.base = staticResources(proxies, scenario);
    const resources = resourcesAt(this.base, 0);
    this.meshTls = scenario === 'mtls' ? await issueAll(resources, proxies) : undefined;
    const configs = prepareProxyConfigs(translateMeshes(resources), proxies, this.types, this.meshTls);
    const edsCache = process.env['BENCH_GO_EDS_CACHE'] === 'snapshot' ? 'snapshot' : 'linear';
    const server = new GoXdsServer({ edsCache });
    this.server = server;
    // Each distinct resource once (ids by type, name and meshcp's content version); the Go server shares the decoded messages.
    const ids = new Map<string, string>();
    const idOf = async (typeUrl: string, r: { name: string; version: string; value: Uint8Array }): Promise<string> => {
      const key = `${typeUrl}|${r.name}|${r.version}`;
      let id = ids.get(key);
      if (id === undefined) {
        id = `r${ids.size}`;
        ids.set(key, id);
        await server.send({ op: 'resource', id, typeUrl, value: Buffer.from(r.value).toString('base64') });
      }
      return id;
    };
    const edsByName = new Map<string, string>();
    const snapshots: Array<{ node: string; types: Record<string, { version: string; ids: string[] }> }> = [];
    for (const [node, perType] of configs) {
      const types: Record<string, { version: string; ids: string[] }> = {};
      for (const [typeUrl, { version, resources: list }] of perType) {
        const typeIds: string[] = [];
        for (const r of list) {
          const id = await idOf(typeUrl, r);
          typeIds.push(id);
          if (typeUrl === ENDPOINT_TYPE) {
            // One LinearCache serves every node: a name must mean the same content for all.
            if (edsByName.has(r.name) && edsByName.get(r.name) !== id) throw new Error(`EDS ${r.name} differs between proxies: it cannot be served from one LinearCache`);
            edsByName.set(r.name, id);
          }
        }
        types[typeUrl] = { version, ids: typeIds };
      }
      snapshots.push({ node, types });
    }
    // "Before": the distinct resources decoded and held, no node's snapshot yet (meshcp's before holds no proxy config either).
    this.before = await server.memory();
    for (const snapshot of snapshots) await server.send({ op: 'snapshot', ...snapshot });
    if (edsCache === 'linear') await server.send({ op: 'linear', typeUrl: ENDPOINT_TYPE, ids: [...edsByName.values()] });
    const listening = await server.request({ op: 'serve' }, 'listening');
    return Number(listening['port']);
  }

  memoryBefore(): Promise<MemorySample> {
    if (!this.before) throw new Error('memoryBefore before start');
    return Promise.resolve(this.before);
  }

  serverPid(): number | undefined {
    return this.server?.pid;
  }

  memoryIdle(): Promise<MemorySample> {
    return this.server!.memory();
  }

  async initialConfigAcked(): Promise<void> {
    await this.server!.request({ op: 'await-acks', token: 'initial', nodes: this.proxies, ids: this.types }, 'acked');
  }

  async change(iteration: number): Promise<ChangeResult> {
    // Prepared before the clock (as for the baseline): the new ClusterLoadAssignment of `ext`, as meshcp encodes it.
    const result = buildSnapshot(generateForProxy(translateMeshes(resourcesAt(this.base, iteration)), { name: nodeId(0), mesh: MESH, flavor: 'envoy' }, this.meshTls ? { meshTls: this.meshTls } : {}));
    if (!result.ok) throw new Error(result.errors.join('; '));
    const cla = result.snapshot.resources.get(ENDPOINT_TYPE)?.get(serviceClusterName('ext'));
    if (!cla) throw new Error(`no ClusterLoadAssignment ${serviceClusterName('ext')} for ${nodeId(0)}`);
    const token = `c${iteration}`;
    const updated = await this.server!.request({ op: 'update', token, typeUrl: ENDPOINT_TYPE, value: Buffer.from(cla.value).toString('base64'), version: token, nodes: this.proxies }, 'updated');
    return { ms: Number(updated['ms']), syncMs: Number(updated['syncMs']), pushed: { EDS: Number(updated['pushed']) } };
  }

  async stop(): Promise<void> {
    await this.server?.stop();
  }
}

runServerProcess(new GoControlPlaneTarget());
