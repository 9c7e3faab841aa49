/**
 * Writes under contention (SPEC §5): 100 concurrent `meshcp route update
 * --client-certificate-subject cN.acme.org` through two etcd-backed replicas. Every update lands,
 * or fails loudly naming the conflict; none is lost. (Latency is measured by
 * bench/etcd-contention.ts, never asserted here.)
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa } from '../../src/ca/pki.js';
import { conflictBackoffMs } from '../../src/store/retry.js';
import { BASE_RESOURCES, runCli } from '../cli/harness.js';
import { waitFor } from '../helpers/wait.js';
import { startEtcdReplicas, type EtcdReplicas } from './store-replicas.js';

const WRITERS = 100;

describe('concurrent route updates through two replicas', () => {
  let env: EtcdReplicas;

  beforeAll(async () => {
    env = await startEtcdReplicas();
  }, 120_000);

  afterAll(async () => {
    await env?.stop();
  });

  it('backs off from a small first delay, with jitter, up to a cap', () => {
    // given / when
    const draws = (attempt: number, r: number): number => conflictBackoffMs(attempt, { random: () => r });
    // then
    expect(draws(1, 0.999)).toBeLessThan(10);
    expect(draws(1, 0)).toBe(0);
    expect(draws(4, 0.999)).toBeLessThan(80);
    expect(draws(4, 0.999)).toBeGreaterThanOrEqual(70);
    expect(draws(30, 0.999)).toBeLessThan(1000);
    expect(new Set(Array.from({ length: 50 }, () => conflictBackoffMs(6))).size).toBeGreaterThan(10);
  });

  it(`${WRITERS} writers: each update lands or fails naming the conflict, and none is lost`, async () => {
    // given: a route with a client CA, on both replicas
    const a = await env.replica('contention');
    const b = await env.replica('contention');
    const ca = await createRootCa({ commonName: 'Clients CA', validitySeconds: 86_400 });
    const caFile = path.join(env.dir, 'clients-ca.pem');
    fs.writeFileSync(caFile, ca.certPem);
    fs.writeFileSync(path.join(env.dir, 'base.yaml'), BASE_RESOURCES);
    expect((await runCli(['apply', '-f', path.join(env.dir, 'base.yaml'), '--server', a.adminUrl])).code).toBe(0);
    expect((await runCli(['secret', 'create', 'tls-ca', 'my-root-ca', '--cert', caFile, '--server', a.adminUrl])).code).toBe(0);
    const created = await runCli(['route', 'create', 'r1', '--host', 'ecommerce.acme.org', '--client-ca-secret', 'my-root-ca', '--path-prefix', '/=shopping-cart', '--server', a.adminUrl]);
    expect(created.code, created.stderr).toBe(0);
    await waitFor('route on B', () => b.store.current().some((s) => s.resource.type === 'Route'));
    // when: all at once, alternating replicas
    const runs = await Promise.all(
      Array.from({ length: WRITERS }, (_, i) => runCli(['route', 'update', 'r1', '--client-certificate-subject', `c${i}.acme.org`, '--server', (i % 2 === 0 ? a : b).adminUrl])),
    );
    // then: a failure, if any, says which conflict it lost
    const landed = new Set<string>();
    runs.forEach((run, i) => {
      if (run.code === 0) landed.add(`c${i}.acme.org`);
      else expect(run.stderr).toMatch(/Route\/r1 in mesh "default" kept changing under this update: \d+ attempts over [\d.]+ s each lost the race to another writer/);
    });
    expect(landed.size).toBeGreaterThan(0);
    // and: the route holds exactly the updates that said they landed, on both replicas
    for (const server of [a, b]) {
      const subjects = await waitFor('every landed subject', async () => {
        const got = await runCli(['route', 'get', 'r1', '-o', 'json', '--server', server.adminUrl]);
        const doc = JSON.parse(got.stdout) as { validation?: { clientCertificate?: { subjectMatches?: { exact?: string }[] } } };
        const matches = (doc.validation?.clientCertificate?.subjectMatches ?? []).map((m) => m.exact ?? '');
        return matches.length === landed.size ? matches.sort() : undefined;
      }, { timeoutMs: 30_000 });
      expect(subjects).toEqual([...landed].sort());
    }
  }, 300_000);
});
