/**
 * Security issue #9, hole 2: a stream opened with a token valid for 2 s kept receiving new
 * workload certificates long after. At its token's expiry a stream is closed with
 * UNAUTHENTICATED (SPEC §2 Tokens) — that stream only: another stream of the same proxy with a
 * longer token keeps being served — the closure is logged once without the token, and the expired
 * token cannot open a new stream.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECRET_TYPE } from '../../src/snapshot/types.js';
import { TWO_MESHES, firstIdentity, startTestServer, type TestServer } from './xds-harness.js';

describe('dataplane token expiry on open streams', () => {
  let t: TestServer;

  beforeAll(async () => {
    t = await startTestServer(TWO_MESHES);
  }, 60_000);

  afterAll(async () => {
    await t.close();
  });

  it('closes the stream whose token expires, and only it', async () => {
    // given: web-01 with two streams, one with a token valid for 2–3 s (exp is in whole seconds), one valid for 10 min
    // (the long one first: the identity is issued once, then the short one shares it at once)
    const long = t.client({ mode: 'delta', service: SECRET_TYPE, node: { id: 'web-01', metadata: { mesh: 'default', token: t.token('web-01', 'default') } } });
    await firstIdentity(long, ['identity-cert:default']);
    const shortToken = t.token('web-01', 'default', 3);
    const short = t.client({ mode: 'sotw', node: { id: 'web-01', metadata: { mesh: 'default', token: shortToken } } });
    const identity = await firstIdentity(short, ['identity-cert:default']);
    expect(identity.spiffeIds).toEqual(['spiffe://default/web']);

    // when: the short token expires (the stream is closed by the server, or the deadline fails the test)
    const status = await short.closed(10_000);

    // then: UNAUTHENTICATED, saying why
    expect(status.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(status.details).toMatch(/dataplane token of node "web-01" in mesh "default" expired at .*meshcp token generate/);
    // and: the other stream of the same proxy is still served
    expect(long.isClosed).toBe(false);
    const answer = await long.barrier();
    expect(answer.typeUrl).toBe(SECRET_TYPE);
    expect(long.isClosed).toBe(false);
    // and: the closure is logged once, without the token
    const closures = t.logs
      .text()
      .split('\n')
      .filter((line) => line.includes('closing xDS stream') && line.includes('expired at'));
    expect(closures).toHaveLength(1);
    expect(t.logs.text()).not.toContain(shortToken);
    expect(t.logs.text()).not.toContain(shortToken.split('.')[2]!);
  });

  it('refuses to open a new stream with the expired token', async () => {
    // given: a token that expires while its stream is open
    const token = t.token('web-01', 'other', 2);
    const first = t.client({ mode: 'sotw', node: { id: 'web-01', metadata: { mesh: 'other', token } } });
    first.subscribe(SECRET_TYPE, ['identity-cert:other']);
    expect((await first.closed(10_000)).code).toBe(grpc.status.UNAUTHENTICATED);
    // when: the proxy reconnects with the same token
    const again = t.client({ mode: 'sotw', node: { id: 'web-01', metadata: { mesh: 'other', token } } });
    again.subscribe(SECRET_TYPE, ['identity-cert:other']);
    // then: refused before anything is sent, so no certificate is issued for it
    const status = await again.closed(10_000);
    expect(status.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(status.details).toMatch(/token expired/);
    expect(again.received).toHaveLength(0);
  });
});
