/**
 * The SVID worker threads (src/ca/svid-workers.ts) stop when idle, and a later burst starts them
 * again; `meshcp_svid_worker_threads` on /metrics counts them.
 */
import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Subject } from 'rxjs';
import { createRootCa } from '../../src/ca/pki.js';
import { SvidIssuer } from '../../src/ca/svid.js';
import { SvidWorkerPool } from '../../src/ca/svid-workers.js';
import { createServerMetrics, type ServerMetrics } from '../../src/runtime/metrics.js';
import type { StatusEvent } from '../../src/xds/status.js';
import { waitFor } from '../helpers/wait.js';

/** Server metrics whose SVID worker gauge reads `pool` (nothing else is looked at here). */
function metricsOf(pool: SvidWorkerPool): ServerMetrics {
  return createServerMetrics({
    statusEvents: new Subject<StatusEvent>(),
    connectedProxies: () => 0,
    identities: () => [],
    meshCas: () => [],
    resources: () => [],
    svidWorkers: () => pool.running,
  });
}

/** The gauge as a scrape computes it. */
async function workerThreads(metrics: ServerMetrics): Promise<number | undefined> {
  const gauge = metrics.registry.getSingleMetric('meshcp_svid_worker_threads');
  return (await gauge?.get())?.values[0]?.value;
}

describe('SVID worker threads', () => {
  it('are stopped once idle and started again by the next request, as the gauge shows', async () => {
    // given a pool with a short idle time, the metrics that watch it, and an issuer with an ECDSA root
    const pool = new SvidWorkerPool({ idleWorkerMs: 50 });
    const metrics = metricsOf(pool);
    const now = new Date();
    const root = await createRootCa({ commonName: 'Idle Root', keyType: 'ecdsa-p256', validitySeconds: 86_400, now });
    const issuer = new SvidIssuer(root, pool);
    expect(await workerThreads(metrics)).toBe(0);

    // when a burst is issued, then nothing more
    const first = await Promise.all([0, 1, 2, 3].map((i) => issuer.issue([`spiffe://default/svc-${i}`], 3600, now)));
    expect(first).toHaveLength(4);
    expect(await workerThreads(metrics)).toBeGreaterThan(0);

    // then every worker stops
    await waitFor('idle workers stopped', async () => (await workerThreads(metrics)) === 0);

    // and a later request starts one again and is answered with a valid certificate
    const again = await issuer.issue(['spiffe://default/again'], 3600, now);
    expect(await workerThreads(metrics)).toBeGreaterThan(0);
    expect(new crypto.X509Certificate(again.certPem).checkIssued(new crypto.X509Certificate(root.certPem))).toBe(true);
    await waitFor('idle workers stopped again', async () => (await workerThreads(metrics)) === 0);
    metrics.close();
  });
});
