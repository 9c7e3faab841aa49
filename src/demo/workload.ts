/**
 * A proxyless gRPC workload for trying meshcp by hand (README "Proxyless gRPC by hand").
 * It reads its xDS bootstrap from GRPC_XDS_BOOTSTRAP, as any grpc-js-xds application does.
 *
 *   node dist/src/demo/workload.js server --name backend-1 --port 50051
 *   node dist/src/demo/workload.js client --target xds:///backend --count 10
 */
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { Command } from 'commander';
import { callWho, echoImplementation, echoServiceDefinition } from './echo.js';

function requireBootstrap(): void {
  if (!process.env['GRPC_XDS_BOOTSTRAP']) throw new Error('set GRPC_XDS_BOOTSTRAP to a file written by `meshcp bootstrap grpc`');
  // Registers the xds: resolver and the HTTP filters (router, RBAC) servers and clients need.
  grpcXds.register();
}

const program = new Command('workload').description('a proxyless gRPC echo workload for meshcp');
program
  .command('server')
  .description('an xDS-enabled gRPC server: it serves once meshcp sends its Listener')
  .requiredOption('--name <name>', 'the name it answers with')
  .requiredOption('--port <port>', 'port on 127.0.0.1 (the Dataplane inbound port)')
  .option('--address <ip>', 'address to bind', '127.0.0.1')
  .action(async (o: { name: string; port: string; address: string }) => {
    requireBootstrap();
    const server = new grpcXds.XdsServer();
    server.addService(echoServiceDefinition, echoImplementation(o.name));
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`${o.address}:${o.port}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
    );
    process.stdout.write(`${o.name} serving on ${o.address}:${o.port} (Listener received from meshcp)\n`);
    process.once('SIGINT', () => {
      server.forceShutdown();
      process.exit(0);
    });
  });
program
  .command('client')
  .description('calls Who on an xds:/// target and prints who answered')
  .option('--target <target>', 'xDS target', 'xds:///backend')
  .option('--count <n>', 'number of calls', '10')
  .action(async (o: { target: string; count: string }) => {
    requireBootstrap();
    const client = new grpc.Client(o.target, grpc.credentials.createInsecure());
    for (let i = 0; i < Number(o.count); i++) {
      const reply = await callWho(client, 10_000);
      process.stdout.write(`call ${i + 1}: answered by ${reply.server}\n`);
    }
    client.close();
    process.exit(0);
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`Error: ${(err as Error).message}\n`);
  process.exit(1);
});
