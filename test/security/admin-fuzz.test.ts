/**
 * Fuzzing the admin API and YAML validation (security issue #9): random bytes, random paths and
 * random mutations of the SPEC §1 examples never crash the server, never get a 500, and never
 * bring key material into a response or a log line — neither the keys the server holds (a
 * provided mesh CA inline key and a TLS secret from --config) nor a key the client pasted into
 * some field.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseYamlEntries } from '../../src/api/parse.js';
import { createRootCa } from '../../src/ca/pki.js';
import { DATAPLANE_YAML, GATEWAY_YAML, MESH_YAML, ROUTE_YAML, SECRETS_YAML, SERVICE_YAML, TRAFFIC_PERMISSION_YAML } from '../api/spec-examples.js';
import { writeTestPki } from '../cli/certs.js';
import { rawRequest, startTestServer, type RawReply, type TestServer } from './admin-server.js';

const RUNS = Number(process.env["MESHCP_FUZZ_RUNS"] ?? 200);

/** Distinctive pieces of a PEM key: three body lines, and windows of its base64 (the inline form). */
function fragments(keyPem: string): string[] {
  const body = keyPem.split('\n').filter((l) => l !== '' && !l.startsWith('-----'));
  const inline = Buffer.from(keyPem).toString('base64');
  return [...body.slice(1, 4), inline.slice(80, 120), inline.slice(-100, -60)];
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const EXAMPLES: Json[] = [SECRETS_YAML, GATEWAY_YAML, ROUTE_YAML, SERVICE_YAML, MESH_YAML, DATAPLANE_YAML, TRAFFIC_PERMISSION_YAML].flatMap((y) =>
  YAML.parseAllDocuments(y).map((d) => d.toJS() as Json),
);

/** Every path to a value inside a document. */
function paths(v: Json, prefix: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(v)) return [prefix, ...v.flatMap((x, i) => paths(x, [...prefix, i]))];
  if (v !== null && typeof v === 'object') return [prefix, ...Object.entries(v).flatMap(([k, x]) => paths(x, [...prefix, k]))];
  return [prefix];
}

interface Mutation {
  readonly pick: number;
  readonly kind: 'set' | 'delete' | 'clientKey' | 'clientKeyBase64' | 'rename' | 'wrap' | 'long';
  readonly value: Json;
  readonly label: string;
}

function mutate(doc: Json, mutations: readonly Mutation[], clientKey: string): Json {
  let root: Json = structuredClone(doc);
  for (const m of mutations) {
    const all = paths(root);
    const target = all[m.pick % all.length] ?? [];
    const replacement = (old: Json): Json | undefined => {
      switch (m.kind) {
        case 'set':
          return m.value;
        case 'delete':
          return undefined;
        case 'clientKey':
          return clientKey;
        case 'clientKeyBase64':
          return Buffer.from(clientKey).toString('base64');
        case 'wrap':
          return [old];
        case 'long':
          return m.label.repeat(200);
        case 'rename':
          return old;
      }
    };
    if (target.length === 0) {
      const next = replacement(root);
      root = next === undefined ? null : next;
      continue;
    }
    const parentPath = target.slice(0, -1);
    const last = target[target.length - 1] as string | number;
    let parent: Json = root;
    for (const step of parentPath) parent = (parent as Record<string | number, Json>)[step] as Json;
    const container = parent as Record<string | number, Json>;
    const next = replacement(container[last] as Json);
    if (m.kind === 'rename' && !Array.isArray(container)) {
      container[m.label] = container[last] as Json;
      delete container[last];
    } else if (next === undefined) {
      if (Array.isArray(container)) container.splice(Number(last), 1);
      else delete container[last];
    } else {
      container[last] = next;
    }
  }
  return root;
}

const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  pick: fc.nat(),
  kind: fc.constantFrom('set', 'delete', 'clientKey', 'clientKeyBase64', 'rename', 'wrap', 'long'),
  value: fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
  label: fc.string({ maxLength: 12 }),
});

const CONTENT_TYPES = ['application/yaml', 'application/json', 'text/yaml', 'application/x-yaml', 'application/vnd.meshcp.files+json', 'text/plain', ''];

describe('admin API and YAML fuzzing', () => {
  let t: TestServer;
  let secretKeys: string[];
  let clientKey: string;
  const seen: string[] = [];

  beforeAll(async () => {
    // given: a server holding key material from its --config files
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-sec-fuzz-'));
    const pki = await writeTestPki(path.join(dir, 'pki'));
    const meshCa = await createRootCa({ commonName: 'fuzz mesh CA', validitySeconds: 365 * 86400 });
    const client = await createRootCa({ commonName: 'client-side', validitySeconds: 365 * 86400 });
    clientKey = client.keyPem;
    secretKeys = [pki.pem.leafKey, meshCa.keyPem];
    fs.mkdirSync(path.join(dir, 'config'));
    fs.writeFileSync(
      path.join(dir, 'config', 'held.yaml'),
      `type: Mesh
name: held
mtls:
  enabledBackend: ca-1
  backends:
  - name: ca-1
    type: provided
    conf:
      cert: { inline: ${Buffer.from(meshCa.certPem).toString('base64')} }
      key: { inline: ${Buffer.from(meshCa.keyPem).toString('base64')} }
---
type: Secret
name: held-tls
secretType: tls
cert: ${JSON.stringify(pki.pem.leafCert)}
key: ${JSON.stringify(pki.pem.leafKey)}
`,
    );
    t = await startTestServer({ dir });
  });

  afterAll(async () => {
    await t.stop();
    fs.rmSync(t.dir, { recursive: true, force: true });
  });

  const check = (reply: RawReply, what: string): void => {
    seen.push(reply.text);
    expect(reply.status, what).toBeGreaterThanOrEqual(200);
    expect(reply.status, what).toBeLessThan(500);
    for (const key of [...secretKeys, clientKey]) for (const f of fragments(key)) expect(reply.text.includes(f), what).toBe(false);
    const errors = reply.json['errors'];
    if (Array.isArray(errors)) for (const e of errors) expect(String(e), what).not.toMatch(/[\r\n]/);
  };

  it('survives random bytes with any content type', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2000 }), fc.constantFrom(...CONTENT_TYPES), fc.boolean(), async (bytes, contentType, dryRun) => {
        // when
        const reply = await rawRequest(t.port, {
          method: 'POST',
          path: `/api/apply${dryRun ? '?dryRun=true' : ''}`,
          headers: contentType === '' ? {} : { 'content-type': contentType },
          body: Buffer.from(bytes),
        });

        // then
        check(reply, `${bytes.length} random bytes as ${contentType}`);
      }),
      { numRuns: RUNS },
    );
  });

  it('survives random mutations of valid resources, through the API and through validation', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ doc: fc.constantFrom(...EXAMPLES), mutations: fc.array(mutationArb, { maxLength: 4 }) }), { minLength: 1, maxLength: 3 }),
        fc.constantFrom('yaml', 'json'),
        fc.boolean(),
        async (docs, format, dryRun) => {
          // given
          const mutated = docs.map((d) => mutate(d.doc, d.mutations, clientKey));
          const text = format === 'json' ? JSON.stringify(mutated.length === 1 ? mutated[0] : mutated) : mutated.map((d) => YAML.stringify(d)).join('---\n');

          // when: validated in process, as --config and validate -f do
          const parsed = parseYamlEntries(text, { file: 'fuzz.yaml', allowFiles: false });
          // and: applied through the admin API
          const reply = await rawRequest(t.port, {
            method: 'POST',
            path: `/api/apply${dryRun ? '?dryRun=true' : ''}`,
            headers: { 'content-type': format === 'json' ? 'application/json' : 'application/yaml' },
            body: text,
          });

          // then
          const lines = parsed.ok ? [] : parsed.errors.map((e) => `${e.path}: ${e.message}`);
          for (const line of lines) {
            expect(line).not.toMatch(/[\r\n]/);
            for (const f of fragments(clientKey)) expect(line.includes(f)).toBe(false);
          }
          check(reply, text.slice(0, 200));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('survives random paths and methods', async () => {
    const segment = fc.oneof(fc.constantFrom('%', '%E0%A4%A', '%ZZ', '..', '%2F', '%00', 'api', 'meshes', 'secrets', 'held-tls', 'inspect', 'config-dump', 'apply'), fc.stringMatching(/^[A-Za-z0-9._~-]{0,10}$/));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('GET', 'DELETE', 'POST', 'PUT', 'PATCH', 'OPTIONS'), fc.array(segment, { maxLength: 5 }), fc.constantFrom('', '?mesh=held', '?mesh=%E0', '?dryRun=true&mode=x'), async (method, segments, query) => {
        // when
        const reply = await rawRequest(t.port, { method, path: `/${segments.join('/')}${query}`, headers: method === 'GET' || method === 'DELETE' || method === 'OPTIONS' ? {} : { 'content-type': 'application/json' }, body: method === 'GET' ? undefined : '{}' });

        // then
        check(reply, `${method} /${segments.join('/')}${query}`);
      }),
      { numRuns: RUNS },
    );
    // and: the server is alive, and nothing in its log is a 500, a multi-line message or a key
    expect((await rawRequest(t.port, { method: 'GET', path: '/readyz' })).status).toBe(200);
    const log = t.logText();
    expect(log).not.toContain('admin API request failed');
    for (const key of [...secretKeys, clientKey]) for (const f of fragments(key)) expect(log.includes(f)).toBe(false);
    for (const line of log.split('\n').filter((l) => l !== '')) expect(String((JSON.parse(line) as { msg?: unknown }).msg ?? '')).not.toMatch(/[\r\n]/);
    expect(seen.length).toBeGreaterThanOrEqual(3 * RUNS);
  });
});
