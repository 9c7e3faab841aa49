/** runtime/metrics.ts on plain data: status events in, Prometheus text out. */
import { describe, expect, it } from 'vitest';
import type { Resource } from '../../src/api/types.js';
import { createRootCa } from '../../src/ca/pki.js';
import type { IdentityStatus } from '../../src/identity/types.js';
import { createServerMetrics, type MetricsSources } from '../../src/runtime/metrics.js';
import { StatusRegistry } from '../../src/xds/status.js';
import { LISTENER_TYPE, SECRET_TYPE } from '../../src/snapshot/types.js';

function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([^#\s]\S*?(?:\{[^}]*\})?)\s+(\S+)$/.exec(line);
    if (match) out.set(match[1]!, Number(match[2]));
  }
  return out;
}

const NOW = new Date('2030-01-01T00:00:00Z');

function setup(overrides: Partial<MetricsSources> = {}): { registry: StatusRegistry; clock: { ms: number }; metrics: ReturnType<typeof createServerMetrics> } {
  const clock = { ms: NOW.getTime() };
  const registry = new StatusRegistry(() => new Date(clock.ms));
  const metrics = createServerMetrics({
    statusEvents: registry.events,
    connectedProxies: () => registry.list().filter((p) => p.activeStreams > 0).length,
    identities: () => [],
    meshCas: () => [],
    resources: () => [],
    now: () => new Date(clock.ms),
    ...overrides,
  });
  return { registry, clock, metrics };
}

describe('server metrics', () => {
  it('counts pushes, ACKs and NACKs per type, and observes send → ACK latency', async () => {
    // given
    const { registry, clock, metrics } = setup();
    registry.streamOpened({ mesh: 'default', name: 'web-01' }, 'envoy');
    registry.streamOpened({ mesh: 'default', name: 'web-02' }, 'envoy');
    registry.streamClosed({ mesh: 'default', name: 'web-02' });
    // when
    registry.sent({ mesh: 'default', name: 'web-01' }, LISTENER_TYPE, 'v1', 'n1', ['a']);
    registry.nacked({ mesh: 'default', name: 'web-01' }, LISTENER_TYPE, '', 'bad listener');
    registry.sent({ mesh: 'default', name: 'web-01' }, SECRET_TYPE, 's1', 'n2', ['identity']);
    clock.ms += 250;
    registry.acked({ mesh: 'default', name: 'web-01' }, SECRET_TYPE, 's1');
    const values = parseMetrics(await metrics.metrics());
    // then
    expect(values.get('meshcp_xds_connected_proxies')).toBe(1);
    expect(values.get('meshcp_xds_pushes_total{type="LDS"}')).toBe(1);
    expect(values.get('meshcp_xds_pushes_total{type="SDS"}')).toBe(1);
    expect(values.get('meshcp_xds_nacks_total{type="LDS"}')).toBe(1);
    expect(values.get('meshcp_xds_acks_total{type="SDS"}')).toBe(1);
    expect(values.get('meshcp_xds_push_latency_seconds_count{type="SDS"}')).toBe(1);
    expect(values.get('meshcp_xds_push_latency_seconds_sum{type="SDS"}')).toBeCloseTo(0.25);
    expect(values.get('meshcp_xds_push_latency_seconds_bucket{le="0.1",type="SDS"}')).toBe(0);
    expect(values.get('meshcp_xds_push_latency_seconds_bucket{le="0.25",type="SDS"}')).toBe(1);
    metrics.close();
  });

  it('keeps each server in its own registry, and stops counting once closed', async () => {
    // given
    const one = setup();
    const two = setup();
    one.registry.streamOpened({ mesh: 'default', name: 'a' }, 'envoy');
    // when
    one.registry.sent({ mesh: 'default', name: 'a' }, LISTENER_TYPE, 'v1', 'n1', []);
    one.metrics.close();
    one.registry.sent({ mesh: 'default', name: 'a' }, LISTENER_TYPE, 'v2', 'n2', []);
    // then
    expect(parseMetrics(await one.metrics.metrics()).get('meshcp_xds_pushes_total{type="LDS"}')).toBe(1);
    expect(parseMetrics(await two.metrics.metrics()).get('meshcp_xds_pushes_total{type="LDS"}')).toBeUndefined();
    two.metrics.close();
  });

  it('computes expiries at scrape time and derives issued certificates from regenerations', async () => {
    // given
    const ca = await createRootCa({ commonName: 'Mesh CA', validitySeconds: 100 * 86_400, now: NOW });
    const identities: IdentityStatus[] = [
      { mesh: 'default', name: 'web-01', connected: true, spiffeIds: [], regenerations: 3, expiration: new Date(NOW.getTime() + 3_600_000) },
      { mesh: 'default', name: 'gone', connected: false, spiffeIds: [], regenerations: 2, expiration: new Date(NOW.getTime() + 60_000) },
    ];
    const resources: Resource[] = [{ type: 'Secret', name: 'partner-ca', mesh: 'default', secretType: 'tls-ca', cert: ca.certPem }];
    const { clock, metrics } = setup({
      identities: () => identities,
      meshCas: () => [{ mesh: 'default', backend: 'ca-1', type: 'builtin', certPem: ca.certPem, keyPem: '', trustRoots: [], id: 'x', notAfter: new Date(NOW.getTime() + 86_400_000) }],
      resources: () => resources,
    });
    // when
    const first = parseMetrics(await metrics.metrics());
    clock.ms += 60_000;
    identities[0] = { ...identities[0]!, regenerations: 4 };
    const second = parseMetrics(await metrics.metrics());
    // then
    expect(first.get('meshcp_certificates_issued_total')).toBe(5);
    expect(second.get('meshcp_certificates_issued_total')).toBe(6);
    expect(first.get('meshcp_workload_certificate_expiry_seconds{mesh="default",proxy="web-01"}')).toBe(3600);
    expect(second.get('meshcp_workload_certificate_expiry_seconds{mesh="default",proxy="web-01"}')).toBe(3540);
    expect(first.has('meshcp_workload_certificate_expiry_seconds{mesh="default",proxy="gone"}')).toBe(false);
    expect(first.get('meshcp_ca_certificate_expiry_seconds{mesh="default",backend="ca-1"}')).toBe(86_400);
    expect(first.get('meshcp_secret_expiry_seconds{mesh="default",secret="partner-ca"}')).toBe(100 * 86_400);
    metrics.close();
  });
});
