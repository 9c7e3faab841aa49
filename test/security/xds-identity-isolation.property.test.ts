/**
 * Security issue #9: no combination of node ids, meshes, tokens and flavors, over several
 * concurrent streams, ever delivers one proxy's identity to another (mesh, name). For every
 * stream of a run (against one real `serve`, token auth):
 *
 * - it is served iff the token it presented is valid for its (mesh, name); a refused stream
 *   receives nothing at all;
 * - every identity secret it receives is `identity-cert:<its mesh>`, and the certificate's SPIFFE
 *   URI is `spiffe://<its mesh>/<its Dataplane's service>`;
 * - a served proxy that the config defines does receive its identity (so the run is not vacuous);
 * - two different (mesh, name) never hold the same private key.
 */
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateToken } from '../../src/auth/token.js';
import { SECRET_TYPE } from '../../src/snapshot/types.js';
import type { FakeEnvoy, ReceivedResponse } from '../helpers/fake-envoy.js';
import { identitiesIn, startTestServer, type ReceivedIdentity, type TestServer } from './xds-harness.js';

const MESHES = ['default', 'other'] as const;
/** Proxy name → its service, per mesh (undefined: not defined in that mesh). */
const DATAPLANES: Record<string, Record<string, string>> = {
  default: { 'web-01': 'web', 'backend-01': 'backend' },
  other: { 'web-01': 'web', 'db-01': 'db' },
};
const NAMES = ['web-01', 'backend-01', 'db-01', 'ghost'] as const;
const IDENTITY_NAMES = MESHES.map((m) => `identity-cert:${m}`);

const CONFIG = MESHES.map(
  (mesh) => `type: Mesh
name: ${mesh}
mtls:
  enabledBackend: ca-1
  backends: [{ name: ca-1, type: builtin }]
${Object.entries(DATAPLANES[mesh]!)
  .map(
    ([name, service], i) => `---
type: Dataplane
mesh: ${mesh}
name: ${name}
networking:
  address: 127.0.0.1
  inbound: [{ port: ${8080 + i}, servicePort: ${18080 + i}, tags: { kuma.io/service: ${service}, kuma.io/protocol: http } }]
`,
  )
  .join('')}`,
).join('---\n');

type TokenSpec = { kind: 'own' } | { kind: 'for'; name: string; mesh: string } | { kind: 'expired' } | { kind: 'garbage' } | { kind: 'none' };

interface StreamSpec {
  readonly name: string;
  readonly mesh: string;
  readonly flavor: 'envoy' | 'grpc';
  readonly transport: { readonly mode: 'sotw' | 'delta'; readonly perType: boolean };
  readonly token: TokenSpec;
}

const streamSpec: fc.Arbitrary<StreamSpec> = fc.record({
  name: fc.constantFrom(...NAMES),
  mesh: fc.constantFrom(...MESHES),
  flavor: fc.constantFrom('envoy' as const, 'grpc' as const),
  transport: fc.record({ mode: fc.constantFrom('sotw' as const, 'delta' as const), perType: fc.boolean() }),
  token: fc.oneof(
    { weight: 4, arbitrary: fc.constant<TokenSpec>({ kind: 'own' }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('for' as const), name: fc.constantFrom(...NAMES), mesh: fc.constantFrom(...MESHES) }) },
    { weight: 1, arbitrary: fc.constantFrom<TokenSpec>({ kind: 'expired' }, { kind: 'garbage' }, { kind: 'none' }) },
  ),
});

function tokenValidFor(spec: StreamSpec): boolean {
  return spec.token.kind === 'own' || (spec.token.kind === 'for' && spec.token.name === spec.name && spec.token.mesh === spec.mesh);
}

interface Outcome {
  readonly spec: StreamSpec;
  readonly refused?: number;
  readonly responses: readonly ReceivedResponse[];
  readonly identities: readonly ReceivedIdentity[];
}

describe('identity isolation across meshes, names, tokens and flavors (property)', () => {
  let t: TestServer;

  beforeAll(async () => {
    t = await startTestServer(CONFIG);
  }, 60_000);

  afterAll(async () => {
    await t.close();
  });

  function tokenOf(spec: StreamSpec): string | undefined {
    switch (spec.token.kind) {
      case 'own':
        return t.token(spec.name, spec.mesh);
      case 'for':
        return t.token(spec.token.name, spec.token.mesh);
      case 'expired':
        return generateToken({ name: spec.name, mesh: spec.mesh, validForSeconds: 60, now: new Date(Date.now() - 3_600_000) }, t.signingKey);
      case 'garbage':
        return 'eyJhbGciOiJub25lIn0.e30.';
      case 'none':
        return undefined;
    }
  }

  /**
   * Opens the stream, asks for both meshes' identities, and reads until the stream is refused or
   * its first SDS answer arrives (a defined proxy's config, identity included, is only published
   * once its certificate is issued; an undefined one gets its empty config at once).
   */
  async function run(spec: StreamSpec): Promise<Outcome> {
    const token = tokenOf(spec);
    const metadata: Record<string, string> = { mesh: spec.mesh, flavor: spec.flavor, ...(token !== undefined ? { token } : {}) };
    const client: FakeEnvoy = t.client({ mode: spec.transport.mode, ...(spec.transport.perType ? { service: SECRET_TYPE } : {}), node: { id: spec.name, metadata } });
    client.subscribe(spec.transport.perType ? undefined : SECRET_TYPE, IDENTITY_NAMES);
    const first = await Promise.race([client.nextOf(SECRET_TYPE, 15_000).then((r) => ({ response: r })), client.closed(15_000).then((s) => ({ status: s }))]);
    const responses = [...client.received];
    const identities = responses.flatMap(identitiesIn);
    if ('status' in first) return { spec, refused: first.status.code, responses, identities };
    return { spec, responses, identities };
  }

  it('never delivers an identity to another (mesh, name)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(streamSpec, { minLength: 2, maxLength: 5 }), async (specs) => {
        try {
          const outcomes = await Promise.all(specs.map(run));
          const keyOwners = new Map<string, string>();
          for (const o of outcomes) {
            const { spec } = o;
            const valid = tokenValidFor(spec);
            // served iff the token is valid for this (mesh, name); refused streams get nothing
            if (!valid) {
              expect(o.refused, JSON.stringify(spec)).toBeOneOf([grpc.status.UNAUTHENTICATED, grpc.status.PERMISSION_DENIED]);
              expect(o.responses).toHaveLength(0);
              continue;
            }
            expect(o.refused, JSON.stringify(spec)).toBeUndefined();
            const service = DATAPLANES[spec.mesh]?.[spec.name];
            for (const identity of o.identities) {
              expect(identity.secretName, JSON.stringify(spec)).toBe(`identity-cert:${spec.mesh}`);
              expect(identity.spiffeIds, JSON.stringify(spec)).toEqual([`spiffe://${spec.mesh}/${service ?? '(not defined: no identity expected)'}`]);
              const owner = JSON.stringify([spec.mesh, spec.name]);
              const previous = keyOwners.get(identity.keyPem);
              expect(previous === undefined || previous === owner, `one key for ${previous} and ${owner}`).toBe(true);
              keyOwners.set(identity.keyPem, owner);
            }
            // a defined proxy that is served receives its identity
            if (service !== undefined) expect(o.identities.length, JSON.stringify(spec)).toBeGreaterThan(0);
          }
        } finally {
          t.closeClients();
        }
      }),
      { numRuns: 20 },
    );
  }, 120_000);
});
