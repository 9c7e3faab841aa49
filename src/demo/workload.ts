/**
 * The example proxyless gRPC workload of `meshcp demo workload server|client` (getting-started
 * "Proxyless gRPC by hand"). It reads its xDS bootstrap from GRPC_XDS_BOOTSTRAP, as any
 * grpc-js-xds application does, and uses xDS credentials: under mesh mTLS the TLS contexts meshcp
 * sends (certificate_provider_instance, the files `meshcp agent` keeps current) are used, and the
 * server's RBAC filter sees the caller's SPIFFE identity. With plain insecure credentials the
 * server would see no identity and every call would be PERMISSION_DENIED; without mTLS in the
 * mesh the xDS credentials fall back to plaintext.
 */
import * as grpc from '@grpc/grpc-js';
import { callWho, echoImplementation, echoServiceDefinition } from './echo.js';

type GrpcXds = typeof import('@grpc/grpc-js-xds');

async function loadXds(): Promise<GrpcXds> {
  if (!process.env['GRPC_XDS_BOOTSTRAP']) throw new Error('set GRPC_XDS_BOOTSTRAP to a file written by `meshcp bootstrap grpc`');
  // grpc-js-xds registers its RBAC filter (TrafficPermissions) only when this is set before it loads.
  process.env['GRPC_XDS_EXPERIMENTAL_RBAC'] ??= 'true';
  const grpcXds = await import('@grpc/grpc-js-xds');
  // Registers the xds: resolver and the HTTP filters (router, RBAC) servers and clients need.
  grpcXds.register();
  return grpcXds;
}

export interface WorkloadServerOptions {
  readonly name: string;
  readonly port: string;
  readonly address: string;
}

/** An xDS-enabled gRPC server: it serves once meshcp sends its Listener, until SIGINT or SIGTERM. */
export async function runWorkloadServer(o: WorkloadServerOptions, out: (line: string) => void): Promise<void> {
  const grpcXds = await loadXds();
  const server = new grpcXds.XdsServer();
  server.addService(echoServiceDefinition, echoImplementation(o.name));
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`${o.address}:${o.port}`, new grpcXds.XdsServerCredentials(grpc.ServerCredentials.createInsecure()), (err) => (err ? reject(err) : resolve())),
  );
  out(`${o.name} serving on ${o.address}:${o.port} (Listener received from meshcp)`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      server.forceShutdown();
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

export interface WorkloadClientOptions {
  readonly target: string;
  readonly count: string;
}

const DENIED_HINT =
  'the server refused this caller. With mesh mTLS on, a call needs a TrafficPermission from its service to the server\'s (`meshcp get trafficpermissions`), and both apps need xDS credentials (XdsServerCredentials / XdsChannelCredentials), or the server sees no identity: see docs/troubleshooting.md';

/** Calls Who on an xds:/// target `count` times and prints who answered and as whom it saw the caller. */
export async function runWorkloadClient(o: WorkloadClientOptions, out: (line: string) => void): Promise<void> {
  const grpcXds = await loadXds();
  const client = new grpc.Client(o.target, new grpcXds.XdsChannelCredentials(grpc.credentials.createInsecure()));
  try {
    for (let i = 0; i < Number(o.count); i++) {
      try {
        const reply = await callWho(client, 10_000);
        out(`call ${i + 1}: answered by ${reply.server}${reply.peerUris.length > 0 ? `, which saw the caller as ${reply.peerUris.join(', ')}` : ' (plaintext: no mesh mTLS)'}`);
      } catch (err) {
        const e = err as grpc.ServiceError;
        if (e.code === grpc.status.PERMISSION_DENIED) throw new Error(`call ${i + 1}: PERMISSION_DENIED (${e.details}): ${DENIED_HINT}`);
        throw new Error(`call ${i + 1}: ${grpc.status[e.code] ?? e.code}: ${e.details ?? e.message}`);
      }
    }
  } finally {
    client.close();
  }
}
