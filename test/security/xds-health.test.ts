/**
 * gRPC health on the xDS port, which any caller may reach without a token. grpc-health-check kept
 * a map entry for every distinct service name a Watch named, for ever: about 60 cancelled calls
 * with 4 MiB names took meshcp out of memory. Only the known names keep state, requests are
 * bounded before they are decoded, and a watch is forgotten when its call ends.
 */
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { TWO_MESHES, heapAfterGc, startTestServer, type TestServer } from './xds-harness.js';
import { HEALTH_WATCH, RawConnection } from './xds-raw-client.js';

const MIB = 1024 * 1024;

interface HealthClient extends grpc.Client {
  check(request: { service: string }, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null, response?: { status: string }) => void): grpc.ClientUnaryCall;
  watch(request: { service: string }): grpc.ClientReadableStream<{ status: string }>;
}

const Health = grpc.makeClientConstructor(healthService, 'Health') as unknown as new (address: string, credentials: grpc.ChannelCredentials, options: grpc.ChannelOptions) => HealthClient;

function check(client: HealthClient, service: string): Promise<string> {
  return new Promise((resolve, reject) => {
    client.check({ service }, { deadline: Date.now() + 20_000 }, (err, response) => (err ? reject(err) : resolve(response?.status ?? '')));
  });
}

/** Opens a Watch, takes its first answer (or its error), then cancels it. */
function watchOnce(client: HealthClient, service: string): Promise<{ status?: string; code?: number }> {
  return new Promise((resolve) => {
    const call = client.watch({ service });
    call.on('data', (message: { status: string }) => {
      resolve({ status: message.status });
      call.cancel();
    });
    call.on('error', (err: grpc.ServiceError) => resolve({ code: err.code }));
  });
}

describe('gRPC health on the xDS port', () => {
  let t: TestServer;
  let client: HealthClient;

  beforeAll(async () => {
    t = await startTestServer(TWO_MESHES);
    client = new Health(t.server.xdsAddress, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1, 'grpc.max_send_message_length': 16 * MIB });
  }, 60_000);

  afterAll(async () => {
    client.close();
    await t.close();
  });

  const health = (): { watches: number; names: number } => t.server.controlPlane.xds.health.sizes;

  it('answers the known services and only those', async () => {
    // when / then
    expect(await check(client, '')).toBe('SERVING');
    expect(await check(client, 'envoy.service.discovery.v3.AggregatedDiscoveryService')).toBe('SERVING');
    await expect(check(client, 'no.such.Service')).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    expect(await watchOnce(client, 'no.such.Service')).toEqual({ status: 'SERVICE_UNKNOWN' });
  });

  it('keeps nothing for 300 cancelled watches of distinct unknown names', async () => {
    // given
    const before = health();
    // when: each names another service, gets its answer and is cancelled
    for (let i = 0; i < 300; i++) expect(await watchOnce(client, `attacker.Service${i}-${'x'.repeat(200)}`)).toEqual({ status: 'SERVICE_UNKNOWN' });
    // then: once the server has seen the cancellations, no watch and no name is left
    await waitFor('every watch released', () => health().watches === 0, { timeoutMs: 20_000 });
    expect(health()).toEqual({ ...before, watches: 0 });
  }, 60_000);

  it('refuses 1 MiB service names without keeping them: the heap does not grow by what they would cost', async () => {
    // given
    const heapBefore = heapAfterGc();
    // when: 60 watches and 60 checks name 1 MiB services (60 MiB of names each way)
    for (let i = 0; i < 60; i++) {
      const name = `${i}`.padEnd(MIB, 'x');
      expect(await watchOnce(client, name)).toEqual({ code: grpc.status.INVALID_ARGUMENT });
      await expect(check(client, name)).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    }
    // then: nothing kept; the heap holds far less than the 60 MiB of names a kept map would
    await waitFor('every watch released', () => health().watches === 0, { timeoutMs: 20_000 });
    expect(health().names).toBe(7);
    expect(heapAfterGc() - heapBefore).toBeLessThan(30 * MIB);
  }, 120_000);

  it('releases a watch that sent two requests (found by the xDS fuzz)', async () => {
    // given: a raw client sends two HealthCheckRequests on one Watch, then half-closes
    const connection = new RawConnection(t.server.xdsAddress);
    const stream = connection.open(HEALTH_WATCH);
    stream.send(Buffer.alloc(0));
    stream.send(Buffer.alloc(0));
    stream.end();
    // when / then: the call is refused, and no watch is left
    expect((await stream.closed()).code).toBe(grpc.status.INVALID_ARGUMENT);
    connection.close();
    await waitFor('the watch released', () => health().watches === 0, { timeoutMs: 20_000 });
  });

  it('tells a watcher of a known service when it stops serving, and forgets it when it leaves', async () => {
    // given: a watch of the ADS service
    const call = client.watch({ service: 'envoy.service.discovery.v3.AggregatedDiscoveryService' });
    const statuses: string[] = [];
    call.on('data', (m: { status: string }) => statuses.push(m.status));
    call.on('error', () => undefined);
    await waitFor('the first answer', () => statuses.length === 1);
    expect(health().watches).toBe(1);
    // when
    t.server.controlPlane.xds.setServing(false);
    await waitFor('the change', () => statuses.length === 2);
    t.server.controlPlane.xds.setServing(true);
    await waitFor('the change back', () => statuses.length === 3);
    call.cancel();
    // then
    expect(statuses).toEqual(['SERVING', 'NOT_SERVING', 'SERVING']);
    await waitFor('the watch released', () => health().watches === 0, { timeoutMs: 20_000 });
  });
});
