/**
 * `npm run demo`: meshcp with real proxyless gRPC workloads (@grpc/grpc-js-xds), on a machine
 * without Docker or Envoy. It starts `meshcp serve` as a child process (the same code path a
 * user runs), starts xDS-enabled gRPC servers and an xDS client in this process, changes the
 * configuration while calls flow, prints what happens, and stops everything it started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { grpcBootstrap } from '../bootstrap/grpc.js';
import { callWho, freePort, startXdsEchoServer } from './echo.js';
import { CallLoop, waitUntil } from './calls.js';
import { demoConfig } from './config.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../cli/main.js');

let stepNumber = 0;
function step(text: string): void {
  stepNumber++;
  process.stdout.write(`\n[${stepNumber}] ${text}\n`);
}
function info(text: string): void {
  process.stdout.write(`    ${text}\n`);
}

async function startMeshcp(dir: string, xdsPort: number, adminPort: number): Promise<ChildProcess> {
  const logFile = fs.openSync(path.join(dir, 'meshcp.log'), 'a');
  const child = spawn(
    process.execPath,
    [CLI, 'serve', '--config', path.join(dir, 'config'), '--data-dir', path.join(dir, 'data'), '--xds-address', `127.0.0.1:${xdsPort}`, '--admin-address', `127.0.0.1:${adminPort}`, '--auth', 'none'],
    { stdio: ['ignore', logFile, logFile] },
  );
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`meshcp exited early with code ${code}; see ${dir}/meshcp.log`))));
  exited.catch(() => undefined);
  const health = new grpc.Client(`127.0.0.1:${xdsPort}`, grpc.credentials.createInsecure());
  try {
    await Promise.race([exited, waitUntil('meshcp to report SERVING on gRPC health', () => healthCheck(health), 20_000)]);
  } finally {
    health.close();
  }
  return child;
}

/** SIGTERM, then SIGKILL if meshcp has not exited within 10 s. */
function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function healthCheck(client: grpc.Client): Promise<boolean> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      '/grpc.health.v1.Health/Check',
      () => Buffer.alloc(0),
      (b: Buffer) => b,
      {},
      new grpc.Metadata(),
      { deadline: Date.now() + 1000 },
      // HealthCheckResponse{status: SERVING} is field 1 varint 1: bytes 08 01.
      (err, reply) => resolve(!err && reply !== undefined && reply.length === 2 && reply[0] === 0x08 && reply[1] === 0x01),
    );
  });
}

async function main(): Promise<void> {
  grpcXds.register();
  const started = Date.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-demo-'));
  const configDir = path.join(dir, 'config');
  fs.mkdirSync(configDir);
  const writeConfig = (backends: ReadonlyArray<{ name: string; port: number }>): void => {
    const file = path.join(configDir, 'mesh.yaml');
    fs.writeFileSync(`${file}.tmp`, demoConfig(backends));
    fs.renameSync(`${file}.tmp`, file);
  };
  const stops: Array<() => Promise<void> | void> = [];
  try {
    step('Start meshcp (xDS on 127.0.0.1, config watched from a directory, embedded store in a temp data dir)');
    const [xdsPort, adminPort, port1, port2] = [await freePort(), await freePort(), await freePort(), await freePort()];
    writeConfig([{ name: 'backend-1', port: port1 }]);
    const meshcp = await startMeshcp(dir, xdsPort, adminPort);
    stops.push(() => stopChild(meshcp));
    info(`meshcp is serving xDS on 127.0.0.1:${xdsPort} (logs: ${dir}/meshcp.log)`);

    step('Start backend-1, an xDS-enabled gRPC server: it serves once meshcp sends its Listener');
    const xdsAddress = `127.0.0.1:${xdsPort}`;
    const backend1 = await startXdsEchoServer('backend-1', port1, grpcBootstrap({ name: 'backend-1', mesh: 'default', xdsAddress }));
    stops.push(backend1.stop);
    info(`backend-1 is serving on 127.0.0.1:${port1}`);

    step('web, a proxyless gRPC client, calls xds:///backend');
    const client = new grpc.Client('xds:///backend', grpc.credentials.createInsecure(), {
      'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config': JSON.stringify(grpcBootstrap({ name: 'web', mesh: 'default', xdsAddress })),
    });
    stops.push(() => client.close());
    const first = await waitUntil('a first answer', () => callWho(client).then((r) => r, () => undefined), 20_000);
    info(`answered by ${first.server}`);
    const loop = new CallLoop(client);
    loop.start();
    stops.push(() => loop.stop());

    step('Add backend-2 to the mesh while calls flow');
    // The Dataplane comes first: an xDS-enabled server starts serving only once meshcp sends its Listener.
    writeConfig([{ name: 'backend-1', port: port1 }, { name: 'backend-2', port: port2 }]);
    const backend2 = await startXdsEchoServer('backend-2', port2, grpcBootstrap({ name: 'backend-2', mesh: 'default', xdsAddress }));
    stops.push(backend2.stop);
    await waitUntil('answers from backend-2', () => loop.countSince(0, 'backend-2') > 0, 20_000);
    const mark = loop.total();
    await waitUntil('40 more calls', () => loop.total() >= mark + 40, 20_000);
    info(`of the next 40 calls: backend-1 answered ${loop.countIn(mark, 40, 'backend-1')}, backend-2 ${loop.countIn(mark, 40, 'backend-2')}`);

    step('Remove backend-1 from the mesh while calls flow');
    writeConfig([{ name: 'backend-2', port: port2 }]);
    await waitUntil('40 consecutive answers from backend-2', () => loop.lastAllFrom(40, 'backend-2'), 20_000).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; last answers ${loop.answers.slice(-10).join(',')}; failures ${loop.failures.slice(-3).join(' | ')}`);
    });
    const backend1Calls = backend1.calls();
    const mark2 = loop.total();
    await waitUntil('40 more calls', () => loop.total() >= mark2 + 40, 20_000);
    info(`after removal: backend-1 got ${backend1.calls() - backend1Calls} new calls, backend-2 answered ${loop.countIn(mark2, 40, 'backend-2')} of the next 40`);

    await loop.stop();
    step(`Summary: ${loop.total()} calls, ${loop.failures.length} failed`);
    if (loop.failures.length > 0) throw new Error(`calls failed: ${loop.failures.slice(0, 3).join('; ')}`);
    info(`done in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  } catch (err) {
    process.stderr.write(`demo failed: ${(err as Error).message}\n`);
    process.exitCode = 1;
  } finally {
    for (const stop of stops.reverse()) await stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    process.stderr.write(`demo failed: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
