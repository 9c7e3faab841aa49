import { describe, expect, it } from 'vitest';
import { indexResources, spiffeIdsOf } from '../../src/identity/resource-index.js';
import { dataplane, gateway } from './fixtures.js';

describe('SPIFFE ID lists (issue #11, per-proxy memory)', () => {
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
});
