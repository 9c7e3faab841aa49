/**
 * `meshcp inspect` and `/metrics` after a scripted scenario through the real `serve` path: a raw
 * ADS client connects as Dataplane web-01 in a mesh with mTLS and a 3 s dpCert (so a rotation
 * happens), ACKs CDS and SDS, NACKs LDS with an error. Inspect (table and JSON), the config dump
 * and the Prometheus counters must all tell the same story, and no private key is ever printed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa } from '../../src/ca/pki.js';
import { startServer, type RunningServer } from '../../src/cli/serve.js';
import { createLogger } from '../../src/log/logger.js';
import { CLUSTER_TYPE, LISTENER_TYPE, SECRET_TYPE } from '../../src/snapshot/types.js';
import { runCli } from '../cli/harness.js';
import { FakeEnvoy, type ReceivedResponse } from '../helpers/fake-envoy.js';
import { waitFor } from '../helpers/wait.js';

const NACK_MESSAGE = 'simulated: Proto constraint validation failed (listener inbound:8080)';
const IDENTITY = 'identity-cert:default';

function config(soonCaPem: string): string {
  const indent = (text: string): string => text.trim().split('\n').map((l) => `  ${l}`).join('\n');
  return `type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends:
  - name: ca-1
    type: builtin
    dpCert: { rotation: { expiration: 3s } }
---
type: Dataplane
name: web-01
networking:
  address: 127.0.0.1
  inbound: [{ port: 8080, servicePort: 18080, tags: { kuma.io/service: web, kuma.io/protocol: http } }]
  outbound: [{ port: 10001, tags: { kuma.io/service: backend } }]
---
type: Dataplane
name: backend-01
networking:
  address: 127.0.0.1
  inbound: [{ port: 8081, servicePort: 18081, tags: { kuma.io/service: backend } }]
---
type: Secret
name: partner-ca
secretType: tls-ca
cert: |
${indent(soonCaPem)}
`;
}

/** Prometheus text exposition: `name{labels} value` lines, keyed by `name{labels}` as written. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^(\S+?(?:\{[^}]*\})?)\s+(\S+)$/.exec(line);
    if (match) out.set(match[1]!, Number(match[2]));
  }
  return out;
}

function sumOf(metrics: Map<string, number>, name: string): number {
  let total = 0;
  for (const [key, value] of metrics) if (key === name || key.startsWith(`${name}{`)) total += value;
  return total;
}

/** Table cells split on the 3-space column gap (renderTable); CERT EXPIRATION has one space inside. */
function parseTable(text: string): Record<string, string>[] {
  const [header, ...lines] = text.trimEnd().split('\n');
  const columns = (header ?? '').split(/ {3,}/);
  return lines.map((line) => Object.fromEntries(line.split(/ {3,}/).map((cell, i) => [columns[i] ?? `#${i}`, cell])));
}

describe('inspect and metrics after a scripted xDS scenario', () => {
  let dir: string;
  let server: RunningServer;
  let client: FakeEnvoy;
  let logText = '';
  let pumping = true;
  let pump: Promise<void> = Promise.resolve();

  async function cli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return runCli([...args, '--server', server.adminUrl]);
  }

  async function scrape(): Promise<Map<string, number>> {
    const res = await fetch(`${server.adminUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    return parseMetrics(await res.text());
  }

  async function inspectJson(): Promise<Record<string, unknown>[]> {
    const run = await cli(['inspect', 'dataplanes', '-o', 'json']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    return JSON.parse(run.stdout) as Record<string, unknown>[];
  }

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-inspect-'));
    const soonCa = await createRootCa({ commonName: 'Partner CA', validitySeconds: 10 * 86_400 });
    fs.writeFileSync(path.join(dir, 'config.yaml'), config(soonCa.certPem));
    const destination = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        logText += chunk.toString();
        callback();
      },
    });
    server = await startServer(
      { config: [path.join(dir, 'config.yaml')], dataDir: path.join(dir, 'data'), xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', auth: 'none', xdsPlaintext: true },
      createLogger({ level: 'info', destination }),
    );

    // given: web-01 connects over ADS, ACKs CDS, NACKs LDS once, and ACKs every SDS push
    client = new FakeEnvoy({ address: server.xdsAddress, mode: 'sotw', node: { id: 'web-01', metadata: { mesh: 'default' } } });
    client.subscribe(CLUSTER_TYPE, []);
    const clusters = await client.nextOf(CLUSTER_TYPE, 30_000);
    client.ack(clusters);
    client.subscribe(LISTENER_TYPE, []);
    const listeners = await client.nextOf(LISTENER_TYPE, 30_000);
    client.nack(listeners, NACK_MESSAGE);
    client.subscribe(SECRET_TYPE, [IDENTITY]);
    pump = (async () => {
      while (pumping) {
        let response: ReceivedResponse;
        try {
          response = await client.next(500);
        } catch {
          continue; // no response within the poll interval: look at `pumping` again
        }
        // A well-behaved Envoy ACKs what it accepts; the refused LDS version is never ACKed.
        if (response.typeUrl !== LISTENER_TYPE) client.ack(response);
      }
    })();
    // and: the workload certificate has been rotated at least once (issued, then renewed at ~4/5 of 3 s)
    await waitFor('a workload certificate rotation', () => (server.controlPlane.identities.getStatus('default', 'web-01')?.regenerations ?? 0) >= 2, { timeoutMs: 30_000 });
    await waitFor('the rotated identity ACKed', () => {
      const sds = server.controlPlane.status.get('web-01')?.types.get(SECRET_TYPE);
      return sds !== undefined && sds.totalUpdates >= 2 && sds.lastAckedVersion === sds.lastSentVersion;
    });
  }, 90_000);

  afterAll(async () => {
    pumping = false;
    await pump;
    client?.close();
    await server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('fits 120 columns by default, with shorter columns, as kubectl get does', async () => {
    // when
    const run = await cli(['inspect', 'dataplanes']);
    // then
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]?.split(/ {3,}/)).toEqual(['MESH', 'NAME', 'TAGS', 'STATUS', 'CONNECTED', 'UPDATED', 'UPDATES', 'ERRORS', 'CERT EXPIRES']);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(120);
    const web = parseTable(run.stdout).find((r) => r['NAME'] === 'web-01')!;
    expect(web).toMatchObject({ MESH: 'default', STATUS: 'Online', ERRORS: '1' });
    expect(web['CERT EXPIRES']).toMatch(/^\d+[smhd]$/);
  });

  it('-o wide: every Dataplane with Kuma\'s columns: web-01 Online with its NACK and certificate, backend-01 Offline', async () => {
    // when
    const run = await cli(['inspect', 'dataplanes', '-o', 'wide']);
    // then
    expect(run.code).toBe(0);
    const [header] = run.stdout.split('\n');
    expect(header?.split(/ {3,}/)).toEqual([
      'MESH',
      'NAME',
      'TAGS',
      'STATUS',
      'LAST CONNECTED AGO',
      'LAST UPDATED AGO',
      'TOTAL UPDATES',
      'TOTAL ERRORS',
      'CERT REGENERATED AGO',
      'CERT EXPIRATION',
      'CERT REGENERATIONS',
    ]);
    const rows = parseTable(run.stdout);
    expect(rows.map((r) => r['NAME'])).toEqual(['backend-01', 'web-01']);
    const web = rows.find((r) => r['NAME'] === 'web-01')!;
    expect(web).toMatchObject({ MESH: 'default', TAGS: 'kuma.io/protocol=http,kuma.io/service=web', STATUS: 'Online', 'TOTAL ERRORS': '1' });
    expect(web['LAST CONNECTED AGO']).toMatch(/^\d+[smh]$/);
    expect(web['LAST UPDATED AGO']).toMatch(/^\d+[smh]$/);
    expect(Number(web['TOTAL UPDATES'])).toBeGreaterThanOrEqual(4); // CDS, LDS, SDS and the rotated SDS
    expect(Number(web['CERT REGENERATIONS'])).toBeGreaterThanOrEqual(2);
    expect(web['CERT EXPIRATION']).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(rows.find((r) => r['NAME'] === 'backend-01')).toEqual({
      MESH: 'default',
      NAME: 'backend-01',
      TAGS: 'kuma.io/service=backend',
      STATUS: 'Offline',
      'LAST CONNECTED AGO': '-',
      'LAST UPDATED AGO': '-',
      'TOTAL UPDATES': '0',
      'TOTAL ERRORS': '0',
      'CERT REGENERATED AGO': '-',
      'CERT EXPIRATION': '-',
      'CERT REGENERATIONS': '-',
    });
  });

  it('gives the same facts as JSON, filtered by mesh', async () => {
    // when
    const items = await inspectJson();
    const inDefault = await cli(['inspect', 'dataplanes', '-m', 'default', '-o', 'json']);
    const other = await cli(['inspect', 'dataplanes', '-m', 'other', '-o', 'json']);
    // then
    const web = items.find((i) => i['name'] === 'web-01');
    expect(web).toMatchObject({ mesh: 'default', kind: 'Dataplane', status: 'Online', flavor: 'envoy', activeStreams: 1, totalErrors: 1 });
    expect(web?.['certificate']).toMatchObject({ backend: 'ca-1', regenerations: expect.any(Number) });
    const totals = server.controlPlane.status.get('web-01')!;
    expect(web?.['totalUpdates']).toBeLessThanOrEqual([...totals.types.values()].reduce((n, t) => n + t.totalUpdates, 0));
    expect((JSON.parse(inDefault.stdout) as Array<Record<string, unknown>>).map((i) => i['name'])).toContain('web-01');
    // a mesh with no Mesh resource and no proxy is a typo, not an empty list
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/^Error: mesh "other" not found/);
  });

  it('dumps the config last sent to web-01 with the ACK/NACK state per type, and no private key', async () => {
    // when
    const yaml = await cli(['inspect', 'dataplane', 'web-01', '--config-dump']);
    const json = await cli(['inspect', 'dataplane', 'web-01', '--config-dump', '-o', 'json']);
    const summary = await cli(['inspect', 'dataplane', 'web-01', '--config-dump', '-o', 'table']);
    // then
    expect(yaml.code).toBe(0);
    const dump = YAML.parse(yaml.stdout) as { name: string; status: string; types: Record<string, unknown>[] };
    expect(dump).toMatchObject({ name: 'web-01', mesh: 'default', status: 'Online' });
    expect(JSON.parse(json.stdout)).toMatchObject({ name: 'web-01', types: expect.any(Array) });
    const byType = new Map(dump.types.map((t) => [t['type'], t]));
    expect([...byType.keys()]).toEqual(['SDS', 'CDS', 'EDS', 'LDS', 'RDS']);
    expect(byType.get('LDS')).toMatchObject({ state: 'NACKED', nackCount: 1, lastError: NACK_MESSAGE, lastSentVersion: expect.any(String) });
    expect(byType.get('LDS')?.['lastAckedVersion']).toBeUndefined();
    expect((byType.get('LDS')?.['resources'] as unknown[]).length).toBeGreaterThan(0);
    expect(byType.get('CDS')).toMatchObject({ state: 'ACKED', nackCount: 0 });
    expect(byType.get('CDS')?.['lastAckedVersion']).toBe(byType.get('CDS')?.['lastSentVersion']);
    expect(byType.get('EDS')).toMatchObject({ state: 'NOT_SENT', resources: [] });
    const sds = byType.get('SDS') as { state: string; resources: Record<string, unknown>[] };
    expect(sds.state).toMatch(/^(ACKED|SENT)$/);
    const identity = sds.resources.find((r) => r['name'] === IDENTITY);
    expect(JSON.stringify(identity)).toContain('<redacted>');
    expect(JSON.stringify(identity)).toContain('BEGIN CERTIFICATE');
    for (const out of [yaml.stdout, json.stdout, summary.stdout]) expect(out).not.toMatch(/PRIVATE KEY/);
    expect(parseTable(summary.stdout).find((r) => r['TYPE'] === 'LDS')).toMatchObject({ STATE: 'NACKED', NACKS: '1', 'LAST ERROR': NACK_MESSAGE });
  });

  it('refuses a config dump of an unknown proxy', async () => {
    // when
    const run = await cli(['inspect', 'dataplane', 'nobody', '--config-dump']);
    // then
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^Error: no proxy "nobody" in mesh "default"/);
  });

  it('exports the matching Prometheus metrics', async () => {
    // when: scraped together with inspect (pushes keep flowing with each rotation, so retry until both agree)
    const { metrics, web } = await waitFor('metrics and inspect agree', async () => {
      const before = await inspectJson();
      const m = await scrape();
      const after = await inspectJson();
      const row = (items: Record<string, unknown>[]): Record<string, unknown> | undefined => items.find((i) => i['name'] === 'web-01');
      const certs = (items: Record<string, unknown>[]): unknown => (row(items)?.['certificate'] as Record<string, unknown> | undefined)?.['regenerations'];
      const stable = row(before)?.['totalUpdates'] === row(after)?.['totalUpdates'] && certs(before) === certs(after);
      return stable ? { metrics: m, web: row(after)! } : false;
    });
    // then: exact for the connected proxies and the NACK
    expect(metrics.get('meshcp_xds_connected_proxies')).toBe(1);
    // and: how the served set was checked (serve's sources are wired in), nothing pinned
    expect(metrics.get('meshcp_resource_changes_checked_total{path="whole_set"}')).toBeGreaterThanOrEqual(1);
    expect(metrics.get('meshcp_pinned_resources')).toBe(0);
    expect(metrics.get('meshcp_xds_nacks_total{type="LDS"}')).toBe(1);
    expect(sumOf(metrics, 'meshcp_xds_nacks_total')).toBe(1);
    // and: the push counter sums to TOTAL UPDATES, the certificate counter to CERT REGENERATIONS
    expect(sumOf(metrics, 'meshcp_xds_pushes_total')).toBe(web['totalUpdates']);
    expect(metrics.get('meshcp_xds_pushes_total{type="LDS"}')).toBe(1);
    expect(metrics.get('meshcp_certificates_issued_total')).toBe((web['certificate'] as Record<string, unknown>)['regenerations']);
    // and: the worker threads of serve's own pool sign them (a rotation every few seconds keeps one from idling 10 s)
    expect(metrics.get('meshcp_svid_worker_threads')).toBeGreaterThanOrEqual(1);
    expect(metrics.get('meshcp_xds_acks_total{type="CDS"}')).toBeGreaterThanOrEqual(1);
    expect(metrics.get('meshcp_xds_acks_total{type="SDS"}')).toBeGreaterThanOrEqual(2);
    expect(metrics.get('meshcp_xds_acks_total{type="LDS"}') ?? 0).toBe(0);
    expect(metrics.get('meshcp_xds_push_latency_seconds_count{type="SDS"}')).toBeGreaterThanOrEqual(2);
    // and: expiries in seconds, computed at scrape time
    const workload = metrics.get('meshcp_workload_certificate_expiry_seconds{mesh="default",proxy="web-01"}');
    expect(workload).toBeGreaterThan(-5);
    expect(workload).toBeLessThanOrEqual(3);
    expect(metrics.get('meshcp_ca_certificate_expiry_seconds{mesh="default",backend="ca-1"}')).toBeGreaterThan(365 * 86_400);
    const partner = metrics.get('meshcp_secret_expiry_seconds{mesh="default",secret="partner-ca"}') ?? 0;
    expect(Math.abs(partner - 10 * 86_400)).toBeLessThan(600);
    // and: no Node default metrics
    expect([...metrics.keys()].some((k) => k.startsWith('process_') || k.startsWith('nodejs_'))).toBe(false);
  });

  it('warned about the partner CA, which expires within 30 days, and never logged a private key', async () => {
    await waitFor('the expiry warning', () => logText.includes('Secret/partner-ca'));
    expect(logText).toMatch(/"level":40[^\n]*Secret\/partner-ca: cert: certificate [^\n]* expires in 9 days/);
    expect(logText).not.toMatch(/PRIVATE KEY/);
  });
});
