/**
 * Structural sharing between proxies (issue #11, memory per idle proxy and work per change):
 * proxies that call the same services hold one EDS set (one map, one version, one sorted list),
 * before and after an endpoint change patches it, and a proxy of other services holds its own.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BehaviorSubject, type Subscription } from 'rxjs';
import type { Resource } from '../../src/api/types.js';
import { ControlPlane } from '../../src/runtime/control-plane.js';
import { silentLogger } from '../../src/log/logger.js';
import { typeSet, type Snapshot } from '../../src/snapshot/snapshot.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE } from '../../src/snapshot/types.js';
import { sidecarDataplane } from '../helpers/mesh-resources.js';
import { changesOfLists } from '../helpers/list-changes.js';

const dataplane = (name: string, address: string, service: string, outbound: readonly string[]): Resource => sidecarDataplane(name, address, service, outbound, 18080);

function world(extAddresses: readonly string[]): Resource[] {
  return [
    { type: 'Mesh', name: 'default' } as Resource,
    dataplane('web-1', '10.0.0.1', 'web', ['ext', 'api']),
    dataplane('web-2', '10.0.0.2', 'web', ['ext', 'api']),
    dataplane('api-1', '10.0.0.3', 'api', ['ext']),
    { type: 'Service', name: 'ext', mesh: 'default', endpoints: extAddresses.map((address) => ({ address, port: 5432 })) } as Resource,
  ];
}

let controlPlane: ControlPlane | undefined;
const subscriptions: Subscription[] = [];

afterEach(async () => {
  for (const s of subscriptions.splice(0)) s.unsubscribe();
  await controlPlane?.close();
});

describe('sharing between proxies', () => {
  it('proxies calling the same services hold one EDS set, also after an endpoint change patches it', () => {
    // given three proxies watched, two of them calling the same services
    const subject = new BehaviorSubject<readonly Resource[]>(world(['10.9.0.1']));
    controlPlane = new ControlPlane({ changes: changesOfLists(subject), log: silentLogger() });
    const latest = new Map<string, Snapshot>();
    for (const id of ['web-1', 'web-2', 'api-1']) {
      subscriptions.push(controlPlane.cache.watch({ id, cluster: 'test', metadata: { mesh: 'default' } }).subscribe((s) => latest.set(id, s)));
    }
    const eds = (id: string): ReadonlyMap<string, unknown> => latest.get(id)!.resources.get(ENDPOINT_TYPE) as ReadonlyMap<string, unknown>;
    expect(eds('web-1')).toBe(eds('web-2'));
    expect(eds('web-1')).not.toBe(eds('api-1'));
    expect(latest.get('web-1')!.resources.get(CLUSTER_TYPE)).toBe(latest.get('web-2')!.resources.get(CLUSTER_TYPE));
    // each proxy's own inbound listener keeps its listener set its own
    expect(latest.get('web-1')!.resources.get(LISTENER_TYPE)).not.toBe(latest.get('web-2')!.resources.get(LISTENER_TYPE));
    const before = typeSet(latest.get('web-1')!.resources.get(ENDPOINT_TYPE)!).version;

    // when ext gets a new endpoint
    subject.next(world(['10.9.0.1', '10.9.0.2']));

    // then the two still share one (new) set, whose version is the version of its content
    expect(eds('web-1')).toBe(eds('web-2'));
    const after = typeSet(latest.get('web-1')!.resources.get(ENDPOINT_TYPE)!);
    expect(after.version).not.toBe(before);
    expect(latest.get('web-2')!.typeVersions.get(ENDPOINT_TYPE)).toBe(after.version);
    expect(after.names).toEqual(['api', 'ext']);
    expect(Buffer.from(after.sorted[1]!.value).toString('latin1')).toContain('10.9.0.2');
    expect(Buffer.from(typeSet(eds('api-1') as never).sorted[0]!.value).toString('latin1')).toContain('10.9.0.2');
    expect(controlPlane.recompute().proxyGenerations).toBe(3);
  });
});
