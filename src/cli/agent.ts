/**
 * `meshcp agent --name N [--mesh M] --token-file F --cert-dir DIR [--xds-address A]` (SPEC §3):
 * keeps DIR/cert.pem, DIR/key.pem and DIR/ca.pem current for a proxyless gRPC app (agent/agent.ts).
 * Runs until SIGINT or SIGTERM; exits non-zero at once when meshcp refuses the token.
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import { startAgent } from '../agent/agent.js';
import { createLogger } from '../runtime/logger.js';

interface AgentFlags {
  name: string;
  mesh: string;
  tokenFile: string;
  certDir: string;
  xdsAddress: string;
}

function readTokenFile(file: string): string {
  let token: string;
  try {
    token = fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new Error(`--token-file: cannot read "${file}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (token === '') throw new Error(`--token-file: "${file}" is empty (meshcp token generate --name NAME > ${file})`);
  return token;
}

export function registerAgent(program: Command): void {
  program
    .command('agent')
    .description('Keep the mesh identity files of a proxyless gRPC app current (cert.pem, key.pem, ca.pem for its file_watcher certificate provider)')
    .requiredOption('--name <name>', 'proxy name: the Dataplane name the app uses as its node id')
    .option('-m, --mesh <mesh>', 'mesh', 'default')
    .requiredOption('--token-file <file>', 'file holding the dataplane token for --name (meshcp token generate)')
    .requiredOption('--cert-dir <dir>', 'where to write cert.pem, key.pem (0600) and ca.pem: the --cert-dir of `meshcp bootstrap grpc`')
    .option('--xds-address <host:port>', 'meshcp xDS address', '127.0.0.1:5678')
    .action(async (flags: AgentFlags) => {
      const token = readTokenFile(flags.tokenFile);
      const log = createLogger().child({ component: 'agent' });
      const agent = startAgent({ name: flags.name, mesh: flags.mesh, token, certDir: flags.certDir, xdsAddress: flags.xdsAddress, log });
      const stop = (): void => {
        log.info({}, 'stopping');
        agent.stop();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        await agent.done;
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });
}
