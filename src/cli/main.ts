#!/usr/bin/env node
/** meshcp: one file per command; each registers itself on the root program. */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { CommanderError, Option, type Command } from 'commander';
import { configureLogging, createLogger, LOG_FORMATS, LOG_LEVELS, parseLogFormat, parseLogLevel, type Logger } from '../log/logger.js';
import { registerAgent } from './agent.js';
import { registerBootstrap } from './bootstrap.js';
import { registerCa } from './ca.js';
import { registerCert } from './cert.js';
import { registerCertCheck } from './cert-check.js';
import { registerCompletion } from './completion.js';
import { registerDemo } from './demo.js';
import { describeSystemError } from './flag-errors.js';
import { addExamples } from './help-examples.js';
import { registerInspect } from './inspect.js';
import { CliError, processIo, type CliIo } from './output.js';
import { registerResources } from './resources.js';
import { registerRoute } from './route.js';
import { registerSecret } from './secret.js';
import { registerServe } from './serve.js';
import { MeshcpCommand } from './spelling-hints.js';
import { registerToken } from './token.js';
import { registerValidate } from './validate.js';
import { meshcpVersion } from './version.js';

/**
 * grpc-js prints its own lines on stderr ("E No address added out of total 1 resolved") before
 * the error reaches us; the command reports the failure in the user's terms, so grpc-js's text goes
 * to the log at debug level instead.
 */
function routeGrpcLogs(): void {
  let log: Logger | undefined;
  grpc.setLogger({
    error: (...args: unknown[]) => {
      log ??= createLogger().child({ component: 'grpc-js' });
      log.debug(args.map(String).join(' '));
    },
  });
}

interface GlobalOptions {
  logLevel?: string;
  logFormat?: string;
}

export function buildProgram(io: CliIo = processIo()): Command {
  const program = new MeshcpCommand('meshcp')
    .description('An Envoy xDS control plane: edge routes with client certificates, mesh mTLS, traffic permissions')
    .version(meshcpVersion())
    // Global: accepted before or after the command name (`meshcp serve --log-level debug`).
    .addOption(new Option('--log-level <level>', 'log level (env MESHCP_LOG_LEVEL)').choices(LOG_LEVELS))
    .addOption(new Option('--log-format <format>', 'log format; default pretty on a terminal, else JSON (env MESHCP_LOG_FORMAT)').choices(LOG_FORMATS))
    // Errors are one line on stderr (SPEC §3); `--help` shows usage.
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
      // Commander puts "(Did you mean …?)" on a second line.
      outputError: (s, write) => write(`${s.trimEnd().replace(/\s*\n\s*/g, ' ')}\n`),
    })
    .exitOverride();
  program.hook('preAction', () => {
    const { logLevel, logFormat } = program.opts<GlobalOptions>();
    configureLogging({
      ...(logLevel !== undefined ? { level: parseLogLevel(logLevel) } : {}),
      ...(logFormat !== undefined ? { format: parseLogFormat(logFormat) } : {}),
    });
    routeGrpcLogs();
  });
  registerServe(program);
  registerResources(program, io);
  registerSecret(program, io);
  registerRoute(program, io);
  registerBootstrap(program, io);
  registerCa(program);
  registerCert(program);
  registerCertCheck(program, io);
  registerInspect(program, io);
  registerToken(program, io);
  registerAgent(program);
  registerValidate(program, io);
  registerDemo(program, io);
  program
    .command('version')
    .description('Print the meshcp version')
    .action(() => void io.stdout.write(`meshcp ${meshcpVersion()}\n`));
  registerCompletion(program, io);
  addExamples(program);
  return program;
}

export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    const lines = err instanceof CliError ? err.lines : [describeSystemError(err) ?? (err as Error).message];
    for (const line of lines) io.stderr.write(`Error: ${line}\n`);
    return 1;
  } finally {
    configureLogging({});
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
  // `meshcp get routes | head`: a reader that closes the pipe early is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
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
