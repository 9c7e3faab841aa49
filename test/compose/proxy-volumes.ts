/**
 * What each Envoy of a compose kit can read (both kits): its volumes, mapped to the directories
 * the tokens step wrote here, and the checks that it sees its own short-lived token and nothing
 * else (no other token, no key, nothing of the shared volume).
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { expect } from 'vitest';
import { readTokenUnverified } from '../../src/auth/token.js';

export interface ComposeService {
  readonly image?: string;
  readonly command?: readonly string[];
  readonly volumes?: readonly string[];
  readonly environment?: Record<string, string>;
}

/** `source:target[:ro]` */
export function mounts(service: ComposeService | undefined): { source: string; target: string; readOnly: boolean }[] {
  return (service?.volumes ?? []).map((v) => {
    const [source = '', target = '', mode] = v.split(':');
    return { source, target, readOnly: mode === 'ro' };
  });
}

/**
 * For each Envoy: its one volume, the directory the tokens step (`tokensService`, whose `PROXIES`
 * is mapped to `proxiesDir` here) wrote into it, and the bootstrap its command names in there.
 */
export function envoyVolumes(services: Record<string, ComposeService>, tokensService: string, proxiesDir: string): { name: string; proxy: string; volume: string; dir: string; bootstrap: string }[] {
  const writer = mounts(services[tokensService]);
  const proxiesRoot = services[tokensService]?.environment?.['PROXIES'] ?? '/proxies';
  return Object.entries(services)
    .filter(([, s]) => s.image?.startsWith('envoyproxy/envoy:'))
    .map(([name, s]) => {
      const own = mounts(s);
      expect(own, `${name} mounts one volume, its own, read-only`).toHaveLength(1);
      const [volume] = own;
      expect(volume?.readOnly, name).toBe(true);
      const written = writer.find((m) => m.source === volume?.source);
      expect(written?.target.startsWith(`${proxiesRoot}/`), `${tokensService} writes ${volume?.source} under ${proxiesRoot}`).toBe(true);
      const dir = path.join(proxiesDir, written?.target.slice(proxiesRoot.length + 1) ?? '');
      const configPath = s.command?.[(s.command?.indexOf('-c') ?? -2) + 1] ?? '';
      expect(configPath.startsWith(`${volume?.target}/`), `${name} reads its bootstrap from its volume`).toBe(true);
      return { name, proxy: name.replace(/-sidecar$/, ''), volume: volume?.source ?? '', dir, bootstrap: path.join(dir, configPath.slice((volume?.target.length ?? 0) + 1)) };
    });
}

/** Every file under `dir`, recursively. */
export function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

/** The Envoy-visible checks: one file, its own token, short-lived, owner-only for the Envoy user, no key. */
export function expectOnlyItsOwnBootstrap(envoy: { name: string; proxy: string; dir: string; bootstrap: string }, envoyUid: number, maxValiditySeconds: number): void {
  expect(filesUnder(envoy.dir), envoy.name).toEqual([envoy.bootstrap]);
  const text = fs.readFileSync(envoy.bootstrap, 'utf8');
  expect(text, envoy.name).not.toMatch(/PRIVATE KEY/);
  const stat = fs.statSync(envoy.bootstrap);
  expect(stat.mode & 0o777, `${envoy.name} bootstrap mode`).toBe(0o400);
  expect(stat.uid, `${envoy.name} bootstrap owner`).toBe(envoyUid);
  const dirStat = fs.statSync(envoy.dir);
  expect(dirStat.mode & 0o077, `${envoy.name} directory mode`).toBe(0);
  expect(dirStat.uid).toBe(envoyUid);
  const bootstrap = YAML.parse(text) as { node?: { id?: string; metadata?: { token?: string } } };
  const token = readTokenUnverified(String(bootstrap.node?.metadata?.token ?? ''));
  expect(token.claims?.name, envoy.name).toBe(envoy.proxy);
  expect((token.claims?.exp ?? Infinity) - (token.claims?.iat ?? 0), `${envoy.name} token lifetime`).toBeLessThanOrEqual(maxValiditySeconds);
}

/** No CA key in the shared volume, and every private key there readable by its owner only. */
export function expectSharedVolumeHoldsNoCaKey(sharedDir: string): void {
  for (const file of filesUnder(sharedDir)) {
    expect(path.basename(file), file).not.toMatch(/-ca\.key$/);
    if (fs.readFileSync(file, 'utf8').includes('PRIVATE KEY')) expect(fs.statSync(file).mode & 0o077, file).toBe(0);
  }
}
