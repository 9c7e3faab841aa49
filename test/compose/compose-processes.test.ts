/**
 * docker-compose.yml run for real without Docker: the same topology as processes, each service on
 * a test host of its own (a network namespace with the compose file's static address, `meshcp`
 * resolving to meshcp's), using the compose file's own commands, environment, scripts and
 * bootstraps: `init` (envoy/init.sh), `meshcp serve` with the compose command's flags, `tokens`
 * (envoy/tokens.sh), the two apps (envoy/apps/app.cjs), and real Envoy 1.40 for the edge gateway
 * and both sidecars (the sidecars share their app's host, as `network_mode: service:APP`). Then the
 * walkthrough of docs/docker-compose.md runs against it: its curl commands from the edge's host
 * (where compose publishes 8443), and `meshcp inspect dataplanes` as `docker compose exec meshcp`.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENVOY_VERSION, EnvoyProcess } from '../envoy/envoy-process.js';
import { NetnsLab } from '../helpers/netns.js';
import { waitFor } from '../helpers/wait.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const CLI = path.join(ROOT, 'dist/src/cli/main.js');

type Service = {
  image?: string;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  network_mode?: string;
  networks?: { mesh?: { ipv4_address?: string } };
};
const compose = YAML.parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service>; networks: { mesh: { ipam: { config: Array<{ subnet: string }> } } } };
const services = compose.services;

/** The walkthrough's shell block in docs/docker-compose.md: its curl commands, continuation lines joined. */
function walkthroughCommands(): string[] {
  const doc = fs.readFileSync(path.join(ROOT, 'docs/docker-compose.md'), 'utf8');
  const block = /```sh\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
  return block.replace(/\\\n\s*/g, '').split('\n').filter((l) => l.startsWith('curl '));
}

describe('the compose topology as processes, with real Envoys', () => {
  let dir: string;
  let lab: NetnsLab;
  const envoys: EnvoyProcess[] = [];
  /** A compose volume or path as this machine has it. */
  let local: (p: string) => string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-compose-run-'));
    const volumes: Record<string, string> = { '/shared': path.join(dir, 'shared'), '/ca-keys': path.join(dir, 'ca-keys'), '/data': path.join(dir, 'data'), '/proxies': path.join(dir, 'proxies'), '/app': ROOT };
    local = (p) => {
      const prefix = Object.keys(volumes).find((v) => p === v || p.startsWith(`${v}/`));
      return prefix === undefined ? p : path.join(volumes[prefix]!, p.slice(prefix.length));
    };
    const meshcpCommand = `${process.execPath} ${CLI}`;
    const env = (service: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
      const own = Object.fromEntries(Object.entries(services[service]?.environment ?? {}).map(([k, v]) => [k, v.startsWith('/') ? local(v) : v]));
      return { ...process.env, ...own, MESHCP: meshcpCommand, ...extra };
    };

    // the hosts: the compose network's subnet and static addresses, `meshcp` resolving to meshcp's
    const prefix = Number(compose.networks.mesh.ipam.config[0]!.subnet.split('/')[1]);
    lab = new NetnsLab(`mcc${process.pid % 100_000}`, prefix);
    const address = (service: string): string => services[service]!.networks!.mesh!.ipv4_address!;
    lab.host('meshcp', address('meshcp'), ['meshcp']);
    lab.host('edge', address('edge'));
    lab.host('web', address('web'));
    lab.host('backend', address('backend'));
    lab.host('tokens', '172.28.0.200');

    // init: envoy/init.sh with the compose environment
    const init = spawnSync('sh', [local(services['init']!.entrypoint![1]!)], { env: env('init'), encoding: 'utf8', timeout: 120_000 });
    expect(init.status, init.stderr).toBe(0);
    fs.mkdirSync(volumes['/data']!, { mode: 0o700 });

    // meshcp: the compose command, its paths mapped to where the volumes are here
    const serve = lab.start('meshcp', [process.execPath, CLI, ...services['meshcp']!.command!.map((a) => (a.startsWith('/') ? local(a) : a))], { env: env('meshcp') });
    await waitFor('meshcp serving', async () => {
      if (serve.child.exitCode !== null) throw new Error(`meshcp exited: ${serve.output()}`);
      return (await lab.run('meshcp', [process.execPath, CLI, 'get', 'meshes'], { env: env('meshcp') })).code === 0 ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 200 });

    // tokens: envoy/tokens.sh on the compose network, through the admin API over mTLS
    const tokens = await lab.run('tokens', ['sh', local(services['tokens']!.entrypoint![1]!)], { env: env('tokens') });
    expect(tokens.code, tokens.stderr).toBe(0);

    // the apps and their sidecars, and the edge gateway, from the bootstraps in their own volumes
    for (const app of ['web', 'backend']) lab.start(app, ['node', local(services[app]!.command![1]!.replace('/apps', '/app/envoy/apps'))], { env: { ...process.env, ...services[app]!.environment } });
    const volumeOf = (service: string): string => path.join(volumes['/proxies']!, services[service]!.volumes![0]!.split(':')[0]!.replace(/-bootstrap$/, ''));
    for (const [service, host] of [['edge', 'edge'], ['web-sidecar', 'web'], ['backend-sidecar', 'backend']] as const) {
      const bootstrapFile = path.join(volumeOf(service), 'bootstrap.yaml');
      const envoy = EnvoyProcess.start({ name: service, dir: path.join(dir, `run-${service}`), bootstrap: fs.readFileSync(bootstrapFile, 'utf8'), prefix: ['ip', 'netns', 'exec', lab.ns(host)] });
      envoys.push(envoy);
    }
    for (const envoy of envoys) {
      try {
        await envoy.waitReady(60_000);
      } catch (err) {
        throw new Error(`${(err as Error).message}\n${await envoy.diagnostics()}`);
      }
    }
  }, 240_000);

  afterAll(async () => {
    await Promise.all(envoys.map((e) => e.stop()));
    await lab?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('pins the Envoy image to the version the tests run', () => {
    const images = Object.values(services).filter((s) => s.image?.startsWith('envoyproxy/envoy:')).map((s) => s.image);
    expect(images.length).toBe(3);
    for (const image of images) expect(image).toMatch(new RegExp(`^envoyproxy/envoy:v${ENVOY_VERSION.replace('.', '\\.')}\\.\\d+$`));
  });

  it('runs the walkthrough: without a client certificate the handshake fails; with one, web answers via backend', async () => {
    const [withoutCert, withCert] = walkthroughCommands();
    expect(withoutCert).toBeDefined();
    expect(withCert).toContain('--cert');
    const certs = path.join(dir, 'shared', 'certs');
    const run = (command: string): Promise<{ code: number | null; stdout: string; stderr: string }> =>
      lab.run('edge', ['sh', '-c', `${command.replace(/(^|\s)certs\//g, `$1${certs}/`)} --silent --show-error --max-time 10`]);

    const refused = await run(withoutCert!);
    // (curl reports TLS 1.3's refusal after the handshake as an alert, a reset or a broken pipe)
    expect(refused.code).not.toBe(0);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/alert|certificate required|handshake|reset|broken pipe/i);

    let last: { code: number | null; stdout: string; stderr: string } | undefined;
    const answered = await waitFor('web to answer through the gateway', async () => {
      const r = (last = await run(withCert!));
      return r.code === 0 && r.stdout.startsWith('web -> backend') ? r : undefined;
    }).catch(async (err: Error) => {
      const listeners = await Promise.all(envoys.map(async (e) => `${e.name}: ${(await e.admin('/listeners')).body} ${[...(await e.stats('membership_healthy|lds.update|cx_connect_fail'))].join(' ')}`));
      throw new Error(`${err.message}: last answer ${JSON.stringify(last)}\n${listeners.join('\n')}`);
    });
    expect(answered.stdout.trim()).toBe('web -> backend: hello');
  });

  it('`docker compose exec meshcp meshcp inspect dataplanes` shows every proxy online', async () => {
    const env = Object.fromEntries(Object.entries(services['meshcp']!.environment ?? {}).map(([k, v]) => [k, v.startsWith('/') ? local(v) : v]));
    const run = await lab.run('meshcp', [process.execPath, CLI, 'inspect', 'dataplanes', '-o', 'json'], { env: { ...process.env, ...env } });
    expect(run.code, run.stderr).toBe(0);
    const rows = JSON.parse(run.stdout) as Array<{ name: string; status: string }>;
    expect(rows.filter((r) => r.status === 'Online').map((r) => r.name).sort()).toEqual(['backend', 'edge', 'web']);
    for (const envoy of envoys) expect(await envoy.stat('listener_manager.lds.update_rejected'), envoy.name).toBe(0);
  });
});
