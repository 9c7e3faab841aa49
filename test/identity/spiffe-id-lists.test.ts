import { describe, expect, it } from 'vitest';
import { indexResources, spiffeIdsOf } from '../../src/identity/resource-index.js';
import { dataplane, gateway } from './fixtures.js';

describe('SPIFFE ID lists (per-proxy memory)', () => {
  const index = indexResources([
    dataplane('web-01', ['web']),
    dataplane('web-02', ['web']),
    dataplane('both-01', ['web', 'api']),
    dataplane('both-02', ['api', 'web']),
    dataplane('client', []),
    dataplane('web-01', ['web'], 'other'),
    gateway('edge'),
  ]);

  it('are one frozen list for every proxy of the same services in a mesh', () => {
    const a = spiffeIdsOf(index, 'default', 'web-01');
    expect(a).toEqual(['spiffe://default/web']);
    expect(spiffeIdsOf(index, 'default', 'web-02')).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
    // Inbounds in another order serve the same services (the index sorts them).
    const both = spiffeIdsOf(index, 'default', 'both-01');
    expect(both).toEqual(['spiffe://default/api', 'spiffe://default/web']);
    expect(spiffeIdsOf(index, 'default', 'both-02')).toBe(both);
  });

  it('keep meshes, services and names apart', () => {
    expect(spiffeIdsOf(index, 'other', 'web-01')).toEqual(['spiffe://other/web']);
    expect(spiffeIdsOf(index, 'other', 'web-01')).not.toBe(spiffeIdsOf(index, 'default', 'web-01'));
    // A Dataplane without inbounds is named after itself; a Gateway too.
    expect(spiffeIdsOf(index, 'default', 'client')).toEqual(['spiffe://default/client']);
    expect(spiffeIdsOf(index, 'default', 'edge')).toEqual(['spiffe://default/edge']);
    expect(spiffeIdsOf(index, 'default', 'nobody')).toBeUndefined();
  });

  it('are held only while a Dataplane or Gateway of the index uses them', () => {
    // given an index of two proxies of one service and a Gateway
    const web1 = dataplane('web-01', ['web']);
    const web2 = dataplane('web-02', ['web']);
    const edge = gateway('edge');
    const own = indexResources([web1, web2, edge]);
    const list = spiffeIdsOf(own, 'default', 'web-01');
    expect(own.spiffeIdLists).toBe(2);

    // when one proxy of the service goes, its list stays for the other
    own.remove(web1);
    expect(spiffeIdsOf(own, 'default', 'web-02')).toBe(list);
    expect(own.spiffeIdLists).toBe(2);

    // when a Dataplane is replaced by one serving other services, the old list goes
    own.remove(web2);
    own.put(dataplane('web-02', ['api']));
    expect(spiffeIdsOf(own, 'default', 'web-02')).toEqual(['spiffe://default/api']);
    expect(own.spiffeIdLists).toBe(2);

    // then once every proxy is gone the table is empty
    own.remove(dataplane('web-02', ['api']));
    own.remove(edge);
    expect(own.spiffeIdLists).toBe(0);
    expect(spiffeIdsOf(own, 'default', 'edge')).toBeUndefined();
  });

  it('belong to their index: two indexes (two control planes) share none', () => {
    // given two indexes of the same resources
    const resources = [dataplane('web-01', ['web'])];
    const first = indexResources(resources);
    const second = indexResources(resources);

    // then each has its own list, equal in content
    expect(spiffeIdsOf(second, 'default', 'web-01')).toEqual(spiffeIdsOf(first, 'default', 'web-01'));
    expect(spiffeIdsOf(second, 'default', 'web-01')).not.toBe(spiffeIdsOf(first, 'default', 'web-01'));
  });
});
