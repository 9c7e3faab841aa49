import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { BehaviorSubject } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseYamlDocuments } from '../helpers/parse-yaml.js';
import type { Resource } from '../../src/api/types.js';
import { generateToken, loadOrCreateSigningKey } from '../../src/auth/token.js';
import { startServer, type RunningServer } from '../../src/cli/serve.js';
import { tokenAuthenticator } from '../../src/auth/xds-auth.js';
import type { TokenKeyring } from '../../src/auth/keyring.js';
import { ControlPlane } from '../../src/runtime/control-plane.js';
import { LISTENER_TYPE } from '../../src/snapshot/types.js';
import { FakeEnvoy, type NodeSpec } from '../helpers/fake-envoy.js';
import { bufferLogger } from '../helpers/log-buffer.js';
import { memoryKeyring } from '../helpers/token-keyring.js';
import { changesOfLists } from '../helpers/list-changes.js';

const KEY = crypto.randomBytes(32);
const HOUR_S = 3600;

const CONFIG = `type: Service
name: backend
endpoints: [{ address: 127.0.0.1, port: 9001 }]
---
type: Dataplane
name: web-01
networking:
  address: 127.0.0.1
  outbound: [{ port: 10001, tags: { kuma.io/service: backend } }]
`;

function resources(): Resource[] {
  const parsed = parseYamlDocuments(CONFIG);
  if (!parsed.ok) throw new Error(parsed.errors.map((e) => e.message).join('; '));
  return parsed.value;
}


function token(name: string, mesh = 'default', options: { key?: Buffer; validForSeconds?: number; now?: Date } = {}): string {
  return generateToken({ name, mesh, validForSeconds: options.validForSeconds ?? HOUR_S, ...(options.now ? { now: options.now } : {}) }, options.key ?? KEY);
}

function node(id: string, metadata: Record<string, string>): NodeSpec {
  return { id, metadata };
}

describe('xDS token authentication', () => {
  let controlPlane: ControlPlane;
  let keyring: TokenKeyring;
  let address: string;
  const logs = bufferLogger();
  const clients: FakeEnvoy[] = [];

  beforeAll(async () => {
    // The real keyring, in memory, with KEY as its initial key (the key tokens without a key id are signed with)
    keyring = await memoryKeyring(KEY);
    controlPlane = new ControlPlane({ changes: changesOfLists(new BehaviorSubject(resources())), log: logs.log, authenticate: tokenAuthenticator({ keyring, log: logs.log }) });
    address = `127.0.0.1:${await controlPlane.listen('127.0.0.1:0')}`;
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await controlPlane.close();
    keyring.close();
  });

  function connect(spec: NodeSpec): FakeEnvoy {
    const client = new FakeEnvoy({ address, mode: 'sotw', node: spec });
    clients.push(client);
    client.send({ typeUrl: LISTENER_TYPE, names: [] });
    return client;
  }

  it('serves a node whose token names it and its mesh', async () => {
    // given / when
    const client = connect(node('web-01', { mesh: 'default', token: token('web-01') }));
    // then
    const response = await client.nextOf(LISTENER_TYPE);
    expect(response.resources.map((r) => r.name)).toEqual(['outbound:127.0.0.1:10001']);
  });

  const refusals: readonly [string, () => Record<string, string>, number, string][] = [
    ['a missing token', () => ({ mesh: 'default' }), grpc.status.UNAUTHENTICATED, 'no dataplane token'],
    ['a token with a bad signature', () => ({ mesh: 'default', token: token('web-01', 'default', { key: crypto.randomBytes(32) }) }), grpc.status.UNAUTHENTICATED, 'invalid token signature'],
    ['an expired token', () => ({ mesh: 'default', token: token('web-01', 'default', { now: new Date(Date.now() - 2 * HOUR_S * 1000) }) }), grpc.status.UNAUTHENTICATED, 'token expired'],
    ['a malformed token', () => ({ mesh: 'default', token: 'not.a-token' }), grpc.status.UNAUTHENTICATED, 'malformed token'],
    ['a token for another proxy', () => ({ mesh: 'default', token: token('backend-01') }), grpc.status.PERMISSION_DENIED, 'is for "backend-01", not "web-01"'],
    ['a token for another mesh', () => ({ mesh: 'default', token: token('web-01', 'other') }), grpc.status.PERMISSION_DENIED, 'is for mesh "other", not "default"'],
  ];

  for (const [what, metadata, code, reason] of refusals) {
    it(`refuses ${what}, and logs it without the token`, async () => {
      // given
      const meta = metadata();
      // when
      const client = connect(node('web-01', meta));
      const status = await client.closed();
      // then
      expect(status.code).toBe(code);
      expect(status.details).toContain(reason);
      expect(client.received).toEqual([]);
      expect(logs.text()).toContain(reason.replace(/"/g, '\\"'));
      if (meta['token'] !== undefined) expect(logs.text()).not.toContain(meta['token']);
    });
  }
});

describe('meshcp serve authentication', () => {
  let server: RunningServer;
  let dir: string;
  const clients: FakeEnvoy[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-auth-'));
    fs.writeFileSync(path.join(dir, 'config.yaml'), CONFIG);
    server = await startServer(
      { config: [path.join(dir, 'config.yaml')], dataDir: path.join(dir, 'data'), xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', auth: 'token', xdsPlaintext: true },
      bufferLogger().log,
    );
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('requires tokens by default, signed with the data directory key', async () => {
    // given
    const key = await loadOrCreateSigningKey(path.join(dir, 'data'));
    const good = new FakeEnvoy({ address: server.xdsAddress, mode: 'sotw', node: node('web-01', { mesh: 'default', token: token('web-01', 'default', { key }) }) });
    const bad = new FakeEnvoy({ address: server.xdsAddress, mode: 'sotw', node: node('web-01', { mesh: 'default' }) });
    clients.push(good, bad);
    // when
    good.send({ typeUrl: LISTENER_TYPE, names: [] });
    bad.send({ typeUrl: LISTENER_TYPE, names: [] });
    // then
    expect((await good.nextOf(LISTENER_TYPE)).resources).toHaveLength(1);
    expect((await bad.closed()).code).toBe(grpc.status.UNAUTHENTICATED);
  });
});
