import { Subject, type Subscription } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import type { Resource } from '../../src/api/types.js';
import { certificateInfo } from '../../src/ca/cert-info.js';
import { parseCertificates } from '../../src/ca/pem.js';
import { MemoryBlobStore } from '../../src/ca/providers/builtin.js';
import { defaultCaProviders, MeshCaRegistry } from '../../src/ca/providers/registry.js';
import { IdentityManager, type MaterialDelivery } from '../../src/identity/manager.js';
import type { MeshTlsMaterial } from '../../src/ca/workload-identity.js';
import { identitySecrets as buildIdentitySecrets } from '../../src/envoy/identity-secrets.js';
import { identitySecretNames } from '../../src/identity/names.js';
import { rotationDelayMs } from '../../src/identity/rotation.js';
import { silentLogger } from '../../src/log/logger.js';
import { listFeed } from '../helpers/list-changes.js';
import { waitFor } from '../helpers/wait.js';
import { FakeTime } from './fake-time.js';
import { builtinBackend, dataplane, gateway, mesh } from './fixtures.js';

/** The SDS Secrets generation would add for the proxy (envoy/identity-secrets.ts). */
function identitySecrets(meshName: string, proxyName: string, material: MeshTlsMaterial) {
  return buildIdentitySecrets(identitySecretNames(meshName), material.identity(meshName, proxyName), material.trustBundle(meshName));
}

const START = new Date('2030-01-01T00:00:00Z');
const DAY_MS = 86_400_000;

/** One registry for the file: each builtin root is generated once. */
const registry = new MeshCaRegistry(defaultCaProviders(new MemoryBlobStore()));

interface Harness {
  readonly time: FakeTime;
  readonly manager: IdentityManager;
  /** Gives the manager `list` as the change from the list before. */
  update(list: readonly Resource[]): void;
  /** Ticks received per proxy. */
  readonly ticks: Map<string, number>;
  connect(name: string, meshName?: string): Subscription;
}

const subscriptions: Subscription[] = [];
const managers: IdentityManager[] = [];

afterEach(() => {
  for (const s of subscriptions.splice(0)) s.unsubscribe();
  for (const m of managers.splice(0)) m.close();
});

function harness(resources: readonly Resource[], options: { random?: () => number; delivery?: MaterialDelivery; switchWindowMs?: number; settleMs?: number } = {}): Harness {
  const time = new FakeTime(START);
  const manager = new IdentityManager({ cas: registry, log: silentLogger(), clock: time, scheduler: time, random: options.random ?? (() => 0.5), settleMs: 0, ...options });
  managers.push(manager);
  // Each list reaches the manager as the change from the list before, as the control plane's sources deliver them.
  const update = listFeed((change) => manager.update(change));
  update(resources);
  const ticks = new Map<string, number>();
  return {
    time,
    manager,
    update,
    ticks,
    connect(name, meshName = 'default') {
      const sub = manager.watch({ mesh: meshName, name }).subscribe(() => ticks.set(name, (ticks.get(name) ?? 0) + 1));
      subscriptions.push(sub);
      return sub;
    },
  };
}

const serialOf = (h: Harness, name: string): string | undefined => h.manager.identity('default', name)?.serialHex;

describe('workload identities', () => {
  it('issues a SPIFFE certificate per Dataplane when it connects, one URI SAN per service, signed by the enabled backend', async () => {
    // given
    const h = harness([mesh('default', [builtinBackend('ca-1')], 'ca-1'), dataplane('web-01', ['web', 'admin'])]);
    // when
    h.connect('web-01');
    const identity = await waitFor('the first certificate', () => h.manager.identity('default', 'web-01'));
    // then
    expect(h.ticks.get('web-01')).toBe(1);
    const info = certificateInfo(identity.certChainPem);
    expect(info.uris).toEqual(['spiffe://default/admin', 'spiffe://default/web']);
    expect(info.isCa).toBe(false);
    const bundle = h.manager.trustBundle('default') ?? '';
    expect(parseCertificates(bundle)).toHaveLength(1);
    expect(parseCertificates(identity.certChainPem)[0]?.verify(parseCertificates(bundle)[0]!.publicKey)).toBe(true);
    expect(identity.notAfter.getTime()).toBe(START.getTime() + DAY_MS);
    const secrets = identitySecrets('default', 'web-01', h.manager);
    expect(secrets.map((s) => s['name'])).toEqual(['identity-cert:default', 'mesh-ca:default']);
    expect(h.manager.getStatus('default', 'web-01')).toMatchObject({ connected: true, regenerations: 1, serialHex: identity.serialHex, expiration: identity.notAfter, regeneratedAt: START, backend: 'ca-1' });
  });

  it('lets proxies without mTLS, or without a Dataplane, generate at once and without a certificate', async () => {
    // given
    const h = harness([mesh('plain', []), dataplane('web-01', ['web'], 'plain'), mesh('default', [builtinBackend('ca-1')], 'ca-1')]);
    // when
    h.connect('web-01', 'plain');
    h.connect('stranger');
    // then
    expect(h.ticks.get('web-01')).toBe(1);
    expect(h.ticks.get('stranger')).toBe(1);
    expect(h.manager.identity('plain', 'web-01')).toBeUndefined();
    expect(h.manager.identity('default', 'stranger')).toBeUndefined();
    expect(h.manager.trustBundle('plain')).toBeUndefined();
  });

  it('gives a Gateway its own identity, and an outbound-only Dataplane one named after it', async () => {
    // given
    const h = harness([mesh('default', [builtinBackend('ca-1')], 'ca-1'), gateway('edge'), dataplane('client-01', [])]);
    // when
    h.connect('edge');
    h.connect('client-01');
    // then
    const edge = await waitFor('gateway identity', () => h.manager.identity('default', 'edge'));
    const client = await waitFor('client identity', () => h.manager.identity('default', 'client-01'));
    expect(edge.spiffeIds).toEqual(['spiffe://default/edge']);
    expect(client.spiffeIds).toEqual(['spiffe://default/client-01']);
  });

  it('rotates at 4/5 of the lifetime, keeping the secret names, and counts regenerations', async () => {
    // given
    const h = harness([mesh('default', [builtinBackend('ca-1', { dpCertSeconds: 1000 })], 'ca-1'), dataplane('web-01', ['web'])]);
    h.connect('web-01');
    const first = await waitFor('first certificate', () => h.manager.identity('default', 'web-01'));
    expect(h.time.pending()).toEqual([800_000]);
    // when: just before the rotation point nothing happens
    h.time.advance(799_999);
    // then
    expect(serialOf(h, 'web-01')).toBe(first.serialHex);
    // when
    h.time.advance(1);
    const second = await waitFor('rotated certificate', () => {
      const id = h.manager.identity('default', 'web-01');
      return id && id.serialHex !== first.serialHex ? id : undefined;
    });
    // then
    expect(second.notAfter.getTime()).toBe(START.getTime() + 800_000 + 1_000_000);
    expect(h.ticks.get('web-01')).toBe(2);
    expect(h.manager.getStatus('default', 'web-01')).toMatchObject({ regenerations: 2, regeneratedAt: new Date(START.getTime() + 800_000) });
    expect(identitySecrets('default', 'web-01', h.manager).map((s) => s['name'])).toEqual(['identity-cert:default', 'mesh-ca:default']);
  });

  it('a shortened dpCert.rotation.expiration reaches live certificates at the next check, not after the old lifetime', async () => {
    // given: a certificate for 1000 s, due for rotation at 800 s, 100 s ago
    const h = harness([mesh('default', [builtinBackend('ca-1', { dpCertSeconds: 1000 })], 'ca-1'), dataplane('web-01', ['web'])], { switchWindowMs: 2000 });
    h.connect('web-01');
    const first = await waitFor('first certificate', () => h.manager.identity('default', 'web-01'));
    h.time.advance(100_000);
    // when: the mesh now wants 200 s certificates
    h.update([mesh('default', [builtinBackend('ca-1', { dpCertSeconds: 200 })], 'ca-1'), dataplane('web-01', ['web'])]);
    // then: the rotation moves to 4/5 of 200 s after issuance
    expect(h.time.pending()).toEqual([60_000]);
    h.time.advance(60_000);
    const second = await waitFor('rotated certificate', () => {
      const id = h.manager.identity('default', 'web-01');
      return id && id.serialHex !== first.serialHex ? id : undefined;
    });
    expect(second.notAfter.getTime() - h.time.now().getTime()).toBe(200_000);
    expect(h.time.pending()).toEqual([160_000]);

    // when: shortened below the time the certificate has already lived, then lengthened
    h.time.advance(100_000);
    h.update([mesh('default', [builtinBackend('ca-1', { dpCertSeconds: 50 })], 'ca-1'), dataplane('web-01', ['web'])]);
    // then: overdue, it is rotated within the spread of a CA switch (random 0.5 of 2 s)
    expect(h.time.pending()).toEqual([1000]);
    h.time.advance(1000);
    const third = await waitFor('third certificate', () => {
      const id = h.manager.identity('default', 'web-01');
      return id && id.serialHex !== second.serialHex ? id : undefined;
    });
    expect(third.notAfter.getTime() - h.time.now().getTime()).toBe(50_000);

    // when: lengthened, the scheduled rotation stays (the next certificate gets the new lifetime)
    h.update([mesh('default', [builtinBackend('ca-1', { dpCertSeconds: 1000 })], 'ca-1'), dataplane('web-01', ['web'])]);
    // then
    expect(h.time.pending()).toEqual([40_000]);
  });

  it('spreads rotations by at most ±5% of the time left at 4/5', () => {
    // given
    const issued = START;
    const notAfter = new Date(START.getTime() + 1_000_000);
    // when / then
    expect(rotationDelayMs(issued, notAfter, () => 0.5)).toBe(800_000);
    expect(rotationDelayMs(issued, notAfter, () => 0)).toBe(790_000);
    expect(rotationDelayMs(issued, notAfter, () => 0.999_999)).toBe(810_000);
  });

  it('re-issues at once when the services of the Dataplane change', async () => {
    // given
    const resources = [mesh('default', [builtinBackend('ca-1')], 'ca-1'), dataplane('web-01', ['web'])];
    const h = harness(resources);
    h.connect('web-01');
    await waitFor('first certificate', () => h.manager.identity('default', 'web-01'));
    const indexed = h.manager.resourcesIndexed;
    // when
    h.update([resources[0]!, dataplane('web-01', ['web', 'web-v2'])]);
    // then the list came as a change of the Dataplane alone (its old version removed, the new one put), not a reset
    expect(h.manager.resourcesIndexed - indexed).toBe(2);
    const updated = await waitFor('re-issued certificate', () => {
      const id = h.manager.identity('default', 'web-01');
      return id?.spiffeIds.length === 2 ? id : undefined;
    });
    expect(updated.spiffeIds).toEqual(['spiffe://default/web', 'spiffe://default/web-v2']);
  });

  it('forgets the identity when the last stream closes and issues a new one at reconnect', async () => {
    // given
    const h = harness([mesh('default', [builtinBackend('ca-1')], 'ca-1'), dataplane('web-01', ['web'])]);
    const sub = h.connect('web-01');
    const first = await waitFor('first certificate', () => h.manager.identity('default', 'web-01'));
    // when
    sub.unsubscribe();
    // then
    expect(h.manager.identity('default', 'web-01')).toBeUndefined();
    expect(h.time.pending()).toEqual([]);
    expect(h.manager.getStatus('default', 'web-01')?.connected).toBe(false);
    // when
    h.connect('web-01');
    const second = await waitFor('certificate after reconnect', () => h.manager.identity('default', 'web-01'));
    // then
    expect(second.serialHex).not.toBe(first.serialHex);
    expect(h.manager.getStatus('default', 'web-01')?.regenerations).toBe(2);
  });

  it('drops identities when mTLS is disabled', async () => {
    // given
    const h = harness([mesh('default', [builtinBackend('ca-1')], 'ca-1'), dataplane('web-01', ['web'])]);
    h.connect('web-01');
    await waitFor('first certificate', () => h.manager.identity('default', 'web-01'));
    // when
    h.update([mesh('default', [builtinBackend('ca-1')]), dataplane('web-01', ['web'])]);
    // then
    expect(h.manager.identity('default', 'web-01')).toBeUndefined();
    expect(h.manager.trustBundle('default')).toBeUndefined();
    expect(h.ticks.get('web-01')).toBe(2);
  });
});

describe('gateway server certificates', () => {
  it('issues a certificate for a Route host from the mesh CA, or from the mesh gateway CA without mTLS', async () => {
    // given
    const h = harness([mesh('default', [builtinBackend('ca-1')], 'ca-1'), mesh('plain', []), gateway('edge'), gateway('edge', 'plain')]);
    h.connect('edge');
    h.connect('edge', 'plain');
    await waitFor('gateway identity', () => h.manager.identity('default', 'edge'));
    const ticksBefore = h.ticks.get('edge') ?? 0;
    // when
    const first = h.manager.issuedServerCertificate('default', 'shop.acme.org');
    const inMesh = await waitFor('a certificate in the mTLS mesh', () => h.manager.issuedServerCertificate('default', 'shop.acme.org'));
    const plain = await waitFor('a certificate in the plain mesh', () => h.manager.issuedServerCertificate('plain', '*.acme.org'));
    // then
    expect(first).toBeUndefined();
    expect((h.ticks.get('edge') ?? 0) > ticksBefore).toBe(true);
    const info = certificateInfo(inMesh.certPem);
    expect(info.dnsNames).toEqual(['shop.acme.org']);
    expect(info.extendedKeyUsages).toEqual(['serverAuth']);
    const root = parseCertificates(h.manager.trustBundle('default') ?? '')[0]!;
    expect(parseCertificates(inMesh.certPem)[0]?.verify(root.publicKey)).toBe(true);
    expect(certificateInfo(plain.certPem).dnsNames).toEqual(['*.acme.org']);
    expect(certificateInfo(plain.certPem).issuer).toBe('CN=meshcp plain CA (gateway-ca)');
    expect(h.manager.builtinCas().map((ca) => `${ca.mesh}/${ca.backend}`).sort()).toEqual(['default/ca-1', 'plain/gateway-ca']);
  });
});

describe('CA switch', () => {
  it('trusts both roots until every proxy holds a certificate from the new CA and has received it, then drops the old one', async () => {
    // given two proxies on ca-1, and a delivery the test controls
    const delivered = new Set<string>();
    const deliveryChanges = new Subject<void>();
    const delivery: MaterialDelivery = { delivered: (_mesh, name) => delivered.has(name), changes: deliveryChanges };
    const backends = [builtinBackend('ca-1'), builtinBackend('ca-2')];
    const workloads = [dataplane('web-01', ['web']), dataplane('backend-01', ['backend'])];
    let draws = 0;
    const h = harness([mesh('default', backends, 'ca-1'), ...workloads], { delivery, random: () => [0.5, 0.25, 0.75][draws++ % 3]!, switchWindowMs: 2000 });
    h.connect('web-01');
    h.connect('backend-01');
    const old = await waitFor('certificates from ca-1', () => {
      const a = h.manager.identity('default', 'web-01');
      const b = h.manager.identity('default', 'backend-01');
      return a && b ? [a, b] : undefined;
    });
    const oldBundle = h.manager.trustBundle('default') ?? '';
    for (const name of ['web-01', 'backend-01']) delivered.add(name);
    // when the mesh switches to ca-2
    h.update([mesh('default', backends, 'ca-2'), ...workloads]);
    const bundle = await waitFor('a bundle with both roots', () => {
      const b = h.manager.trustBundle('default') ?? '';
      return parseCertificates(b).length === 2 ? b : undefined;
    });
    // then the old certificates stay until the spread rotations fire
    expect(bundle).toContain(oldBundle.trim());
    expect(old.map((o) => h.manager.identity('default', o.spiffeIds[0] === 'spiffe://default/web' ? 'web-01' : 'backend-01')?.serialHex)).toEqual(old.map((o) => o.serialHex));
    expect(h.time.pending().every((ms) => ms <= 2000)).toBe(true);
    // when one proxy rotates
    delivered.clear();
    const [firstDelay = 0, secondDelay = 0] = h.time.pending();
    h.time.advance(firstDelay);
    await waitFor('one proxy on ca-2', () => ['web-01', 'backend-01'].filter((n) => h.manager.identity('default', n)?.backend === 'ca-2').length === 1);
    // then both roots are still trusted
    expect(parseCertificates(h.manager.trustBundle('default') ?? '')).toHaveLength(2);
    // when the other proxy rotates too, but has not received its certificate yet
    h.time.advance(secondDelay - firstDelay);
    await waitFor('both proxies on ca-2', () => ['web-01', 'backend-01'].every((n) => h.manager.identity('default', n)?.backend === 'ca-2'));
    delivered.add('web-01');
    deliveryChanges.next();
    // then
    expect(parseCertificates(h.manager.trustBundle('default') ?? '')).toHaveLength(2);
    expect(h.manager.switching('default')).toBe(true);
    // when it has
    delivered.add('backend-01');
    deliveryChanges.next();
    // then only the new root is left
    const finalBundle = h.manager.trustBundle('default') ?? '';
    expect(parseCertificates(finalBundle)).toHaveLength(1);
    expect(finalBundle).not.toContain(oldBundle.trim());
    expect(h.manager.switching('default')).toBe(false);
    const leaf = parseCertificates(h.manager.identity('default', 'web-01')?.certChainPem ?? '')[0]!;
    expect(leaf.verify(parseCertificates(finalBundle)[0]!.publicKey)).toBe(true);
  });

  it('keeps issuing from the old CA until the bundle is out, then issues from the new one at once', async () => {
    // given a delivery that never confirms, so the bundle step ends by its timeout
    const never: MaterialDelivery = { delivered: () => false, changes: new Subject<void>() };
    const backends = [builtinBackend('ca-1'), builtinBackend('ca-2')];
    const workloads = [dataplane('web-01', ['web']), dataplane('early-01', ['early']), dataplane('late-01', ['late'])];
    const h = harness([mesh('default', backends, 'ca-1'), ...workloads], { delivery: never });
    h.connect('web-01');
    await waitFor('web-01 on ca-1', () => h.manager.identity('default', 'web-01'));
    h.update([mesh('default', backends, 'ca-2'), ...workloads]);
    await waitFor('switch started', () => h.manager.switching('default'));
    // when a proxy connects while the bundle is on its way
    h.connect('early-01');
    // then it still gets a certificate from the old CA, which every proxy already trusts
    expect((await waitFor('early-01 certificate', () => h.manager.identity('default', 'early-01'))).backend).toBe('ca-1');
    expect(parseCertificates(h.manager.trustBundle('default') ?? '')).toHaveLength(2);
    // when the bundle step times out, and then a proxy connects
    h.time.advance(10_000);
    h.connect('late-01');
    // then it gets a certificate from the new CA at once, while the others wait for their spread rotation
    expect((await waitFor('late-01 certificate', () => h.manager.identity('default', 'late-01'))).backend).toBe('ca-2');
    expect(h.manager.identity('default', 'web-01')?.backend).toBe('ca-1');
    h.time.advance(2000);
    await waitFor('everyone on ca-2', () => ['web-01', 'early-01', 'late-01'].every((n) => h.manager.identity('default', n)?.backend === 'ca-2'));
    // and the old root stays while deliveries are unconfirmed
    expect(parseCertificates(h.manager.trustBundle('default') ?? '')).toHaveLength(2);
  });

  it('waits settleMs after each confirmed step, for proxies that read their files periodically', async () => {
    // given
    const backends = [builtinBackend('ca-1'), builtinBackend('ca-2')];
    const workloads = [dataplane('web-01', ['web'])];
    const h = harness([mesh('default', backends, 'ca-1'), ...workloads], { settleMs: 2000, random: () => 0 });
    h.connect('web-01');
    await waitFor('web-01 on ca-1', () => h.manager.identity('default', 'web-01'));
    // when
    h.update([mesh('default', backends, 'ca-2'), ...workloads]);
    await waitFor('both roots trusted', () => parseCertificates(h.manager.trustBundle('default') ?? '').length === 2);
    h.time.advance(1999);
    // then the new CA does not issue before the settle delay is over
    expect(h.manager.identity('default', 'web-01')?.backend).toBe('ca-1');
    // when
    h.time.advance(1);
    await waitFor('web-01 on ca-2', () => h.manager.identity('default', 'web-01')?.backend === 'ca-2');
    // then the old root stays for another settle delay
    expect(parseCertificates(h.manager.trustBundle('default') ?? '')).toHaveLength(2);
    h.time.advance(2000);
    expect(parseCertificates(h.manager.trustBundle('default') ?? '')).toHaveLength(1);
  });
});
