/**
 * What checking a change costs in the sources (issue #11: the store and the sources emit changes):
 * the bench scenario's resources in the bench's in-memory store, the real `ResourceSources`,
 * and the measured change (a new endpoint on `ext`) applied many times. "Alone" is the path every
 * such change takes (`validateChange`: one resource checked); "whole set" is a re-check of every
 * resource, the path of an error, a pin, a config reload that adds resources, a CA file re-check
 * and the first change a minute after the last whole check, and what every change cost before.
 * In-process, CPU time per change; no baseline (grpc-js has no resource validation).
 */
import { of } from 'rxjs';
import { silentLogger } from '../src/log/logger.js';
import { ResourceSources } from '../src/sources/resource-sources.js';
import { MemoryStore } from './memory-store.js';
import { externalService, staticResources, type Scenario } from './scenario.js';

export interface SourceCheckResult {
  readonly scenario: Scenario;
  readonly proxies: number;
  readonly resources: number;
  /** Mean ms per change checked alone (store event → change passed on). */
  readonly aloneMs: number;
  /** Mean ms per whole-set check of the same set. */
  readonly wholeSetMs: number;
  /** Resources checked per change on the alone path. */
  readonly resourcesCheckedPerChange: number;
}

function meanMs(run: (i: number) => void, times: number): number {
  for (let i = 0; i < 5; i++) run(i);
  const start = process.hrtime.bigint();
  for (let i = 0; i < times; i++) run(i + 5);
  return Number(process.hrtime.bigint() - start) / 1e6 / times;
}

export function measureSourceChecks(scenarios: readonly Scenario[], proxyCounts: readonly number[]): SourceCheckResult[] {
  const out: SourceCheckResult[] = [];
  for (const scenario of scenarios) {
    for (const proxies of proxyCounts) {
      const resources = [...staticResources(proxies, scenario), externalService(0)];
      const store = new MemoryStore(resources);
      const sources = new ResourceSources({ resources: of([]), current: () => [], paths: [] }, store, silentLogger());
      sources.start();
      const before = { ...sources.counters };
      const aloneMs = meanMs((i) => void store.apply([{ op: 'put', resource: externalService(i + 1) }]), 200);
      const alone = sources.counters.incrementalChecks - before.incrementalChecks;
      if (alone !== 205) throw new Error(`source checks: ${alone} of 205 changes were checked alone`);
      const resourcesCheckedPerChange = (sources.counters.resourcesChecked - before.resourcesChecked) / alone;
      const wholeSetMs = meanMs(() => sources.recheck(), 20);
      sources.stop();
      out.push({ scenario, proxies, resources: resources.length, aloneMs, wholeSetMs, resourcesCheckedPerChange });
    }
  }
  return out;
}
