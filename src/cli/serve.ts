import type { Command } from 'commander';
import { FileConfigSource } from '../runtime/config-state.js';
import { ControlPlane } from '../runtime/control-plane.js';
import { createLogger } from '../runtime/logger.js';

interface ServeOptions {
  config: string[];
  dataDir: string;
  xdsAddress: string;
  adminAddress: string;
  auth: string;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('Run the control plane: load and watch resources, serve xDS (ADS and per-type, SotW and Delta)')
    .option('--config <path>', 'resource file or directory (repeatable); watched and hot-reloaded', (v: string, acc: string[]) => [...acc, v], [])
    .option('--data-dir <dir>', 'embedded store directory', './.meshcp')
    .option('--xds-address <host:port>', 'xDS gRPC listen address', '0.0.0.0:5678')
    .option('--admin-address <host:port>', 'admin HTTP listen address', '127.0.0.1:5681')
    .option('--auth <mode>', 'proxy authentication: token | none', 'token')
    .action(async (options: ServeOptions) => {
      const log = createLogger();
      if (options.auth !== 'token' && options.auth !== 'none') throw new Error(`--auth must be "token" or "none", not "${options.auth}"`);
      const config = new FileConfigSource(options.config, log.child({ component: 'config' }));
      await config.start();
      const controlPlane = new ControlPlane({ resources: config.resources, log });
      const port = await controlPlane.listen(options.xdsAddress);
      log.info({ xds: options.xdsAddress.replace(/:\d+$/, `:${port}`) }, 'meshcp is serving xDS');
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          log.info('shutting down');
          config.stop();
          controlPlane.close().then(resolve, resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
