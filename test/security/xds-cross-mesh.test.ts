/**
 * Security issue #9, hole 1: two proxies named `web-01`, one in mesh `default` and one in mesh
 * `other`, each with its own valid token. The one that connected second used to receive the
 * first one's snapshot (shared watches keyed by node.id), workload private key included. Each
 * must get its own identity, in either order, over ADS SotW and per-type Delta SDS; inspect shows
 * both, and the config dump of each is its own.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SECRET_TYPE } from '../../src/snapshot/types.js';
import { waitFor } from '../helpers/wait.js';
import { TWO_MESHES, firstIdentity, startTestServer, type ReceivedIdentity, type TestServer } from './xds-harness.js';

const BOTH_IDENTITIES = ['identity-cert:default', 'identity-cert:other'];

const TRANSPORTS = [
  { label: 'ADS SotW', mode: 'sotw' as const, service: undefined },
  { label: 'per-type Delta SDS', mode: 'delta' as const, service: SECRET_TYPE },
];

const ORDERS = [
  ['default', 'other'],
  ['other', 'default'],
] as const;

describe('the same proxy name in two meshes', () => {
  let t: TestServer;

  beforeAll(async () => {
    t = await startTestServer(TWO_MESHES);
  }, 60_000);

  afterEach(() => {
    t.closeClients();
  });

  afterAll(async () => {
    await t.close();
  });

  async function connectAs(mesh: string, transport: (typeof TRANSPORTS)[number]): Promise<ReceivedIdentity> {
    const client = t.client({ mode: transport.mode, ...(transport.service ? { service: transport.service } : {}), node: { id: 'web-01', metadata: { mesh, token: t.token('web-01', mesh) } } });
    // Both names are asked for: the one of the other mesh is exactly what must never come back.
    return firstIdentity(client, BOTH_IDENTITIES);
  }

  describe.each(TRANSPORTS)('$label', (transport) => {
    it.each(ORDERS)('gives each its own identity when %s connects first', async (first, second) => {
      // given: the first proxy holds its identity (its stream stays open)
      const a = await connectAs(first, transport);
      // when: the same name connects in the other mesh
      const b = await connectAs(second, transport);
      // then: each has the secret and SPIFFE identity of its own mesh, and their keys differ
      expect(a.secretName).toBe(`identity-cert:${first}`);
      expect(a.spiffeIds).toEqual([`spiffe://${first}/web`]);
      expect(b.secretName).toBe(`identity-cert:${second}`);
      expect(b.spiffeIds).toEqual([`spiffe://${second}/web`]);
      expect(b.keyPem).toMatch(/PRIVATE KEY/);
      expect(b.keyPem).not.toBe(a.keyPem);
    });
  });

  it('shows both in inspect, and the config dump of each is its own', async () => {
    // given: both connected
    const [fromDefault, fromOther] = await Promise.all([connectAs('default', TRANSPORTS[0]!), connectAs('other', TRANSPORTS[0]!)]);
    expect(fromDefault.keyPem).not.toBe(fromOther.keyPem);
    // when
    const list = await waitFor('both rows online', async () => {
      const body = (await (await fetch(`${t.server.adminUrl}/api/inspect/dataplanes`)).json()) as { items: { mesh: string; name: string; status: string }[] };
      const rows = body.items.filter((r) => r.name === 'web-01');
      return rows.length === 2 && rows.every((r) => r.status === 'Online') ? rows : undefined;
    });
    // then: one row per mesh
    expect(list.map((r) => r.mesh).sort()).toEqual(['default', 'other']);
    for (const mesh of ['default', 'other']) {
      const dump = (await (await fetch(`${t.server.adminUrl}/api/inspect/dataplanes/web-01/config-dump?mesh=${mesh}`)).json()) as {
        mesh: string;
        types: { type: string; resources: { name: string }[] }[];
      };
      expect(dump.mesh).toBe(mesh);
      const sds = dump.types.find((ty) => ty.type === 'SDS');
      expect(sds?.resources.map((r) => r.name)).toContain(`identity-cert:${mesh}`);
      expect(JSON.stringify(dump)).not.toContain(`identity-cert:${mesh === 'default' ? 'other' : 'default'}`);
      expect(JSON.stringify(dump)).not.toMatch(/PRIVATE KEY/);
    }
  });
});
