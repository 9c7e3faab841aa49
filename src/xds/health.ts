/**
 * gRPC health (grpc.health.v1.Health) for the xDS port, which anyone who reaches it may call.
 *
 * Only a fixed set of service names has a status, set by the server; a request for any other
 * name is answered (NOT_FOUND, or SERVICE_UNKNOWN on a Watch) and nothing is kept about it. A
 * watch is forgotten when its call ends. Requests are bounded before they are decoded.
 * grpc-health-check's implementation kept a map entry for every distinct name a caller sent, for
 * ever, which an unauthenticated caller could grow until the process ran out of memory. Its proto
 * file (the health protocol's own) is used here.
 */
import path from 'node:path';
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);

/** A HealthCheckRequest is one service name; the longest known one is about 60 bytes. */
const MAX_REQUEST_BYTES = 1024;

type ServingStatus = 'SERVING' | 'NOT_SERVING';

interface HealthTypes {
  readonly request: protobuf.Type;
  readonly response: protobuf.Type;
  readonly listResponse: protobuf.Type;
}

function loadTypes(): HealthTypes {
  const dir = path.dirname(require.resolve('grpc-health-check/package.json'));
  const root = protobuf.loadSync(path.join(dir, 'proto', 'health', 'v1', 'health.proto'));
  return {
    request: root.lookupType('grpc.health.v1.HealthCheckRequest'),
    response: root.lookupType('grpc.health.v1.HealthCheckResponse'),
    listResponse: root.lookupType('grpc.health.v1.HealthListResponse'),
  };
}

const raw = (bytes: Buffer): Buffer => bytes;

export class HealthService {
  private readonly statuses: Map<string, ServingStatus>;
  /** Open Watch calls of known names; a call is removed when it ends. */
  private readonly watchers = new Map<string, Set<grpc.ServerDuplexStream<Buffer, Buffer>>>();
  /** Open Watch calls of unknown names: nothing is kept about the name, only the call until it ends. */
  private readonly unknownWatchers = new Set<grpc.ServerDuplexStream<Buffer, Buffer>>();
  private types: HealthTypes | undefined = undefined;

  constructor(services: readonly string[]) {
    this.statuses = new Map(services.map((s) => [s, 'NOT_SERVING']));
    for (const service of services) this.watchers.set(service, new Set());
  }

  /** Open watches, and the names the service keeps state for (always the known ones), for bounds checks. */
  get sizes(): { readonly watches: number; readonly names: number } {
    let watches = this.unknownWatchers.size;
    for (const set of this.watchers.values()) watches += set.size;
    return { watches, names: this.watchers.size };
  }

  setStatus(service: string, status: ServingStatus): void {
    if (!this.statuses.has(service) || this.statuses.get(service) === status) return;
    this.statuses.set(service, status);
    const message = this.encodeStatus(status);
    for (const call of this.watchers.get(service) ?? []) call.write(message);
  }

  addToServer(server: grpc.Server): void {
    const method = (name: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> => ({
      path: `/grpc.health.v1.Health/${name}`,
      requestStream,
      responseStream,
      requestSerialize: raw,
      requestDeserialize: raw,
      responseSerialize: raw,
      responseDeserialize: raw,
    });
    server.addService(
      // Watch is served as a bidirectional call (the same on the wire): its handler runs when the
      // call starts, so it hears every way the call can end. As a server-streaming handler it ran
      // at the half-close even after grpc-js had ended the call (a second request message), and
      // the watch was never released.
      { Check: method('Check', false, false), Watch: method('Watch', true, true), List: method('List', false, false) },
      {
        Check: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
          const service = this.serviceOf(call.request);
          if (typeof service !== 'string') return callback(service);
          const status = this.statuses.get(service);
          if (status === undefined) return callback({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
          callback(null, this.encodeStatus(status));
        },
        Watch: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => this.watch(call),
        List: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
          const statuses = Object.fromEntries([...this.statuses].map(([s, status]) => [s, { status }]));
          const type = this.loaded().listResponse;
          callback(null, Buffer.from(type.encode(type.fromObject({ statuses })).finish()));
        },
      },
    );
  }

  /** Ends every watch (server shutdown). */
  close(): void {
    for (const call of [...this.unknownWatchers, ...[...this.watchers.values()].flatMap((s) => [...s])]) call.end();
  }

  private watch(call: grpc.ServerDuplexStream<Buffer, Buffer>): void {
    let set: Set<grpc.ServerDuplexStream<Buffer, Buffer>> | undefined;
    let ended = false;
    const forget = (): void => {
      ended = true;
      set?.delete(call);
    };
    const fail = (error: grpc.ServiceError): void => {
      if (ended) return;
      forget();
      call.emit('error', error);
    };
    call.on('cancelled', forget);
    call.on('close', forget);
    call.on('finish', forget);
    call.on('error', forget);
    call.on('data', (bytes: Buffer) => {
      if (ended) return;
      if (set !== undefined) return fail(serviceError(grpc.status.INVALID_ARGUMENT, 'a health watch takes one request'));
      const service = this.serviceOf(bytes);
      if (typeof service !== 'string') return fail(service);
      // An unknown name is answered and the call kept open, as the protocol says; its name is not kept.
      set = this.watchers.get(service) ?? this.unknownWatchers;
      set.add(call);
      call.write(this.encodeStatus(this.statuses.get(service) ?? 'SERVICE_UNKNOWN'));
    });
    call.on('end', () => {
      if (set === undefined) fail(serviceError(grpc.status.INVALID_ARGUMENT, 'a health watch needs a request'));
    });
  }

  /** The requested service name, or the error to end the call with. */
  private serviceOf(bytes: Buffer): string | grpc.ServiceError {
    if (bytes.length > MAX_REQUEST_BYTES) return serviceError(grpc.status.INVALID_ARGUMENT, `a health request is at most ${MAX_REQUEST_BYTES} bytes`);
    try {
      const service = (this.loaded().request.decode(bytes) as unknown as { service?: unknown }).service;
      return typeof service === 'string' ? service : '';
    } catch {
      return serviceError(grpc.status.INVALID_ARGUMENT, 'not a HealthCheckRequest');
    }
  }

  private encodeStatus(status: ServingStatus | 'SERVICE_UNKNOWN'): Buffer {
    const type = this.loaded().response;
    return Buffer.from(type.encode(type.fromObject({ status })).finish());
  }

  private loaded(): HealthTypes {
    return (this.types ??= loadTypes());
  }
}

function serviceError(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
}
