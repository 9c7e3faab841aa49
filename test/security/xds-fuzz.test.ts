/**
 * Fuzzing the xDS port of `meshcp serve` (fast-check), with the guarantees the admin API fuzz
 * holds: random callers — random frames and length prefixes, random and mutated
 * DiscoveryRequests, random sizes, several streams per connection, on every method (ADS, per-type
 * streams, Fetch*, health, unknown paths) — never crash the server, leave nothing behind once
 * they are gone (streams, watches, status rows, health watches; the heap within a bound), and
 * cause at most one log line each, short and with nothing raw in it.
 */
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { protoCodec } from '../../src/xds/codec.js';
import { jsonToStruct } from '../../src/xds/struct.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, SECRET_TYPE } from '../../src/snapshot/types.js';
import { waitFor } from '../helpers/wait.js';
import { TWO_MESHES, heapAfterGc, logLinesSince, startTestServer, type TestServer } from './xds-harness.js';
import { ADS_DELTA, ADS_SOTW, FETCH_CLUSTERS, FETCH_SECRETS, HEALTH_CHECK, HEALTH_WATCH, RawConnection, type RawStream } from './xds-raw-client.js';

const RUNS = Number(process.env['MESHCP_FUZZ_RUNS'] ?? 60);
const MIB = 1024 * 1024;
const RAW_UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

const sotwRequest = protoCodec('envoy.service.discovery.v3.DiscoveryRequest');
const deltaRequest = protoCodec('envoy.service.discovery.v3.DeltaDiscoveryRequest');

const PATHS = [
  ADS_SOTW,
  ADS_DELTA,
  '/envoy.service.endpoint.v3.EndpointDiscoveryService/StreamEndpoints',
  '/envoy.service.secret.v3.SecretDiscoveryService/DeltaSecrets',
  FETCH_SECRETS,
  FETCH_CLUSTERS,
  HEALTH_CHECK,
  HEALTH_WATCH,
  '/no.such.Service/Method',
] as const;

type TokenKind = 'none' | 'valid' | 'other-proxy' | 'garbage';

interface RequestSpec {
  readonly nodeId: string | undefined;
  readonly mesh: string;
  readonly token: TokenKind;
  readonly typeUrl: string;
  readonly names: readonly string[];
  readonly nonce: string;
  readonly errorDetail: string | undefined;
}

type Frame =
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array }
  | { readonly kind: 'prefix'; readonly claimed: number; readonly bytes: Uint8Array }
  | { readonly kind: 'request'; readonly request: RequestSpec }
  | { readonly kind: 'big'; readonly size: number };

interface StreamSpec {
  readonly path: (typeof PATHS)[number];
  readonly frames: readonly Frame[];
}

const text = fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('web-01', 'ghost', '\u001b[2Jweb', 'web\u202e10-', 'a\u2028b', ''), fc.string({ unit: 'binary', maxLength: 20 }));
const requestArb: fc.Arbitrary<RequestSpec> = fc.record({
  nodeId: fc.option(fc.oneof(text, fc.nat({ max: 400 }).map((n) => 'n'.repeat(n))), { nil: undefined }),
  mesh: fc.constantFrom('default', 'other', 'nope', ''),
  token: fc.constantFrom<TokenKind>('none', 'valid', 'other-proxy', 'garbage'),
  typeUrl: fc.oneof(fc.constantFrom(CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, SECRET_TYPE, '', 'type.googleapis.com/unknown'), text),
  names: fc.array(text, { maxLength: 30 }),
  nonce: fc.oneof(fc.constant(''), text),
  errorDetail: fc.option(text, { nil: undefined }),
});
const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 2000 }).map((bytes) => ({ kind: 'bytes' as const, bytes })) },
  { weight: 2, arbitrary: fc.record({ claimed: fc.oneof(fc.nat({ max: 5000 }), fc.constantFrom(2 ** 31, 64 * MIB, 4 * MIB + 1)), bytes: fc.uint8Array({ maxLength: 500 }) }).map((f) => ({ kind: 'prefix' as const, ...f })) },
  { weight: 6, arbitrary: requestArb.map((request) => ({ kind: 'request' as const, request })) },
  { weight: 1, arbitrary: fc.constantFrom(300 * 1024, 3 * MIB).map((size) => ({ kind: 'big' as const, size })) },
);
const streamArb: fc.Arbitrary<StreamSpec> = fc.record({ path: fc.constantFrom(...PATHS), frames: fc.array(frameArb, { minLength: 0, maxLength: 3 }) });

describe('xDS port fuzzing', () => {
  let t: TestServer;
  let opened = 0;
  /** (name, mesh) of fetches made with a valid token: each may keep one watch for its next fetch. */
  const authenticatedFetchers = new Set<string>();

  beforeAll(async () => {
    // A short first-request deadline: streams the fuzz leaves silent end on the server's own timer.
    t = await startTestServer(TWO_MESHES, 'token', { xdsLimits: { firstRequestTimeoutMs: 300 } });
  }, 60_000);

  afterAll(async () => {
    await t.close();
  });

  function encode(spec: RequestSpec, delta: boolean): Buffer {
    const valid = (): string => {
      try {
        return t.token(spec.nodeId ?? 'web-01', spec.mesh);
      } catch {
        // A name no token can be made for (empty, or invalid): the caller has none.
        return 'a.b.c';
      }
    };
    const token = spec.token === 'valid' ? valid() : spec.token === 'other-proxy' ? t.token('web-01', 'default') : spec.token === 'garbage' ? 'a.b.c' : undefined;
    const node = spec.nodeId === undefined ? undefined : { id: spec.nodeId, cluster: 'fuzz', metadata: jsonToStruct({ mesh: spec.mesh, ...(token !== undefined ? { token } : {}) }) };
    const error = spec.errorDetail === undefined ? undefined : { code: 3, message: spec.errorDetail };
    if (delta) return deltaRequest.serialize({ node, type_url: spec.typeUrl, resource_names_subscribe: [...spec.names], response_nonce: spec.nonce, error_detail: error });
    return sotwRequest.serialize({ node, type_url: spec.typeUrl, resource_names: [...spec.names], response_nonce: spec.nonce, version_info: spec.nonce, error_detail: error });
  }

  function write(stream: RawStream, frame: Frame, delta: boolean): void {
    switch (frame.kind) {
      case 'bytes':
        stream.send(frame.bytes);
        return;
      case 'prefix': {
        const prefix = Buffer.alloc(5);
        prefix.writeUInt32BE(frame.claimed >>> 0, 1);
        stream.sendRaw(Buffer.concat([prefix, frame.bytes]));
        return;
      }
      case 'request':
        stream.send(encode(frame.request, delta));
        if (frame.request.token === 'valid') authenticatedFetchers.add(JSON.stringify([frame.request.nodeId ?? 'web-01', frame.request.mesh]));
        return;
      case 'big':
        stream.send(encode({ nodeId: 'web-01', mesh: 'default', token: 'garbage', typeUrl: ENDPOINT_TYPE, names: Array.from({ length: Math.floor(frame.size / 100) }, (_, i) => `${i}`.padEnd(98, 'z')), nonce: '', errorDetail: undefined }, delta));
    }
  }

  /** Runs one caller to its end: every stream half-closed (or, for a health watch, cancelled) and settled. */
  async function run(streams: readonly StreamSpec[]): Promise<void> {
    const connection = new RawConnection(t.server.xdsAddress);
    try {
      await Promise.all(
        streams.map(async (spec) => {
          opened++;
          const stream = connection.open(spec.path);
          const delta = spec.path.includes('/Delta');
          for (const frame of spec.frames) write(stream, frame, delta);
          stream.end();
          if (spec.path === HEALTH_WATCH) {
            // A watch stays open after its answer, as the health protocol says.
            await waitFor('a health answer', () => stream.messages.length > 0 || stream.isClosed, { timeoutMs: 20_000 });
            stream.cancel();
            return;
          }
          await stream.closed(20_000);
        }),
      );
    } finally {
      connection.close();
    }
  }

  it('never crashes, keeps nothing of its callers, and logs each at most once', async () => {
    // given
    const heapBefore = heapAfterGc();
    const logFrom = t.logs.text().length;
    // when
    await fc.assert(
      fc.asyncProperty(fc.array(streamArb, { minLength: 1, maxLength: 8 }), async (streams) => {
        // MESHCP_FUZZ_TRACE=FILE appends each run before it starts, to replay one that took the process down.
        if (process.env['MESHCP_FUZZ_TRACE']) (await import('node:fs')).appendFileSync(process.env['MESHCP_FUZZ_TRACE'], `${JSON.stringify(streams, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v))}\n`);
        await run(streams);
        // then: the server still answers
        const check = new RawConnection(t.server.xdsAddress);
        const probe = check.open(HEALTH_CHECK);
        probe.send(Buffer.alloc(0));
        probe.end();
        expect((await probe.closed()).code).toBe(grpc.status.OK);
        check.close();
      }),
      { numRuns: RUNS },
    );
    // then: once the callers are gone, nothing of theirs is left
    const cp = t.server.controlPlane;
    await waitFor('every stream released', () => cp.xds.sizes.streams === 0 && cp.xds.health.sizes.watches === 0, { timeoutMs: 30_000 }).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify({ streams: cp.xds.sizes.streams, health: cp.xds.health.sizes })}`);
    });
    expect(cp.status.list().every((row) => row.nodeId === 'web-01' && row.activeStreams === 0)).toBe(true);
    // A fetch with a valid token keeps one watch for the proxy's next fetch; nothing else is watched.
    expect(cp.xds.sizes.fetchWatches).toBeLessThanOrEqual(authenticatedFetchers.size);
    expect(cp.cache.sizes.watches).toBe(cp.xds.sizes.fetchWatches);
    expect(heapAfterGc() - heapBefore).toBeLessThan(64 * MIB);
    // and: at most one warning per caller, each short, nothing raw
    const written = t.logs.text().slice(logFrom);
    expect(written.split('\n').filter((l) => RAW_UNSAFE.test(l))).toEqual([]);
    const warnings = logLinesSince(t.logs, logFrom).filter((l) => Number(l['level']) >= 40);
    expect(warnings.length).toBeLessThanOrEqual(opened);
    for (const line of warnings) expect(JSON.stringify(line).length).toBeLessThan(2_000);
    // and: a proxy is served as before
    const client = t.client({ mode: 'sotw', node: { id: 'web-01', metadata: { mesh: 'other', token: t.token('web-01', 'other') } } });
    client.send({ typeUrl: LISTENER_TYPE, names: [] });
    expect((await client.nextOf(LISTENER_TYPE, 20_000)).typeUrl).toBe(LISTENER_TYPE);
    t.closeClients();
  }, 300_000);
});
