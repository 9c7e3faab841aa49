/** The recompute counters of issue #11 on /metrics (runtime/metrics.ts), read at scrape time. */
import { describe, expect, it } from 'vitest';
import type { RecomputeCounters } from '../../src/runtime/control-plane.js';
import { createServerMetrics } from '../../src/runtime/metrics.js';
import { StatusRegistry } from '../../src/xds/status.js';

function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([^#\s]\S*?(?:\{[^}]*\})?)\s+(\S+)$/.exec(line);
    if (match) out.set(match[1]!, Number(match[2]));
  }
  return out;
}

describe('recompute metrics', () => {
  it('export translations per mesh, generations, endpoint patches and encodings as they grow', async () => {
    // given counters that move between two scrapes
    let counters: RecomputeCounters = { translations: { a: 1 }, proxyGenerations: 4, endpointPatches: 0, identityPatches: 0, resourcesEncoded: 10, pushes: {} };
    const registry = new StatusRegistry();
    const metrics = createServerMetrics({ statusEvents: registry.events, connectedProxies: () => 0, identities: () => [], meshCas: () => [], resources: () => [], recompute: () => counters });
    const first = parseMetrics(await metrics.metrics());

    // when an endpoint change patches three proxies and encodes one assignment
    const cache = { entries: 12, hits: 30, misses: 12, evictedByChange: 5, evictedBySize: 1, maxEntries: 100 };
    counters = { translations: { a: 2, b: 1 }, proxyGenerations: 4, endpointPatches: 3, identityPatches: 2, resourcesEncoded: 11, pushes: { EDS: 3 }, cache };
    const second = parseMetrics(await metrics.metrics());

    // then each scrape shows the totals so far
    expect(first.get('meshcp_mesh_translations_total{mesh="a"}')).toBe(1);
    expect(first.get('meshcp_proxy_generations_total')).toBe(4);
    expect(second.get('meshcp_mesh_translations_total{mesh="a"}')).toBe(2);
    expect(second.get('meshcp_mesh_translations_total{mesh="b"}')).toBe(1);
    expect(second.get('meshcp_proxy_generations_total')).toBe(4);
    expect(second.get('meshcp_proxy_endpoint_patches_total')).toBe(3);
    expect(second.get('meshcp_proxy_identity_patches_total')).toBe(2);
    expect(second.get('meshcp_resources_encoded_total')).toBe(11);
    // and the dependency cache's stats, once there are some
    expect(second.get('meshcp_dependency_cache_entries')).toBe(12);
    expect(second.get('meshcp_dependency_cache_hits_total')).toBe(30);
    expect(second.get('meshcp_dependency_cache_misses_total')).toBe(12);
    expect(second.get('meshcp_dependency_cache_evictions_total{reason="change"}')).toBe(5);
    expect(second.get('meshcp_dependency_cache_evictions_total{reason="size"}')).toBe(1);
    metrics.close();
  });

  it('export how changes were checked and how many resources are pinned', async () => {
    // given
    let counters = { incrementalChecks: 2, fullChecks: 1, resourcesChecked: 2, apiChecksAlone: 0, wholeSetChecks: 1 };
    let pinned = 0;
    const registry = new StatusRegistry();
    const metrics = createServerMetrics({ statusEvents: registry.events, connectedProxies: () => 0, identities: () => [], meshCas: () => [], resources: () => [], sources: () => ({ counters, pinned }) });
    const first = parseMetrics(await metrics.metrics());
    // when: three more changes checked alone (five resources), one whole-set check, one resource pinned
    counters = { ...counters, incrementalChecks: 5, fullChecks: 2, resourcesChecked: 7 };
    pinned = 1;
    const second = parseMetrics(await metrics.metrics());
    // then
    expect(first.get('meshcp_resource_changes_checked_total{path="alone"}')).toBe(2);
    expect(first.get('meshcp_resource_changes_checked_total{path="whole_set"}')).toBe(1);
    expect(first.get('meshcp_pinned_resources')).toBe(0);
    expect(second.get('meshcp_resource_changes_checked_total{path="alone"}')).toBe(5);
    expect(second.get('meshcp_resource_changes_checked_total{path="whole_set"}')).toBe(2);
    expect(second.get('meshcp_resources_checked_total')).toBe(7);
    expect(second.get('meshcp_pinned_resources')).toBe(1);
    metrics.close();
  });
});
