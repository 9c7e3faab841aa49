/**
 * The web GUI's browser tests and bench: Debian's Chromium (never a downloaded browser) driven by
 * playwright-core, against a real `meshcp serve` (startServer) with raw ADS proxies
 * (test/helpers/fake-envoy.ts) standing in for Envoys.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startServer, type RunningServer, type ServeOptions } from '../../src/cli/serve.js';
import { LISTENER_TYPE, CLUSTER_TYPE, SECRET_TYPE } from '../../src/snapshot/types.js';
import { FakeEnvoy, type ReceivedResponse } from '../helpers/fake-envoy.js';
import { bufferLogger } from '../helpers/log-buffer.js';

/** The checkout: test/gui when run from source, dist/test/gui when built (bench/gui.ts). */
function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json')) || path.basename(dir) === 'dist') {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('no package.json above the GUI test harness');
    dir = parent;
  }
  return dir;
}

export const REPO = repoRoot();
/** `npm run build` writes the GUI here; the tests serve exactly what ships. */
export const GUI_DIR = path.join(REPO, 'dist', 'gui');
/** Screenshots of each page, kept as test artifacts (gitignored). */
export const ARTIFACTS = path.join(REPO, 'test-artifacts', 'gui');

export const CHROMIUM = '/usr/bin/chromium';
/** Headless, offline: no first-run, sync, component updates or background requests of its own. */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Playwright starts it with a fresh temporary --user-data-dir, removed when it closes. */
export function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install -y chromium (.ci/run installs it)`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, chromiumSandbox: false, args: CHROMIUM_FLAGS });
}

export interface GuiServer {
  readonly server: RunningServer;
  readonly url: string;
  readonly dir: string;
  logText(): string;
  /** A proxy on this server: SotW ADS, listeners, clusters and `secrets` asked for; `onResponse` decides ACK or NACK (ACK by default). */
  proxy(name: string, mesh: string, options?: { secrets?: readonly string[]; onResponse?: (r: ReceivedResponse, envoy: FakeEnvoy) => void }): FakeEnvoy;
  /** The admin API as the CLI calls it. */
  api(method: string, apiPath: string, body?: string): Promise<{ status: number; json: Record<string, unknown> }>;
  close(): Promise<void>;
}

export async function startGuiServer(configYaml: string, extra: Partial<ServeOptions> = {}): Promise<GuiServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-gui-'));
  const configDir = path.join(dir, 'config');
  fs.mkdirSync(configDir);
  if (configYaml !== '') fs.writeFileSync(path.join(configDir, 'config.yaml'), configYaml);
  const logs = bufferLogger('info');
  const server = await startServer(
    { config: [configDir], dataDir: path.join(dir, 'data'), xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', auth: 'none', xdsPlaintext: true, guiDir: GUI_DIR, ...extra },
    logs.log,
  );
  const proxies: FakeEnvoy[] = [];
  let closed: Promise<void> | undefined;
  return {
    server,
    url: server.adminUrl,
    dir,
    logText: logs.text,
    proxy(name, mesh, options = {}) {
      const envoy = new FakeEnvoy({
        address: server.xdsAddress,
        mode: 'sotw',
        node: { id: name, metadata: { mesh } },
        onResponse: options.onResponse ?? ((r, e) => e.ack(r)),
      });
      proxies.push(envoy);
      envoy.subscribe(CLUSTER_TYPE, []);
      envoy.subscribe(LISTENER_TYPE, []);
      if (options.secrets && options.secrets.length > 0) envoy.subscribe(SECRET_TYPE, options.secrets);
      return envoy;
    },
    async api(method, apiPath, body) {
      const res = await fetch(`${server.adminUrl}${apiPath}`, { method, ...(body !== undefined ? { body, headers: { 'content-type': 'application/yaml' } } : {}) });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    },
    close() {
      closed ??= (async () => {
        for (const p of proxies) p.close();
        await server.close();
        fs.rmSync(dir, { recursive: true, force: true });
      })();
      return closed;
    },
  };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

export interface AxeViolation {
  readonly id: string;
  readonly impact: string | null;
  readonly help: string;
  readonly nodes: readonly { readonly target: readonly string[] }[];
}

/**
 * Runs axe-core (WCAG 2 A and AA rules) in the page. It is evaluated over the DevTools protocol,
 * which the page's Content-Security-Policy does not govern: the policy stays as served.
 */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  const source = fs.readFileSync(path.join(REPO, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
  await page.evaluate(source);
  return page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: Document, opts: object): Promise<{ violations: AxeViolation[] }> } }).axe;
    const result = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) }));
  });
}
