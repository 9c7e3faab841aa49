/**
 * What a resource names in other types, read from the resource itself (src/xds/dependencies.ts):
 * make-before-break (issue #10 point 3) depends on it, so a reference it missed would let a
 * listener go out before its cluster.
 */
import { describe, expect, it } from 'vitest';
import { encodeResource } from '../../src/snapshot/encode.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE } from '../../src/snapshot/types.js';
import { cluster, endpoints, secret } from '../helpers/controlled-watcher.js';
import { clusterRoute, rdsListener, tcpListener } from '../helpers/xds-resources.js';

describe('resource dependencies', () => {
  it('reads the cluster and SDS secret of a TCP proxy listener', () => {
    // given a TLS listener proxying to c1
    const resource = tcpListener('l1', 10001, 'c1', 's1');

    // when it is encoded
    const { refs } = encodeResource(LISTENER_TYPE, resource);

    // then it names c1 and s1 and nothing else
    expect(refs).toEqual({ clusters: ['c1'], secrets: ['s1'], routes: [], endpoints: [] });
  });

  it('reads the RDS name of an HTTP listener and the clusters of a route table, weighted ones included', () => {
    // given an HTTP listener and a route table with a plain and a weighted route
    const route = clusterRoute('r1', 'c1');
    const weighted = {
      name: 'r2',
      virtual_hosts: [{ name: 'vh', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { weighted_clusters: { clusters: [{ name: 'c2', weight: { value: 1 } }, { name: 'c3', weight: { value: 1 } }] } } }] }],
    };

    // when they are encoded, then each names what Envoy would load for it
    expect(encodeResource(LISTENER_TYPE, rdsListener('l1', 10001, 'r1')).refs).toEqual({ clusters: [], secrets: [], routes: ['r1'], endpoints: [] });
    expect(encodeResource(ROUTE_TYPE, route).refs.clusters).toEqual(['c1']);
    expect(encodeResource(ROUTE_TYPE, weighted).refs.clusters).toEqual(['c2', 'c3']);
  });

  it('reads the EDS name of an EDS cluster: its service_name, else its own name', () => {
    // given EDS clusters with and without a service name, and a static one
    const named = { ...cluster('c1'), eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: 'svc' } };
    const fixed = { name: 'local', type: 'STATIC', connect_timeout: { seconds: 1 }, load_assignment: endpoints('local', 8080) };

    // when they are encoded, then the EDS name follows the cluster's config
    expect(encodeResource(CLUSTER_TYPE, cluster('c2')).refs.endpoints).toEqual(['c2']);
    expect(encodeResource(CLUSTER_TYPE, named).refs.endpoints).toEqual(['svc']);
    expect(encodeResource(CLUSTER_TYPE, fixed).refs).toEqual({ clusters: [], secrets: [], routes: [], endpoints: [] });
  });

  it('gives endpoints and secrets no dependencies', () => {
    expect(encodeResource(ENDPOINT_TYPE, endpoints('c9', 8080)).refs.clusters).toEqual([]);
    expect(encodeResource(SECRET_TYPE, secret('s9')).refs.clusters).toEqual([]);
  });
});
