/**
 * Warnings a newcomer needed: mesh mTLS with no TrafficPermission denies every call (on apply,
 * validate, and the deletion of the last permission), and a Dataplane inbound on a loopback
 * address without servicePort gets no Envoy sidecar listener (right for proxyless gRPC only).
 * Through the installed bin, as the user ran it.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBin } from './bin.js';
import { startHarness, type Harness } from './harness.js';

const MTLS_MESH = `type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends: [ { name: ca-1, type: builtin, conf: { caCert: { keyType: ECDSA } } } ]
`;

const PERMISSION = `type: TrafficPermission
name: allow-all
sources: [ { match: { kuma.io/service: '*' } } ]
destinations: [ { match: { kuma.io/service: '*' } } ]
`;

const DENY_ALL = /^Warning: .*Mesh\/default: mtls\.enabledBackend: mTLS is on \(backend "ca-1"\) and mesh "default" has no TrafficPermission: every call between its services is denied \(default deny, as Kuma\); apply one, e\.g\. sources and destinations matching kuma\.io\/service: '\*' to allow all$/m;

describe('default deny and loopback inbound warnings', () => {
  let h: Harness;
  const meshcp = (...args: string[]): ReturnType<typeof runBin> => runBin([...args, '--server', h.url], { cwd: h.dir });
  const write = (name: string, text: string): string => h.file(name, text);

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.stop();
  });

  it('validate -f and apply warn that mTLS with no TrafficPermission denies everything', async () => {
    // given
    const mesh = write('mesh.yaml', MTLS_MESH);
    // when
    const validated = await runBin(['validate', '-f', mesh], { cwd: h.dir });
    const applied = await meshcp('apply', '-f', mesh);
    // then: accepted, with the warning
    expect(validated.code).toBe(0);
    expect(validated.stderr).toMatch(/^warning: Mesh\/default: mtls\.enabledBackend: mTLS is on/m);
    expect(applied).toMatchObject({ code: 0, stdout: 'Mesh/default created\n' });
    expect(applied.stderr).toMatch(DENY_ALL);
  });

  it('no warning once a permission exists; the deletion of the last one warns', async () => {
    // when
    const allowed = await meshcp('apply', '-f', write('tp.yaml', PERMISSION));
    const deleted = await meshcp('delete', 'trafficpermission', 'allow-all');
    // then
    expect(allowed).toMatchObject({ code: 0, stdout: 'TrafficPermission/allow-all created\n', stderr: '' });
    expect(deleted.code).toBe(0);
    expect(deleted.stdout).toBe('TrafficPermission/allow-all deleted\n');
    expect(deleted.stderr).toMatch(DENY_ALL);
  });

  it('a loopback inbound without servicePort: a warning that names the field and says who it is right for', async () => {
    // given
    const dataplane = write('dp.yaml', `type: Dataplane
name: backend-1
networking:
  address: 127.0.0.1
  inbound: [ { port: 50051, tags: { kuma.io/service: backend } } ]
`);
    // when
    const applied = await meshcp('apply', '-f', dataplane);
    // then
    expect(applied.code).toBe(0);
    expect(applied.stderr).toContain(
      `Warning: ${path.join(h.dir, 'dp.yaml')}#1 Dataplane/backend-1: networking.inbound[0].servicePort: none on the loopback address 127.0.0.1: right for a proxyless gRPC app, which serves port 50051 itself; an Envoy sidecar gets no inbound listener for it (give servicePort, the port the app behind the sidecar listens on)\n`,
    );
  });
});
