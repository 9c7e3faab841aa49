#!/usr/bin/env node
/** meshcp: one file per command; each registers itself on the root program. */
import { Command, CommanderError } from 'commander';
import { registerServe } from './serve.js';
import { registerBootstrap } from './bootstrap.js';

export function buildProgram(): Command {
  const program = new Command('meshcp')
    .description('An Envoy xDS control plane: edge routes with client certificates, mesh mTLS, traffic permissions')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();
  registerServe(program);
  registerBootstrap(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    process.stderr.write(`Error: ${(err as Error).message}\n`);
    return 1;
  }
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/').split('/').pop() ?? '');
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
