/**
 * The `meshcp serve` flags for the xDS port's limits: parsed with the flag named in every error,
 * and applied to the running server.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xdsLimitsFromFlags } from '../../src/cli/xds-limit-flags.js';
import type { ServeOptions } from '../../src/cli/serve.js';
import { ENDPOINT_TYPE } from '../../src/snapshot/types.js';
import { runCli } from '../cli/harness.js';
import { TWO_MESHES, startTestServer, type TestServer } from './xds-harness.js';

describe('xDS limit flags', () => {
  it('reads sizes, durations and counts', () => {
    expect(
      xdsLimitsFromFlags({
        xdsMaxMessageSize: '1MiB',
        xdsMaxNodeSize: '65536',
        xdsFirstRequestTimeout: '2s',
        xdsConnectionIdleTimeout: '1m30s',
        xdsMaxConnectionAge: '0',
        xdsMaxStreamsPerProxy: '4',
      }),
    ).toEqual({ maxMessageBytes: 1024 * 1024, maxNodeBytes: 65_536, firstRequestTimeoutMs: 2_000, connectionIdleMs: 90_000, maxConnectionAgeMs: 0, maxStreamsPerProxy: 4 });
    expect(xdsLimitsFromFlags({})).toEqual({});
  });

  it.each([
    ['xdsMaxStreamsPerConnection', '0', '--xds-max-streams-per-connection'],
    ['xdsMaxMessageSize', '4 gigabytes', '--xds-max-message-size'],
    ['xdsFirstRequestTimeout', 'soon', '--xds-first-request-timeout'],
    ['xdsMaxNamesPerType', '-1', '--xds-max-names-per-type'],
  ])('refuses %s %s, naming the flag', (option, value, flag) => {
    expect(() => xdsLimitsFromFlags({ [option]: value })).toThrow(new RegExp(`^invalid ${flag} "${value}": expected`));
  });

  it('makes `meshcp serve` refuse to start on a bad value, with one line', async () => {
    const run = await runCli(['serve', '--xds-max-streams-per-connection', '0', '--data-dir', '/nonexistent/never-created']);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('invalid --xds-max-streams-per-connection "0": expected a value above 0');
  });
});

describe('a limit set by its flag', () => {
  let t: TestServer;

  beforeAll(async () => {
    t = await startTestServer(TWO_MESHES, 'token', { xdsMaxNamesPerType: '5' } as Partial<ServeOptions>);
  }, 60_000);

  afterAll(async () => {
    await t.close();
  });

  it('applies to the streams of meshcp serve', async () => {
    // given
    const client = t.client({ mode: 'sotw', node: { id: 'web-01', metadata: { mesh: 'default', token: t.token('web-01', 'default') } } });
    // when: six EDS names
    client.subscribe(ENDPOINT_TYPE, ['a', 'b', 'c', 'd', 'e', 'f']);
    // then
    const status = await client.closed(20_000);
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status.details).toContain('at most 5 per type');
  });
});
