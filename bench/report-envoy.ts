/** The real-Envoy fleet section of BENCHMARKS.md (bench/envoy-fleet.ts). */
import type { EnvoyFleetFigures, EnvoyFleetRun } from './envoy-fleet.js';

const nearestRank = (values: readonly number[], p: number): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
};

function row(run: EnvoyFleetRun): string {
  return `| ${run.server} | ${run.envoys} | ${run.coldStartMs.toFixed(0)} | ${run.rssPerEnvoyMiB.toFixed(1)} | ${nearestRank(run.changeMs, 50).toFixed(0)} | ${nearestRank(run.changeMs, 99).toFixed(0)} | ${nearestRank(run.allAppliedMs, 50).toFixed(0)} |`;
}

export function envoyFleetSection(figures: EnvoyFleetFigures | undefined): string {
  if (!figures || figures.runs.length === 0) return '';
  const meshcp = figures.runs.find((r) => r.server === 'meshcp');
  const gcp = figures.runs.find((r) => r.server === 'go-control-plane');
  const ratio = (a: number | undefined, b: number | undefined): string => (a !== undefined && b !== undefined && b > 0 ? `${(a / b).toFixed(2)}×` : 'n/a');
  const ratios =
    meshcp && gcp
      ? `meshcp ÷ go-control-plane: cold start ${ratio(meshcp.coldStartMs, gcp.coldStartMs)}, change p50 ${ratio(nearestRank(meshcp.changeMs, 50), nearestRank(gcp.changeMs, 50))}, p99 ${ratio(nearestRank(meshcp.changeMs, 99), nearestRank(gcp.changeMs, 99))}, all applied (p50 over changes) ${ratio(nearestRank(meshcp.allAppliedMs, 50), nearestRank(gcp.allAppliedMs, 50))}.`
      : '';
  return `### Real Envoy fleet

\`bench/envoy-fleet.ts\` (run by \`npm run bench\`; \`BENCH_ENVOYS\`, \`BENCH_ENVOY_CHANGES\`, \`BENCH_SKIP_ENVOY=1\`): ${meshcp?.envoys ?? gcp?.envoys} real Envoy ${figures.envoyVersion} sidecars (\`--concurrency 1\` each) on this machine, each from meshcp's bootstrap code, over TLS xDS (SotW ADS), first served by \`meshcp serve\` (a child process, token authentication), then by go-control-plane (\`test/peers/go/cmd/xds-server\`) serving exactly the resources meshcp generates for each of them. A change gives the external Service \`ext\`, reached by name (a \`LOGICAL_DNS\` cluster), a new port, so every Envoy must apply a new Cluster; each Envoy's latency is its own \`cluster_manager.cds.update_time\` minus the moment of the change (for meshcp a \`POST /api/apply\`, so its figure includes the admin API, validation and the store; for go-control-plane its cache update). Cold start is from starting the Envoys until all answer \`/ready\`; RSS per Envoy is read from /proc once all are ready.

| server | Envoys | cold start, ms | RSS per Envoy, MiB | change, p50 ms | change, p99 ms | until all applied, p50 ms |
|---|---|---|---|---|---|---|
${figures.runs.map(row).join('\n')}

${ratios}
`;
}
