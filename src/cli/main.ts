#!/usr/bin/env node
/** meshcp: one file per command; each registers itself on the root program. */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { registerAgent } from './agent.js';
import { registerBootstrap } from './bootstrap.js';
import { registerCa } from './ca.js';
import { registerCert } from './cert.js';
import { registerCertCheck } from './cert-check.js';
import { registerInspect } from './inspect.js';
import { CliError, processIo, type CliIo } from './output.js';
import { registerResources } from './resources.js';
import { registerRoute } from './route.js';
import { registerSecret } from './secret.js';
import { registerServe } from './serve.js';
import { registerToken } from './token.js';
import { registerValidate } from './validate.js';

export function buildProgram(io: CliIo = processIo()): Command {
  const program = new Command('meshcp')
    .description('An Envoy xDS control plane: edge routes with client certificates, mesh mTLS, traffic permissions')
    .version('0.1.0')
    // Errors are one line on stderr (SPEC §3); `--help` shows usage.
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
      // Commander puts "(Did you mean …?)" on a second line.
      outputError: (s, write) => write(`${s.trimEnd().replace(/\s*\n\s*/g, ' ')}\n`),
    })
    .exitOverride();
  registerServe(program);
  registerResources(program, io);
  registerSecret(program, io);
  registerRoute(program, io);
  registerBootstrap(program, io);
  registerCa(program);
  registerCert(program);
  registerCertCheck(program, io);
  registerInspect(program, io);
  registerToken(program);
  registerAgent(program);
  registerValidate(program, io);
  return program;
}

export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    const lines = err instanceof CliError ? err.lines : [(err as Error).message];
    for (const line of lines) io.stderr.write(`Error: ${line}\n`);
    return 1;
  }
}

/**
 * Run when this module is the process entry point. `process.argv[1]` is often a symlink
 * (`node_modules/.bin/meshcp`, `npm i -g`, `npm link`), so compare real paths, not file names.
 */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

const invokedDirectly = isEntryPoint();
if (invokedDirectly) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code !== 0) process.exit(code);
    },
    (err: unknown) => {
      process.stderr.write(`Error: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
