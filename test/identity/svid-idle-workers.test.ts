/** The SVID worker threads (src/ca/svid.ts) stop when idle, and a later burst starts them again. */
import crypto from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createRootCa } from '../../src/ca/pki.js';
import { SvidIssuer } from '../../src/ca/svid.js';
import { setSvidWorkerIdleMs, svidWorkersRunning } from '../../src/ca/svid-workers.js';

afterAll(() => setSvidWorkerIdleMs(10_000));

async function until(condition: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('SVID worker threads', () => {
  it('are stopped once idle and started again by the next request', async () => {
    // given a short idle time and an issuer with an ECDSA root
    setSvidWorkerIdleMs(50);
    const now = new Date();
    const root = await createRootCa({ commonName: 'Idle Root', keyType: 'ecdsa-p256', validitySeconds: 86_400, now });
    const issuer = new SvidIssuer(root);

    // when a burst is issued, then nothing more
    const first = await Promise.all([0, 1, 2, 3].map((i) => issuer.issue([`spiffe://default/svc-${i}`], 3600, now)));
    expect(first).toHaveLength(4);

    // then every worker stops
    await until(() => svidWorkersRunning() === 0, 'idle workers stopped');

    // and a later request starts one again and is answered with a valid certificate
    const again = await issuer.issue(['spiffe://default/again'], 3600, now);
    expect(svidWorkersRunning()).toBeGreaterThan(0);
    expect(new crypto.X509Certificate(again.certPem).checkIssued(new crypto.X509Certificate(root.certPem))).toBe(true);
    await until(() => svidWorkersRunning() === 0, 'idle workers stopped again');
  });
});
