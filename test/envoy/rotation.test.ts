/**
 * Workload certificate rotation and a CA switch (builtin → provided) on real Envoy sidecars,
 * each under continuous load: Envoy picks up every new certificate over SDS (its `/certs` shows
 * the serial meshcp issued), trusts both CAs during the switch, and not one request fails.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa } from '../../src/ca/pki.js';
import { freePort } from '../helpers/echo-service.js';
import { waitFor } from '../helpers/wait.js';
import { httpGet, startHttpApp, startLoad, type RunningApp } from './apps.js';
import type { EnvoyProcess } from './envoy-process.js';
import { printEnvoysOnFailure, Testbed } from './testbed.js';

interface Identity {
  readonly name: string;
  readonly backend?: string;
  readonly serial?: string;
  readonly regenerations: number;
}

const mesh = (enabled: string, provided?: { cert: string; key: string }): string => `type: Mesh
name: default
mtls:
  enabledBackend: ${enabled}
  backends:
  - { name: ca-1, type: builtin, mode: STRICT, dpCert: { rotation: { expiration: 6s } }, conf: { caCert: { keyType: ECDSA } } }
${provided ? `  - { name: ca-2, type: provided, mode: STRICT, dpCert: { rotation: { expiration: 1h } }, conf: { cert: { inline: ${provided.cert} }, key: { inline: ${provided.key} } } }\n` : ''}`;

/** The serial numbers of the certificate chains Envoy holds, as its admin `/certs` reports them. */
async function envoySerials(envoy: EnvoyProcess): Promise<string[]> {
  const body = JSON.parse((await envoy.admin('/certs')).body) as { certificates?: Array<{ cert_chain?: Array<{ serial_number?: string }> }> };
  return (body.certificates ?? []).flatMap((c) => (c.cert_chain ?? []).map((x) => (x.serial_number ?? '').toLowerCase()));
}

describe('certificate rotation and CA switch on real Envoy, under load', () => {
  let bed: Testbed;
  const apps: RunningApp[] = [];
  let web: EnvoyProcess;
  let backend: EnvoyProcess;
  let outbound: number;
  let provided: { cert: string; key: string };
  printEnvoysOnFailure(() => [bed]);

  const identities = async (): Promise<Identity[]> => {
    const res = await fetch(`${bed.server.adminUrl}/api/identities`);
    return ((await res.json()) as { items: Identity[] }).items;
  };
  const callBackend = async (): Promise<true | string> => {
    const reply = await httpGet(outbound, '/rotation');
    return reply.status === 200 ? true : `${reply.status} ${reply.body}`;
  };

  beforeAll(async () => {
    bed = await Testbed.start('rotation');
    const webApp = await startHttpApp('web');
    const backendApp = await startHttpApp('backend');
    apps.push(webApp, backendApp);
    outbound = await freePort();
    const root = await createRootCa({ commonName: 'provided mesh root', keyType: 'ecdsa-p256', validitySeconds: 86_400 });
    provided = { cert: Buffer.from(root.certPem).toString('base64'), key: Buffer.from(root.keyPem).toString('base64') };
    await bed.apply(`${mesh('ca-1')}---
type: Dataplane
name: web
networking:
  address: 127.0.0.1
  inbound: [ { port: ${await freePort()}, servicePort: ${webApp.port}, tags: { kuma.io/service: web, kuma.io/protocol: http } } ]
  outbound: [ { port: ${outbound}, tags: { kuma.io/service: backend } } ]
---
type: Dataplane
name: backend
networking:
  address: 127.0.0.1
  inbound: [ { port: ${await freePort()}, servicePort: ${backendApp.port}, tags: { kuma.io/service: backend, kuma.io/protocol: http } } ]
---
type: TrafficPermission
name: web-to-backend
sources: [ { match: { kuma.io/service: web } } ]
destinations: [ { match: { kuma.io/service: backend } } ]
`);
    [web, backend] = await Promise.all([bed.readyEnvoy('web'), bed.readyEnvoy('backend')]);
    await waitFor('web reaches backend', async () => ((await httpGet(outbound).catch(() => undefined))?.status === 200 ? true : undefined));
  });

  afterAll(async () => {
    await bed?.stop();
    await Promise.all(apps.map((a) => a.close()));
  });

  it('rotates both sidecars\' certificates twice under load: Envoy holds each new serial, no request fails', async () => {
    // given continuous calls, and the certificates issued so far
    const load = startLoad(callBackend);
    const before = await identities();
    const regenerations = (list: Identity[], name: string): number => list.find((i) => i.name === name)?.regenerations ?? 0;

    // when two rotations pass (6 s certificates rotate at about 4/5 of their life)
    const after = await waitFor('two rotations of each sidecar', async () => {
      const now = await identities();
      return ['web', 'backend'].every((n) => regenerations(now, n) >= regenerations(before, n) + 2) ? now : undefined;
    }, { timeoutMs: 60_000 });

    // then each Envoy holds the latest serial meshcp issued to it
    for (const envoy of [web, backend]) {
      const serial = after.find((i) => i.name === envoy.name)?.serial?.toLowerCase() ?? '';
      expect(serial).toMatch(/^[0-9a-f]{8,}$/);
      await waitFor(`${envoy.name} to hold ${serial}`, async () => ((await envoySerials(envoy)).some((s) => s.replace(/^0+/, '') === serial.replace(/^0+/, '')) ? true : undefined));
    }
    const result = await load.stop();
    expect(result.failures).toEqual([]);
    expect(result.failed).toBe(0);
    expect(result.ok).toBeGreaterThan(20);
  });

  it('switches the mesh CA from builtin to provided under load: both trusted during the switch, no request fails', async () => {
    // given both backends declared, the builtin one enabled, and continuous calls
    await bed.apply(mesh('ca-1', provided));
    const load = startLoad(callBackend);
    const done = load.done();
    await waitFor('calls before the switch', () => load.done() > done + 10);

    // when the provided CA is enabled
    await bed.apply(mesh('ca-2', provided));

    // then every proxy ends up with a certificate from it, which its Envoy holds
    const after = await waitFor('both sidecars on ca-2', async () => {
      const now = await identities();
      return ['web', 'backend'].every((n) => now.find((i) => i.name === n)?.backend === 'ca-2') ? now : undefined;
    }, { timeoutMs: 60_000 });
    for (const envoy of [web, backend]) {
      const serial = after.find((i) => i.name === envoy.name)?.serial?.toLowerCase() ?? '';
      expect(serial).toMatch(/^[0-9a-f]{8,}$/);
      await waitFor(`${envoy.name} to hold its ca-2 certificate`, async () => ((await envoySerials(envoy)).some((s) => s.replace(/^0+/, '') === serial.replace(/^0+/, '')) ? true : undefined));
    }
    const settled = load.done();
    await waitFor('calls after the switch', () => load.done() > settled + 20);
    const result = await load.stop();
    expect(result.failures).toEqual([]);
    expect(result.failed).toBe(0);
    for (const envoy of [web, backend]) expect(await envoy.stat('listener_manager.lds.update_rejected'), envoy.name).toBe(0);
  });
});
