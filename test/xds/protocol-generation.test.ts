/**
 * One generation per proxy, where a proxy is everything generation reads from the node: a
 * second stream with the same node.id but another mesh or flavor is another proxy and must get
 * its own config (issue #10; SPEC §1: names are unique per mesh). Runs the real SnapshotCache
 * behind the xDS server, with a config source that tells the proxies apart.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { of } from 'rxjs';
import { SnapshotCache } from '../../src/snapshot/cache.js';
import { XdsServer } from '../../src/xds/server.js';
import { StatusRegistry } from '../../src/xds/status.js';
import { CLUSTER_TYPE } from '../../src/snapshot/types.js';
import type { NodeInfo } from '../../src/snapshot/watcher.js';
import { cluster, generated } from '../helpers/controlled-watcher.js';
import { FakeEnvoy, namesOf, type XdsMode } from '../helpers/fake-envoy.js';

let server: XdsServer;
let address: string;
let envoys: FakeEnvoy[];

/** A cluster named after what the node says it is, so a shared generation shows. */
function clusterFor(node: NodeInfo): string {
  return `for-${String(node.metadata['mesh'] ?? 'default')}-${String(node.metadata['flavor'] ?? 'envoy')}`;
}

beforeEach(async () => {
  const cache = new SnapshotCache((node) => of(generated({ clusters: [cluster(clusterFor(node))] })), { error: () => undefined });
  server = new XdsServer({ watcher: cache, status: new StatusRegistry(), log: { info: () => undefined, warn: () => undefined } });
  address = `127.0.0.1:${await server.listen('127.0.0.1:0')}`;
  envoys = [];
});

afterEach(() => {
  for (const envoy of envoys) envoy.close();
  server.forceClose();
});

describe.each(['sotw', 'delta'] as XdsMode[])('same node.id, other metadata (%s)', (mode) => {
  it.each([
    { what: 'another mesh', first: { mesh: 'mesh-a', flavor: 'envoy' }, second: { mesh: 'mesh-b', flavor: 'envoy' } },
    { what: 'another flavor', first: { mesh: 'mesh-a', flavor: 'envoy' }, second: { mesh: 'mesh-a', flavor: 'grpc' } },
  ])('gets its own generation with $what', async ({ first, second }) => {
    // given a stream of web-01 with the first metadata, holding its clusters
    const a = new FakeEnvoy({ address, mode, node: { id: 'web-01', metadata: first } });
    envoys.push(a);
    a.subscribe(CLUSTER_TYPE, []);
    const forA = await a.nextOf(CLUSTER_TYPE);

    // when a second stream with the same node.id and the other metadata subscribes, the first still open
    const b = new FakeEnvoy({ address, mode, node: { id: 'web-01', metadata: second } });
    envoys.push(b);
    b.subscribe(CLUSTER_TYPE, []);
    const forB = await b.nextOf(CLUSTER_TYPE);

    // then each got the config generated for what it is
    expect(namesOf(forA)).toEqual([`for-${first.mesh}-${first.flavor}`]);
    expect(namesOf(forB)).toEqual([`for-${second.mesh}-${second.flavor}`]);
  });
});
