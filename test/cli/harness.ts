/** A real meshcp server (store, config files, admin API, xDS) on 127.0.0.1 port 0, and in-process CLI runs against it. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { main } from '../../src/cli/main.js';
import { startServer, type RunningServer } from '../../src/cli/serve.js';
import { silentLogger } from '../../src/log/logger.js';
import { waitFor } from '../helpers/wait.js';

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Harness {
  readonly dir: string;
  readonly dataDir: string;
  readonly configFile: string;
  readonly server: RunningServer;
  readonly url: string;
  /** Runs `meshcp ARGS --server URL` in process. */
  cli(args: readonly string[], stdin?: string): Promise<CliRun>;
  /** Rewrites the watched config file and waits until it has been merged. */
  writeConfig(yaml: string): Promise<void>;
  /** Every file under the data directory with its content: to assert "nothing changed". */
  snapshotDataDir(): Record<string, string>;
  /** Writes `text` to `name` in the harness directory and returns its path (for `-f`). */
  file(name: string, text: string): string;
  stop(): Promise<void>;
}

/** Commands that talk to the admin API get `--server`; the others run as given. */
const CLIENT_COMMANDS = new Set(['apply', 'get', 'delete', 'secret', 'route', 'inspect']);

export async function runCli(args: readonly string[], stdin = ''): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await main([...args], {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    stdin: Readable.from([Buffer.from(stdin)]),
  });
  return { code, stdout, stderr };
}

export async function startHarness(options: { configYaml?: string } = {}): Promise<Harness> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-cli-'));
  const dataDir = path.join(dir, 'data');
  const configDir = path.join(dir, 'config');
  fs.mkdirSync(configDir);
  const configFile = path.join(configDir, 'config.yaml');
  fs.writeFileSync(configFile, options.configYaml ?? '');
  const server = await startServer(
    { config: [configDir], dataDir, xdsAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', auth: 'none', xdsPlaintext: true },
    silentLogger(),
  );
  const url = server.adminUrl;
  const snapshotDataDir = (): Record<string, string> => {
    const out: Record<string, string> = {};
    const walk = (d: string): void => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const full = path.join(d, e.name);
        if (e.isDirectory()) walk(full);
        else out[path.relative(dataDir, full)] = fs.readFileSync(full, 'utf8');
      }
    };
    walk(dataDir);
    return out;
  };
  return {
    dir,
    dataDir,
    configFile,
    server,
    url,
    cli: (args, stdin) => {
      const [command] = args;
      return runCli(command !== undefined && CLIENT_COMMANDS.has(command) && !args.includes('--help') && !args.includes('--server') ? [...args, '--server', url] : args, stdin);
    },
    async writeConfig(yaml: string) {
      const before = server.config.loads;
      const tmp = path.join(configDir, '.config.yaml.tmp');
      fs.writeFileSync(tmp, yaml);
      fs.renameSync(tmp, configFile);
      // A load is followed synchronously by the merge of what it loaded.
      await waitFor('config reload', () => server.config.loads > before);
    },
    snapshotDataDir,
    file(name: string, text: string) {
      const file = path.join(dir, name);
      fs.writeFileSync(file, text);
      return file;
    },
    async stop() {
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A Gateway and a Service, so routes resolve. */
export const BASE_RESOURCES = `type: Gateway
name: edge
listeners:
- port: 8443
---
type: Service
name: shopping-cart
endpoints:
- address: 127.0.0.1
  port: 9001
`;
