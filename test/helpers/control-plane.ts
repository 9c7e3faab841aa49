/** Starts a real meshcp control plane (file config source + xDS server) on 127.0.0.1 for tests. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileConfigSource } from '../../src/sources/config-files.js';
import { ControlPlane } from '../../src/runtime/control-plane.js';
import { silentLogger } from '../../src/log/logger.js';
import { changesOfLists } from './list-changes.js';

export interface TestControlPlane {
  dir: string;
  configFile: string;
  port: number;
  address: string;
  controlPlane: ControlPlane;
  config: FileConfigSource;
  /** Rewrites the watched config file atomically and waits until meshcp has loaded it. */
  writeConfig(yaml: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startControlPlane(initialYaml: string): Promise<TestControlPlane> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-test-'));
  const configFile = path.join(dir, 'config.yaml');
  fs.writeFileSync(configFile, initialYaml);
  const log = silentLogger();
  const config = new FileConfigSource([configFile], log);
  await config.start();
  const controlPlane = new ControlPlane({ changes: changesOfLists(config.resources), log });
  const port = await controlPlane.listen('127.0.0.1:0');
  return {
    dir,
    configFile,
    port,
    address: `127.0.0.1:${port}`,
    controlPlane,
    config,
    async writeConfig(yaml: string) {
      const before = config.loads;
      const tmp = `${configFile}.tmp`;
      fs.writeFileSync(tmp, yaml);
      fs.renameSync(tmp, configFile);
      const deadline = Date.now() + 20_000;
      while (config.loads === before) {
        if (Date.now() > deadline) throw new Error('config reload not observed');
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop() {
      config.stop();
      await controlPlane.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
