/**
 * Protocol corners a review found, each proved first, then fixed (docs/xds-protocol.md):
 * - Delta: a name subscribed explicitly and by the wildcard, then unsubscribed, is answered (sent
 *   again, or reported removed when it does not exist): the client must learn which.
 * - SotW: an empty nonce after the first request is a subscription change; it does not turn the
 *   legacy wildcard back on.
 * - Status per proxy shows the state of the latest response sent to it, whichever stream sent it:
 *   another stream's ACK does not make it ACKED.
 * - A secret the stream was given is not logged as refused when the config stops naming it (a
 *   certificate switch) and the client still asks for it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { XdsServer } from '../../src/xds/server.js';
import { StatusRegistry } from '../../src/xds/status.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, SECRET_TYPE } from '../../src/snapshot/types.js';
import { ControlledWatcher, cluster, endpoints, secret } from '../helpers/controlled-watcher.js';
import { FakeEnvoy, decodeAny, namesOf, type FakeEnvoyOptions, type ReceivedResponse } from '../helpers/fake-envoy.js';
import { tcpListener } from '../helpers/xds-resources.js';

let watcher: ControlledWatcher;
let status: StatusRegistry;
let server: XdsServer;
let address: string;
let warnings: { obj: object; msg: string }[];
const envoys: FakeEnvoy[] = [];

beforeEach(async () => {
  watcher = new ControlledWatcher();
  status = new StatusRegistry();
  warnings = [];
  server = new XdsServer({ watcher, status, log: { info: () => undefined, warn: (obj, msg) => warnings.push({ obj, msg }) } });
  address = `127.0.0.1:${await server.listen('127.0.0.1:0')}`;
});

afterEach(() => {
  for (const envoy of envoys.splice(0)) envoy.close();
  server.forceClose();
});

function connect(options: Omit<FakeEnvoyOptions, 'address'>): FakeEnvoy {
  const envoy = new FakeEnvoy({ ...options, address });
  envoys.push(envoy);
  return envoy;
}

describe('Delta: unsubscribing a name the wildcard also covers', () => {
  it('reports a name that does not exist as removed', async () => {
    // given: the wildcard and an explicit unknown name, answered
    watcher.set('n1', { clusters: [cluster('c1')], endpoints: [endpoints('c1', 8001)] });
    const envoy = connect({ mode: 'delta', node: { id: 'n1' } });
    envoy.send({ typeUrl: CLUSTER_TYPE, subscribe: ['*', 'ghost'] });
    const first = await envoy.nextOf(CLUSTER_TYPE);
    expect([namesOf(first), first.removed]).toEqual([['c1'], ['ghost']]);
    envoy.ack(first);
    // when
    envoy.send({ typeUrl: CLUSTER_TYPE, unsubscribe: ['ghost'] });
    // then
    const answer = await envoy.nextOf(CLUSTER_TYPE);
    expect([namesOf(answer), answer.removed]).toEqual([[], ['ghost']]);
  });

  it('sends a name that exists again', async () => {
    // given
    watcher.set('n2', { clusters: [cluster('c1')], endpoints: [endpoints('c1', 8001)] });
    const envoy = connect({ mode: 'delta', node: { id: 'n2' } });
    envoy.send({ typeUrl: CLUSTER_TYPE, subscribe: ['*', 'c1'] });
    envoy.ack(await envoy.nextOf(CLUSTER_TYPE));
    // when
    envoy.send({ typeUrl: CLUSTER_TYPE, unsubscribe: ['c1'] });
    // then
    const answer = await envoy.nextOf(CLUSTER_TYPE);
    expect([namesOf(answer), answer.removed]).toEqual([['c1'], []]);
  });
});

describe('SotW: a request with an empty nonce after the first', () => {
  it('does not turn the legacy wildcard back on', async () => {
    // given: CDS subscribed by name, answered and ACKed
    watcher.set('n3', { clusters: [cluster('c1'), cluster('c2')], endpoints: [endpoints('c1', 8001), endpoints('c2', 8002)] });
    const envoy = connect({ mode: 'sotw', node: { id: 'n3' } });
    envoy.send({ typeUrl: CLUSTER_TYPE, names: ['c1'] });
    const first = await envoy.nextOf(CLUSTER_TYPE);
    expect(namesOf(first)).toEqual(['c1']);
    envoy.ack(first);
    // when: an empty list, nonce empty
    envoy.send({ typeUrl: CLUSTER_TYPE, names: [], nonce: '' });
    // then: it unsubscribed from everything, as an empty list after names does
    expect(namesOf(await envoy.nextOf(CLUSTER_TYPE))).toEqual([]);
  });
});

describe('status of a proxy with two streams', () => {
  /** One proxy, an ADS stream and a per-type CDS stream, each sent the same clusters, in that order. */
  async function twoStreams(node: string): Promise<{ ads: FakeEnvoy; onAds: ReceivedResponse; cds: FakeEnvoy; onCds: ReceivedResponse }> {
    watcher.set(node, { clusters: [cluster('c1')], endpoints: [endpoints('c1', 8001)] });
    const ads = connect({ mode: 'sotw', node: { id: node } });
    ads.send({ typeUrl: CLUSTER_TYPE, names: [] });
    const onAds = await ads.nextOf(CLUSTER_TYPE);
    const cds = connect({ mode: 'sotw', service: CLUSTER_TYPE, node: { id: node } });
    cds.send({ names: [] });
    const onCds = await cds.nextOf(CLUSTER_TYPE);
    expect(status.get(node)?.types.get(CLUSTER_TYPE)?.lastSentNonce).toBe(onCds.nonce);
    return { ads, onAds, cds, onCds };
  }
  const row = (node: string): { lastAckedVersion?: string; lastError?: string; nackCount?: number } => status.get(node)?.types.get(CLUSTER_TYPE) ?? {};

  it("is not ACKED by the other stream's ACK, only by the ACK of the latest response", async () => {
    // given
    const { ads, onAds, cds, onCds } = await twoStreams('n4');
    // when: the ADS stream ACKs its (older) response
    ads.ack(onAds);
    await ads.barrier(SECRET_TYPE);
    // then: the row still shows the per-type stream's response, unanswered
    expect(row('n4').lastAckedVersion).toBeUndefined();
    // when: the stream that sent the latest ACKs it
    cds.ack(onCds);
    await cds.barrier();
    // then
    expect(row('n4').lastAckedVersion).toBe(onCds.version);
  });

  it("counts the other stream's NACK without showing its error as the latest response's", async () => {
    // given
    const { ads, onAds } = await twoStreams('n6');
    // when
    ads.nack(onAds, 'refused on the other stream');
    await ads.barrier(SECRET_TYPE);
    // then
    expect(row('n6').nackCount).toBe(1);
    expect(row('n6').lastError).toBeUndefined();
  });
});

describe('a certificate switch', () => {
  it('logs no refusal for the secret the client was given and still asks for, and still logs an unknown one', async () => {
    // given: a listener with TLS from secret s-old; the client asks SDS for what its listeners name, as Envoy does
    const config = (secretName: string): Parameters<ControlledWatcher['set']>[1] => ({
      clusters: [cluster('c1')],
      endpoints: [endpoints('c1', 8001)],
      listeners: [tcpListener('l1', 10001, 'c1', secretName)],
      secrets: [secret(secretName)],
    });
    watcher.set('n5', config('s-old'));
    const asked = new Set<string>();
    const envoy = connect({
      mode: 'sotw',
      node: { id: 'n5' },
      autoAck: true,
      onResponse: (response, self) => {
        if (response.typeUrl !== LISTENER_TYPE) return;
        // A draining listener keeps its secret asked for: the old names stay, the new ones join.
        for (const r of response.resources) for (const name of secretsOf(r.value)) asked.add(name);
        self.subscribe(SECRET_TYPE, [...asked]);
      },
    });
    envoy.send({ typeUrl: CLUSTER_TYPE, names: [] });
    envoy.send({ typeUrl: LISTENER_TYPE, names: [] });
    await waitForState(envoy, () => envoy.state.get(SECRET_TYPE)?.has('s-old') === true);
    // when: the listener's certificate changes to s-new, and s-old leaves the config
    watcher.set('n5', config('s-new'));
    await waitForState(envoy, () => envoy.state.get(SECRET_TYPE)?.has('s-new') === true);
    await settled(envoy);
    // then: nothing was refused
    expect(warnings.filter((w) => w.msg.includes('refused'))).toEqual([]);
    // when: it asks for a secret it was never given
    envoy.subscribe(SECRET_TYPE, [...asked, 'someone-else']);
    // then: that one is logged
    await waitForState(envoy, () => warnings.some((w) => w.msg.includes('refused')));
    expect(warnings.filter((w) => w.msg.includes('refused')).map((w) => (w.obj as { secrets: string[] }).secrets)).toEqual([['someone-else']]);
  });
});

/** The SDS names of a listener's TLS contexts, as Envoy reads them. */
function secretsOf(listener: Record<string, unknown>): string[] {
  const chains = listener['filter_chains'] as { transport_socket?: { typed_config?: { type_url: string; value: Uint8Array } } }[];
  return chains.flatMap((chain) => {
    const any = chain.transport_socket?.typed_config;
    if (!any) return [];
    const tls = decodeAny(any.type_url, any.value) as { common_tls_context: { tls_certificate_sds_secret_configs: { name: string }[] } };
    return tls.common_tls_context.tls_certificate_sds_secret_configs.map((c) => c.name);
  });
}

/** Takes what was received, then proves nothing else was owed (FakeEnvoy.barrier). */
async function settled(envoy: FakeEnvoy): Promise<void> {
  while (envoy.pending.length > 0) await envoy.next();
  await envoy.barrier(ENDPOINT_TYPE);
}

async function waitForState(envoy: FakeEnvoy, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not reached (node ${envoy.nodeId})`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
