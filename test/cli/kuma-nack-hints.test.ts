/**
 * Issue #13 "hints where a client cannot work": a NACK whose error shows a known client
 * limitation gets a hint in `meshcp inspect dataplane NAME --config-dump` and in the NACK log
 * line, e.g. grpc-js-xds without GRPC_XDS_EXPERIMENTAL_RBAC=true refusing the mTLS listener.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/cli/serve.js';
import { nackHint } from '../../src/xds/status.js';
import { LISTENER_TYPE } from '../../src/snapshot/types.js';
import { FakeEnvoy } from '../helpers/fake-envoy.js';
import { bufferLogger } from '../helpers/log-buffer.js';
import { waitFor } from '../helpers/wait.js';
import { runCli } from './harness.js';

/** grpc-js-xds 1.14's own words (listener-resource-type.js) when its RBAC filter is not enabled. */
const GRPC_RBAC_NACK = 'Listener message validation failed: [envoy.filters.http.rbac filter validation failed]';
const RBAC_HINT = "grpc-js-xds accepts the RBAC filter of mesh mTLS listeners only with GRPC_XDS_EXPERIMENTAL_RBAC=true: set it in the application's environment (TrafficPermission is enforced by that filter)";

const CONFIG = `type: Mesh
name: default
---
type: Dataplane
name: web-01
networking:
  address: 127.0.0.1
  inbound: [{ port: 8080, servicePort: 18080, tags: { kuma.io/service: web } }]
---
type: Dataplane
name: web-02
networking:
  address: 127.0.0.1
  inbound: [{ port: 8081, servicePort: 18081, tags: { kuma.io/service: web } }]
`;

describe('NACK hints', () => {
  let dir: string;
  let server: RunningServer;
  let logs: () => string;
  const clients: FakeEnvoy[] = [];

  /** A proxy that subscribes to listeners and refuses the first response with `error`. */
  async function nackListeners(name: string, error: string): Promise<void> {
    const client = new FakeEnvoy({ address: server.xdsAddress, mode: 'sotw', node: { id: name, metadata: { mesh: 'default', flavor: 'grpc' } } });
    clients.push(client);
    client.subscribe(LISTENER_TYPE, []);
    client.nack(await client.nextOf(LISTENER_TYPE, 30_000), error);
  }

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-nack-hints-'));
    fs.writeFileSync(path.join(dir, 'config.yaml'), CONFIG);
    const buffer = bufferLogger();
    logs = buffer.text;
    server = await startServer({ config: [path.join(dir, 'config.yaml')], dataDir: path.join(dir, 'data'), xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', auth: 'none', xdsPlaintext: true }, buffer.log);
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('explains a grpc-js-xds NACK of the RBAC filter in inspect and in the log', async () => {
    // given: web-01, a proxyless gRPC app without GRPC_XDS_EXPERIMENTAL_RBAC, refuses its listener
    await nackListeners('web-01', GRPC_RBAC_NACK);
    await waitFor('the NACK is recorded', () => logs().includes('proxy rejected configuration (NACK)'));
    // when
    const table = await runCli(['inspect', 'dataplane', 'web-01', '--config-dump', '-o', 'table', '--server', server.adminUrl]);
    const json = await runCli(['inspect', 'dataplane', 'web-01', '--config-dump', '-o', 'json', '--server', server.adminUrl]);
    // then
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toContain(`hint (LDS): ${RBAC_HINT}\n`);
    const lds = (JSON.parse(json.stdout) as { types: Record<string, unknown>[] }).types.find((t) => t['type'] === 'LDS');
    expect(lds).toMatchObject({ state: 'NACKED', lastError: GRPC_RBAC_NACK, hint: RBAC_HINT });
    const line = logs().split('\n').find((l) => l.includes('proxy rejected configuration (NACK)') && l.includes('"web-01"'));
    expect(JSON.parse(line ?? '{}')).toMatchObject({ error: GRPC_RBAC_NACK, hint: RBAC_HINT });
  });

  it('gives no hint for an error it does not know', async () => {
    // given
    await nackListeners('web-02', 'simulated: something else entirely');
    await waitFor('the NACK is recorded', () => logs().includes('simulated: something else entirely'));
    // when
    const table = await runCli(['inspect', 'dataplane', 'web-02', '--config-dump', '-o', 'table', '--server', server.adminUrl]);
    // then
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toContain('simulated: something else entirely');
    expect(table.stdout).not.toContain('hint (');
    expect(nackHint('simulated: something else entirely')).toBeUndefined();
  });

  it('knows the other client limitations by their own error text', () => {
    // given / when / then: grpc-js-xds without the bootstrap's certificate providers, Envoy's RE2 limit, a missing Envoy extension
    expect(nackHint('Listener message validation failed: [Unmatched DownstreamTlsContext.tls_certificate_provider_instance.instance_name: identity]')).toMatch(/meshcp bootstrap grpc --cert-dir/);
    expect(nackHint("regex '(?:x)' RE2 program size of 1234 > max program size of 100 set for the error level threshold. Increase configured max program size if necessary.")).toMatch(/meshcp bootstrap envoy/);
    expect(nackHint("Didn't find a registered implementation for 'envoy.matching.inputs.subject' with type URL: 'envoy.extensions.matching.common_inputs.ssl.v3.SubjectInput'")).toMatch(/current official Envoy image/);
  });
});
