/**
 * Workload certificate issuance rate (issue #11): SPIFFE SVIDs issued through the same code the
 * identity manager uses (src/ca/providers/common.ts `WorkloadIssuers`), from an RSA-2048
 * root (the Kuma-compatible default) and from an ECDSA P-256 root. Beside it, this machine's
 * OpenSSL signing rate for the same key types, measured in the same run (`openssl speed`): the
 * floor for "one signature per certificate" on these cores; and Node's own P-256 key generation
 * rate (every SVID needs a fresh key). While the certificates are issued, the longest stretch the
 * event loop could not run a timer is recorded too: issuance runs in worker threads (src/ca/svid.ts).
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { generateKeyPair, privateKeyToPem } from '../src/ca/keys.js';
import { createRootCa, type CaMaterial } from '../src/ca/pki.js';
import { x509 } from '../src/ca/x509.js';
import { WorkloadIssuers } from '../src/ca/providers/common.js';
import type { MeshCa } from '../src/ca/providers/types.js';

export type CaKeyKind = 'rsa-2048' | 'ecdsa-p256';

export interface IssuanceResult {
  readonly caKey: CaKeyKind;
  readonly perSecond: number;
  readonly certificates: number;
  readonly seconds: number;
  /** `openssl speed` signatures per second for the CA's key type, all cores; undefined without openssl. */
  readonly opensslSignPerSecond?: number;
  /** Node's P-256 key generation (async `generateKeyPair` to KeyObjects, no encoding), per second on all cores, in the same run. */
  readonly keygenPerSecond?: number;
  /** The longest event-loop delay seen while the certificates were issued, in ms (`monitorEventLoopDelay`, 1 ms resolution). */
  readonly eventLoopMaxDelayMs?: number;
}

async function ecdsaRoot(): Promise<CaMaterial> {
  const keys = await generateKeyPair({ kind: 'ecdsa-p256' });
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=bench ECDSA root',
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 86_400_000 * 365),
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  return { certPem: `${cert.toString('pem')}\n`, keyPem: await privateKeyToPem(keys.privateKey) };
}

function meshCa(material: CaMaterial, kind: CaKeyKind): MeshCa {
  const id = crypto.createHash('sha256').update(material.certPem).digest('hex');
  return { ...material, id, backend: `bench-${kind}`, mesh: 'bench', type: 'builtin', trustRoots: [material.certPem], notAfter: new Date(Date.now() + 86_400_000 * 365) };
}

function opensslSpeed(kind: CaKeyKind, cores: number): number | undefined {
  try {
    const algorithm = kind === 'rsa-2048' ? 'rsa2048' : 'ecdsap256';
    const out = execFileSync('openssl', ['speed', '-seconds', '2', '-multi', String(cores), algorithm], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    // "rsa 2048 bits 0.000270s 0.000008s 3700.0 120000.0" / "256 bits ecdsa (nistp256) 0.0000s 0.0001s 49000.0 16000.0"
    const line = out.split('\n').reverse().find((l) => (kind === 'rsa-2048' ? /^rsa\s+2048 bits/.test(l) : /nistp256/.test(l)));
    const numbers = line?.trim().split(/\s+/).map(Number).filter((n) => Number.isFinite(n) && n > 0) ?? [];
    const signs = numbers[numbers.length - 2];
    return signs !== undefined && signs > 100 ? signs : undefined;
  } catch {
    return undefined;
  }
}

/** Node's own P-256 key pairs per second: the async (thread pool) form to KeyObjects, so every core works and no encoder runs. */
async function nodeKeygenPerSecond(count = 4000): Promise<number> {
  const one = (): Promise<void> => new Promise((resolve, reject) => crypto.generateKeyPair('ec', { namedCurve: 'P-256' }, (err) => (err ? reject(err) : resolve())));
  await Promise.all(Array.from({ length: 100 }, one));
  const started = performance.now();
  await Promise.all(Array.from({ length: count }, one));
  return count / ((performance.now() - started) / 1000);
}

export async function measureIssuance(cores: number, certificates = 3000): Promise<IssuanceResult[]> {
  const results: IssuanceResult[] = [];
  for (const caKey of ['rsa-2048', 'ecdsa-p256'] as const) {
    const material = caKey === 'rsa-2048' ? await createRootCa({ commonName: 'bench RSA root', validitySeconds: 86_400 * 365 }) : await ecdsaRoot();
    const ca = meshCa(material, caKey);
    const issuers = new WorkloadIssuers();
    const issue = (i: number): Promise<unknown> => issuers.issue(ca, { spiffeIds: [`spiffe://bench/svc-${i % 50}`], validitySeconds: 86_400, now: new Date() });
    // Warm up (the worker threads and their JIT, the per-CA issuer cache): the figure is the steady
    // rate. Right after start-up the first few thousand certificates come about a quarter slower.
    await Promise.all(Array.from({ length: 1000 }, (_, i) => issue(i)));
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const started = performance.now();
    await Promise.all(Array.from({ length: certificates }, (_, i) => issue(i)));
    const seconds = (performance.now() - started) / 1000;
    delay.disable();
    const openssl = opensslSpeed(caKey, cores);
    const keygenPerSecond = await nodeKeygenPerSecond();
    results.push({
      caKey,
      perSecond: certificates / seconds,
      certificates,
      seconds,
      ...(openssl !== undefined ? { opensslSignPerSecond: openssl } : {}),
      keygenPerSecond,
      eventLoopMaxDelayMs: delay.max / 1e6,
    });
  }
  return results;
}
