/**
 * The demo workload: a tiny unary gRPC service whose `Who` answers with the server's name and
 * the caller's identity (URI SANs of the peer certificate). Used by `npm run demo`, the
 * by-hand proxyless example and the real-peer tests.
 */
import * as grpc from '@grpc/grpc-js';

export const WHO_PATH = '/meshcp.test.Echo/Who';

export interface WhoReply {
  server: string;
  /** URI SANs of the peer certificate, when the call came over mTLS. */
  peerUris: string[];
}

const encode = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const decode = <T>(bytes: Buffer): T => JSON.parse(bytes.toString('utf8')) as T;

export const echoServiceDefinition: grpc.ServiceDefinition = {
  Who: {
    path: WHO_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: encode,
    requestDeserialize: (b: Buffer) => decode<Record<string, never>>(b),
    responseSerialize: encode,
    responseDeserialize: (b: Buffer) => decode<WhoReply>(b),
  },
};

export function echoImplementation(name: string, onCall?: () => void): grpc.UntypedServiceImplementation {
  return {
    Who: (call: grpc.ServerUnaryCall<unknown, WhoReply>, callback: grpc.sendUnaryData<WhoReply>) => {
      onCall?.();
      const peerUris: string[] = [];
      const cert = call.getAuthContext?.()?.sslPeerCertificate;
      const san = cert?.subjectaltname ?? '';
      for (const part of san.split(', ')) if (part.startsWith('URI:')) peerUris.push(part.slice(4));
      callback(null, { server: name, peerUris });
    },
  };
}

/** A plain (non-xDS) gRPC echo server on 127.0.0.1. */
export async function startEchoServer(name: string): Promise<{ port: number; calls: () => number; stop: () => Promise<void> }> {
  let calls = 0;
  const server = new grpc.Server();
  server.addService(echoServiceDefinition, echoImplementation(name, () => calls++));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    port,
    calls: () => calls,
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

export function callWho(client: grpc.Client, deadlineMs = 5000): Promise<WhoReply> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest<Record<string, never>, WhoReply>(
      WHO_PATH,
      encode,
      (b: Buffer) => decode<WhoReply>(b),
      {},
      new grpc.Metadata(),
      { deadline: Date.now() + deadlineMs },
      (err, reply) => (err || !reply ? reject(err ?? new Error('empty reply')) : resolve(reply)),
    );
  });
}

/** A free TCP port on 127.0.0.1 (xDS-enabled servers must bind a concrete port: their Listener is named after it). */
export async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/**
 * An xDS-enabled gRPC server (grpc-js-xds `XdsServer`): it asks meshcp for its Listener by
 * `server_listener_resource_name_template` and only starts serving once it has one.
 */
export async function startXdsEchoServer(
  name: string,
  port: number,
  bootstrap: Record<string, unknown>,
  credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure(),
): Promise<{ port: number; calls: () => number; stop: () => Promise<void> }> {
  const grpcXds = await import('@grpc/grpc-js-xds');
  let calls = 0;
  const server = new grpcXds.XdsServer({ 'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config': JSON.stringify(bootstrap) });
  server.addService(echoServiceDefinition, echoImplementation(name, () => calls++));
  await new Promise<void>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, credentials, (err) => (err ? reject(err) : resolve())));
  return {
    port,
    calls: () => calls,
    stop: () => {
      // A graceful XdsServer shutdown drains for up to 10 minutes; the demo and tests stop at once.
      server.forceShutdown();
      return Promise.resolve();
    },
  };
}
