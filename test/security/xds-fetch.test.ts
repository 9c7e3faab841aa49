/**
 * The unary Fetch* calls go through the gates a stream's first request goes through. Before: no
 * node validation (ten unauthenticated fetches with an 8 MiB node.id wrote 80 MiB of log; ids of
 * 1 MiB or more got no answer), every refusal came back UNAVAILABLE, and each sequential fetch
 * issued a new workload certificate (200 fetches, 200 certificates).
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificateInfo } from '../../src/ca/cert-info.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, SECRET_TYPE } from '../../src/snapshot/types.js';
import { fetchResources, type NodeSpec } from '../helpers/fake-envoy.js';
import { TWO_MESHES, logLinesSince, startTestServer, type TestServer } from './xds-harness.js';

const MIB = 1024 * 1024;

describe('Fetch* through meshcp serve', () => {
  let t: TestServer;

  beforeAll(async () => {
    t = await startTestServer(TWO_MESHES);
  }, 60_000);

  afterAll(async () => {
    await t.close();
  });

  const fetchAs = (node: NodeSpec | undefined, typeUrl = CLUSTER_TYPE, names: readonly string[] = []): ReturnType<typeof fetchResources> =>
    fetchResources(t.server.xdsAddress, typeUrl, { ...(node ? { node } : {}), names }, 20_000);
  const warnings = (from: number): { msg: string }[] => logLinesSince(t.logs, from).filter((l) => Number(l['level']) >= 40);

  it.each([
    ['no token', { id: 'web-01', metadata: { mesh: 'default' } }, grpc.status.UNAUTHENTICATED],
    ['a bad token', { id: 'web-01', metadata: { mesh: 'default', token: 'not.a.token' } }, grpc.status.UNAUTHENTICATED],
    ['no node', undefined, grpc.status.INVALID_ARGUMENT],
    ['an ANSI escape in node.id', { id: 'web\u001b[2J', metadata: { mesh: 'default' } }, grpc.status.INVALID_ARGUMENT],
    ['a 1 MiB node.id', { id: 'x'.repeat(MIB), metadata: { mesh: 'default' } }, grpc.status.INVALID_ARGUMENT],
    ['a 100 KiB node.id', { id: 'x'.repeat(100 * 1024), metadata: { mesh: 'default' } }, grpc.status.INVALID_ARGUMENT],
  ] as const)('refuses a fetch with %s as a stream would, with one short log line and nothing kept', async (_label, node, code) => {
    // given
    const from = t.logs.text().length;
    const before = { rows: t.server.controlPlane.status.size, watches: t.server.controlPlane.cache.sizes.watches, fetchWatches: t.server.controlPlane.xds.sizes.fetchWatches };
    // when
    const refused = fetchAs(node);
    // then
    await expect(refused).rejects.toMatchObject({ code });
    const lines = warnings(from);
    expect(lines).toHaveLength(1);
    expect(JSON.stringify(lines[0]).length).toBeLessThan(600);
    expect(t.logs.text().slice(from)).not.toMatch(/[\u001b]|x{300}/);
    expect({ rows: t.server.controlPlane.status.size, watches: t.server.controlPlane.cache.sizes.watches, fetchWatches: t.server.controlPlane.xds.sizes.fetchWatches }).toEqual(before);
  });

  it('refuses a fetch with a token of another proxy as PERMISSION_DENIED', async () => {
    await expect(fetchAs({ id: 'web-01', metadata: { mesh: 'default', token: t.token('web-01', 'other') } })).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
  });

  it('refuses ten fetches with an 8 MiB node.id on their size, writing nothing to the log', async () => {
    // given
    const from = t.logs.text().length;
    // when
    for (let i = 0; i < 10; i++) await expect(fetchAs({ id: 'y'.repeat(8 * MIB) })).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
    // then: grpc-js refused each on its length prefix, before meshcp read it
    expect(t.logs.text().length - from).toBeLessThan(1_000);
  }, 60_000);

  it('refuses a fetch of more names than a stream may subscribe to', async () => {
    const names = Array.from({ length: 10_001 }, (_, i) => `c-${i}`);
    await expect(fetchAs({ id: 'web-01', metadata: { mesh: 'default', token: t.token('web-01', 'default') } }, ENDPOINT_TYPE, names)).rejects.toMatchObject({
      code: grpc.status.RESOURCE_EXHAUSTED,
    });
  });

  it('gives 30 sequential fetches of a proxy the same workload certificate', async () => {
    // given
    const node = { id: 'web-01', metadata: { mesh: 'other', token: t.token('web-01', 'other') } };
    const watchesBefore = t.server.controlPlane.xds.sizes.fetchWatches;
    // when
    const serials = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const response = await fetchAs(node, SECRET_TYPE, ['identity-cert:other']);
      const tls = response.resources[0]?.value['tls_certificate'] as { certificate_chain: { inline_string: string } } | undefined;
      expect(tls).toBeDefined();
      const info = certificateInfo(tls!.certificate_chain.inline_string);
      expect(info.uris).toEqual(['spiffe://other/web']);
      serials.add(info.serialHex);
    }
    // then: one certificate, and one config watch kept for the proxy's next fetch
    expect(serials.size).toBe(1);
    expect(t.server.controlPlane.xds.sizes.fetchWatches).toBe(watchesBefore + 1);
  }, 60_000);
});
