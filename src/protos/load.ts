/**
 * Locates and loads the Envoy / xDS / googleapis / protoc-gen-validate protos from the
 * pinned npm dependency `@grpc/grpc-js-xds` (its `deps/` folder). Nothing upstream is
 * copied into this repository; see protos/README.md.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);

/** The include directories, in lookup order. */
export function protoIncludeDirs(): string[] {
  const xdsPkg = path.dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
  const protobufjsPkg = path.dirname(require.resolve('protobufjs/package.json'));
  const deps = path.join(xdsPkg, 'deps');
  return [
    path.join(deps, 'envoy-api'),
    path.join(deps, 'xds'),
    path.join(deps, 'googleapis'),
    path.join(deps, 'protoc-gen-validate'),
    // google/protobuf/descriptor.proto (needed by the option extensions) ships with protobufjs.
    protobufjsPkg,
  ];
}

/** Every proto file meshcp encodes, decodes or validates. Dependencies are pulled in by import. */
export const ENVOY_PROTO_FILES = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/discovery/v3/discovery.proto',
  'envoy/service/listener/v3/lds.proto',
  'envoy/service/route/v3/rds.proto',
  'envoy/service/cluster/v3/cds.proto',
  'envoy/service/endpoint/v3/eds.proto',
  'envoy/service/secret/v3/sds.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/config/rbac/v3/rbac.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/network/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/cors/v3/cors.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/type/matcher/v3/string.proto',
  // Typed inputs for the gateway's subject-matching RBAC matcher (src/generate/GATEWAY_DESIGN.md).
  'envoy/extensions/matching/common_inputs/ssl/v3/ssl_inputs.proto',
];

/**
 * The Envoy protos of the process: the root, loaded on first use, and its types by full name.
 *
 * One per process, on purpose: the protos are files of a pinned dependency, the same for every
 * control plane, and a resolved root and its types are never changed once loaded, so sharing them
 * shares nothing that could differ. The types table is bounded by the root: only names it holds
 * are kept (a lookup of any other throws).
 */
class EnvoyProtos {
  private loaded: protobuf.Root | undefined;
  private readonly types = new Map<string, protobuf.Type>();

  get root(): protobuf.Root {
    this.loaded ??= loadEnvoyRoot();
    return this.loaded;
  }

  /** protobufjs walks the namespace tree on every lookup, and the xDS codec looks up a type per message (a profiled hot path). */
  type(fullName: string): protobuf.Type {
    let type = this.types.get(fullName);
    if (!type) {
      type = this.root.lookupType(fullName);
      this.types.set(fullName, type);
    }
    return type;
  }
}

const PROTOS = new EnvoyProtos();

function loadEnvoyRoot(): protobuf.Root {
  const dirs = protoIncludeDirs();
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string): string | null => {
    if (path.isAbsolute(target)) return target;
    for (const dir of dirs) {
      const candidate = path.join(dir, target);
      if (fs.existsSync(candidate)) return candidate;
    }
    return null;
  };
  root.loadSync(ENVOY_PROTO_FILES, { keepCase: true });
  root.resolveAll();
  return root;
}

/** The shared, fully resolved Envoy proto root (field names kept in snake_case). */
export function envoyRoot(): protobuf.Root {
  return PROTOS.root;
}

/** The type `fullName` of the Envoy root, looked up once. */
export function lookupType(fullName: string): protobuf.Type {
  return PROTOS.type(fullName);
}
