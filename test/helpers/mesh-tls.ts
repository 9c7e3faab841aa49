/**
 * Mesh mTLS for real-peer tests: a control plane whose identity material is injected, and the
 * cert.pem / key.pem / ca.pem files that the gRPC bootstrap's `file_watcher` provider reads
 * (what `meshcp agent` keeps current in production).
 *
 * Two material sources, same interface:
 * - `startWithTestIdentities`: certificates issued by the test from its own root CA (src/ca/pki.ts)
 *   and served by a SnapshotCache + XdsServer pipeline built here around `generateForProxy`;
 * - `startWithRuntimeIdentities`: the real `ControlPlane`, whose IdentityManager issues
 *   identities when proxies connect.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { map } from 'rxjs';
import { createRootCa, issueCertificate, type CaMaterial } from '../../src/ca/pki.js';
import type { MeshTlsMaterial, WorkloadIdentity } from '../../src/ca/workload-identity.js';
import { generateForProxy, proxyIdentity } from '../../src/generate/generate.js';
import { spiffeId } from '../../src/identity/names.js';
import { FileConfigSource } from '../../src/sources/config-files.js';
import { silentLogger } from '../../src/log/logger.js';
import { translateMeshes } from '../../src/translate/mesh-services.js';
import { SnapshotCache } from '../../src/snapshot/cache.js';
import { XdsServer } from '../../src/xds/server.js';
import { StatusRegistry } from '../../src/xds/status.js';
import { startControlPlane } from './control-plane.js';
import { waitFor } from './wait.js';

/**
 * grpc-js-xds registers its RBAC HTTP filter only when this is set before it is loaded; without
 * it a server NACKs Listeners that carry RBAC (and does not serve). Call before importing it.
 */
export async function loadGrpcXdsWithRbac(): Promise<typeof import('@grpc/grpc-js-xds')> {
  process.env['GRPC_XDS_EXPERIMENTAL_RBAC'] = 'true';
  const grpcXds = await import('@grpc/grpc-js-xds');
  grpcXds.register();
  return grpcXds;
}

/** Workload certificates the test issues itself: `proxies` maps a proxy name to the services it serves. */
export class TestMeshIdentities implements MeshTlsMaterial {
  private constructor(
    private readonly mesh: string,
    private readonly ca: CaMaterial,
    private readonly identities: ReadonlyMap<string, WorkloadIdentity>,
  ) {}

  static async issue(mesh: string, proxies: Readonly<Record<string, readonly string[]>>): Promise<TestMeshIdentities> {
    const ca = await createRootCa({ commonName: `test mesh ${mesh}`, validitySeconds: 3600, uris: [`spiffe://${mesh}`] });
    const identities = new Map<string, WorkloadIdentity>();
    for (const [proxy, services] of Object.entries(proxies)) {
      const spiffeIds = services.map((s) => spiffeId(mesh, s));
      const cert = await issueCertificate({ issuer: ca, usage: 'workload', uris: spiffeIds, validitySeconds: 3600 });
      identities.set(proxy, { certChainPem: cert.chainPem, keyPem: cert.keyPem, spiffeIds, serialHex: cert.serialHex, notAfter: cert.notAfter });
    }
    return new TestMeshIdentities(mesh, ca, identities);
  }

  identity(mesh: string, proxyName: string): WorkloadIdentity | undefined {
    return mesh === this.mesh ? this.identities.get(proxyName) : undefined;
  }

  trustBundle(mesh: string): string | undefined {
    return mesh === this.mesh ? this.ca.certPem : undefined;
  }
}

function writeAtomically(file: string, content: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, content, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

/** Waits until `proxyName` has an identity and a trust bundle, then writes its files into `dir`. */
export async function writeIdentityFiles(material: MeshTlsMaterial, mesh: string, proxyName: string, dir: string): Promise<WorkloadIdentity> {
  const { identity, bundle } = await waitFor(
    `an identity for ${mesh}/${proxyName}`,
    () => {
      const identity = material.identity(mesh, proxyName);
      const bundle = material.trustBundle(mesh);
      return identity && bundle !== undefined ? { identity, bundle } : undefined;
    },
    // A builtin CA generates its RSA root first: slow on a loaded machine.
    { timeoutMs: 40_000 },
  );
  fs.mkdirSync(dir, { recursive: true });
  // The CA first, then the key, then the certificate: the provider never pairs a new certificate with an old key.
  writeAtomically(path.join(dir, 'ca.pem'), bundle);
  writeAtomically(path.join(dir, 'key.pem'), identity.keyPem);
  writeAtomically(path.join(dir, 'cert.pem'), identity.certChainPem);
  return identity;
}

export interface MeshTlsControlPlane {
  readonly address: string;
  readonly status: StatusRegistry;
  readonly material: MeshTlsMaterial;
  /** A fresh temporary directory, removed by `stop`. */
  tempDir(name: string): string;
  /** Rewrites the watched config file and waits until it is loaded. */
  writeConfig(yaml: string): Promise<void>;
  stop(): Promise<void>;
}

function configFileSource(initialYaml: string): { dir: string; file: string; config: FileConfigSource } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-mtls-'));
  const file = path.join(dir, 'config.yaml');
  fs.writeFileSync(file, initialYaml);
  return { dir, file, config: new FileConfigSource([file], silentLogger()) };
}

async function reloadObserved(config: FileConfigSource, file: string, yaml: string): Promise<void> {
  const before = config.loads;
  writeAtomically(file, yaml);
  await waitFor('the config reload', () => config.loads > before);
  if (config.lastErrors.length > 0) throw new Error(`config rejected:\n${config.lastErrors.join('\n')}`);
}

/** The generation pipeline (translate → generate → cache → xDS server) with `material` injected. */
export async function startWithTestIdentities(initialYaml: string, material: MeshTlsMaterial): Promise<MeshTlsControlPlane> {
  const { dir, file, config } = configFileSource(initialYaml);
  await config.start();
  const log = silentLogger();
  const status = new StatusRegistry();
  const models = config.resources.pipe(map((resources) => translateMeshes(resources)));
  const cache = new SnapshotCache((node) => {
    const proxy = proxyIdentity(node);
    return models.pipe(map((model) => generateForProxy(model, proxy, { meshTls: material })));
  }, log);
  const xds = new XdsServer({ watcher: cache, status, log });
  const port = await xds.listen('127.0.0.1:0');
  xds.setServing(true);
  return {
    address: `127.0.0.1:${port}`,
    status,
    material,
    tempDir: (name) => fs.mkdtempSync(path.join(dir, `${name}-`)),
    writeConfig: (yaml) => reloadObserved(config, file, yaml),
    async stop() {
      config.stop();
      xds.setServing(false);
      await xds.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The real ControlPlane: identities come from its IdentityManager once each proxy connects. */
export async function startWithRuntimeIdentities(initialYaml: string): Promise<MeshTlsControlPlane> {
  const cp = await startControlPlane(initialYaml);
  return {
    address: cp.address,
    status: cp.controlPlane.status,
    material: cp.controlPlane.identities,
    tempDir: (name) => fs.mkdtempSync(path.join(cp.dir, `${name}-`)),
    async writeConfig(yaml) {
      await cp.writeConfig(yaml);
      if (cp.config.lastErrors.length > 0) throw new Error(`config rejected:\n${cp.config.lastErrors.join('\n')}`);
    },
    stop: cp.stop,
  };
}
