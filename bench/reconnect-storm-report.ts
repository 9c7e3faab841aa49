/**
 * The reconnect storm's figures (bench/reconnect-storm.ts) and how BENCHMARKS.md and the results
 * table show them: rows with the ratio to the baseline, as the other measures have.
 */
import { format, ratio } from './report.js';

export interface StormRun {
  readonly implementation: 'baseline' | 'meshcp';
  readonly proxies: number;
  readonly proxiesPerConnection: number;
  /** All N connected and ACKed every type, the first time. */
  readonly initialMs: number;
  /** From the restart (the new process spawned) until the first response any proxy received: the server serving again. */
  readonly restartReadyMs: number;
  /** From the restart until every proxy has ACKed every type on its new stream. */
  readonly reconnectMs: number;
  /** Streams the clients opened in all (N at first, then one per reconnect attempt). */
  readonly streams?: number;
  /** meshcp on etcd: etcd's committed writes. */
  readonly etcd?: {
    readonly idleWritesPerSecond: number;
    readonly changeAckedMs: number;
    readonly changeWrites: number;
    readonly changeWritesPerSecond: number;
    readonly stormWrites: number;
    readonly stormWritesPerSecond: number;
  };
}

export interface ReconnectStormFigures {
  /** Where meshcp kept its resources: etcd when the etcd binary was there. */
  readonly store: 'etcd' | 'file';
  readonly runs: readonly StormRun[];
}

/** Rows for the results table: N | measure | meshcp | baseline | ratio. */
export function stormTable(figures: ReconnectStormFigures): string {
  const lines = ['| N | Measure | meshcp | baseline | Ratio |', '|---:|---|---:|---:|---:|'];
  const byN = new Map<number, StormRun[]>();
  for (const run of figures.runs) byN.set(run.proxies, [...(byN.get(run.proxies) ?? []), run]);
  for (const [n, runs] of [...byN].sort(([a], [b]) => a - b)) {
    const meshcp = runs.find((r) => r.implementation === 'meshcp');
    const baseline = runs.find((r) => r.implementation === 'baseline');
    const row = (label: string, pick: (r: StormRun) => number): void => {
      const m = meshcp ? pick(meshcp) : NaN;
      const b = baseline ? pick(baseline) : NaN;
      lines.push(`| ${n} | ${label} | ${format(m)} | ${format(b)} | ${ratio(m, b, 2)} |`);
    };
    row('restart → first response (ms)', (r) => r.restartReadyMs);
    row('restart → all reconnected and ACKed every type (ms)', (r) => r.reconnectMs);
    row('first response → all reconnected and ACKed every type (ms)', (r) => r.reconnectMs - r.restartReadyMs);
    const e = meshcp?.etcd;
    if (e) {
      lines.push(`| ${n} | etcd writes/s, idle with N connected | ${format(e.idleWritesPerSecond)} | | |`);
      lines.push(`| ${n} | etcd writes, a change all ACK (until 5 s after) | ${e.changeWrites} (${format(e.changeWritesPerSecond)}/s) | | |`);
      lines.push(`| ${n} | etcd writes, the storm (restart until 5 s after the last ACK) | ${e.stormWrites} (${format(e.stormWritesPerSecond)}/s) | | |`);
    }
  }
  return lines.join('\n');
}

export function stormSection(figures: ReconnectStormFigures | undefined): string {
  if (!figures) return '';
  return `### Reconnect storm

\`bench/reconnect-storm.ts\`: N simulated Envoys hold ADS streams over TLS (the plain scenario; ${figures.runs[0]?.proxiesPerConnection ?? 50} proxies per connection). The server is killed (SIGKILL) and started again on the same port and ${figures.store === 'etcd' ? 'etcd store' : 'data directory (file store: no etcd binary)'}; every proxy retries with jitter (100 ms doubling to 1 s) and reconnects. The clock runs in the clients process, from the new server's spawn until every proxy has ACKed CDS, EDS, LDS and RDS on its new stream. meshcp is the built \`meshcp serve\` (\`--auth none\`, \`--xds-tls-cert\`), which loads its store, translates and generates after the restart; the baseline (same certificate, same port) prepares its encoded responses again before it listens, so "restart → first response" is mostly start-up work, and "first response → all ACKed" (both on the clients' clock) is the storm itself: TLS handshakes, streams, and for meshcp the configs it generates for the reconnected proxies. ${figures.store === 'etcd' ? "etcd writes are etcd's own count of committed proposals (\`etcd_server_proposals_committed_total\`): the status of N proxies is written in at most one transaction per 250 ms per replica." : ''}

${stormTable(figures)}`;
}
