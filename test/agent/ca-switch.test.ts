import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type RunningAgent } from '../../src/agent/agent.js';
import { parseCertificates } from '../../src/ca/pem.js';
import { silentLogger } from '../../src/log/logger.js';
import { verify } from '../ca/openssl.js';
import { startControlPlane, type TestControlPlane } from '../helpers/control-plane.js';
import { waitFor } from '../helpers/wait.js';

function config(enabled: string): string {
  return `type: Mesh
name: default
mtls:
  enabledBackend: ${enabled}
  backends:
  - name: ca-1
    type: builtin
  - name: ca-2
    type: builtin
---
type: Dataplane
name: web-01
networking:
  address: 127.0.0.1
  inbound: [{ port: 18080, tags: { kuma.io/service: web } }]
---
type: Dataplane
name: backend-01
networking:
  address: 127.0.0.1
  inbound: [{ port: 18081, tags: { kuma.io/service: backend } }]
`;
}

const PROXIES = ['web-01', 'backend-01'] as const;

describe('CA switch seen by proxies (meshcp agent over ADS, ACKs observed)', () => {
  let cp: TestControlPlane;
  const agents: RunningAgent[] = [];
  const dirOf = (name: string): string => path.join(cp.dir, 'certs', name);
  const read = (name: string, file: string): string => fs.readFileSync(path.join(dirOf(name), file), 'utf8');
  const roots = (name: string): number => parseCertificates(read(name, 'ca.pem')).length;
  /** In process, cheap enough to run on every poll: does a's certificate chain to a root in b's bundle? */
  const trusts = (b: string, a: string): boolean => {
    const [leaf] = parseCertificates(read(a, 'cert.pem'));
    return parseCertificates(read(b, 'ca.pem')).some((root: crypto.X509Certificate) => leaf !== undefined && leaf.checkIssued(root) && leaf.verify(root.publicKey));
  };
  /** Every proxy's certificate verifies against every proxy's trust bundle (openssl): calls both ways succeed. */
  const mutuallyTrusted = (): boolean =>
    PROXIES.every((a) => PROXIES.every((b) => verify(path.join(dirOf(a), 'cert.pem'), { caFile: path.join(dirOf(b), 'ca.pem') }).status === 0));

  beforeAll(async () => {
    cp = await startControlPlane(config('ca-1'));
    for (const name of PROXIES) {
      agents.push(startAgent({ name, mesh: 'default', token: 'unused', certDir: path.join(cp.dir, 'certs', name), xdsAddress: cp.address, log: silentLogger() }));
    }
    await Promise.all(agents.map((a) => a.ready));
  });

  afterAll(async () => {
    for (const agent of agents) agent.stop();
    await cp.stop();
  });

  it('trusts both roots while proxies move to the new CA, then only the new one', async () => {
    // given
    const oldBundle = read('web-01', 'ca.pem');
    const oldCerts = PROXIES.map((n) => read(n, 'cert.pem'));
    expect(mutuallyTrusted()).toBe(true);
    const before = cp.controlPlane.recompute();
    // when
    await cp.writeConfig(config('ca-2'));
    // then every state the files go through keeps both proxies trusting each other
    const broken: string[] = [];
    await waitFor(
      'every proxy on the new CA',
      () => {
        for (const a of PROXIES) for (const b of PROXIES) if (!trusts(b, a)) broken.push(`${b} does not trust ${a}`);
        return PROXIES.every((n, i) => read(n, 'cert.pem') !== oldCerts[i]);
      },
      { timeoutMs: 20_000, intervalMs: 5 },
    );
    expect(broken).toEqual([]);
    // then the old root is dropped once every proxy has ACKed its new certificate
    await waitFor('the old root dropped everywhere', () => PROXIES.every((n) => roots(n) === 1), { timeoutMs: 20_000 });
    expect(mutuallyTrusted()).toBe(true);
    expect(read('web-01', 'ca.pem')).not.toBe(oldBundle);
    const newRoot = read('web-01', 'ca.pem');
    expect(oldBundle).not.toContain(newRoot.trim());
    expect(cp.controlPlane.identities.switching('default')).toBe(false);
    // and the switch changed no proxy's listeners or clusters, so none was generated again: the
    // Mesh was translated to an equal model, and only the SDS Secrets were patched
    const after = cp.controlPlane.recompute();
    expect((after.translations['default'] ?? 0) - (before.translations['default'] ?? 0)).toBeGreaterThan(0);
    expect(after.proxyGenerations - before.proxyGenerations).toBe(0);
    expect(after.identityPatches - before.identityPatches).toBeGreaterThan(0);
  });
});
