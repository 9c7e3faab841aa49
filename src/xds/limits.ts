/**
 * What one caller of the xDS port may cost the control plane, before and after it authenticates.
 * `meshcp serve` has a flag for each (cli/serve.ts); docs/security.md lists them with their
 * defaults and where each default comes from.
 *
 * The port is open to anyone who can reach it (0.0.0.0:5678 by default), and a caller proves who
 * it is only with the node of its first request. So everything a caller can make the server hold
 * before that is bounded: streams per connection, message size, how long a stream may stay
 * silent, what of a request is decoded.
 */
import { protoNameOf } from '../snapshot/types.js';

export interface XdsLimits {
  /**
   * The largest message any caller may send (grpc-js `grpc.max_receive_message_length`, checked on
   * the length prefix before the message is buffered). The gRPC default, which Istio keeps
   * (ISTIO_GPRC_MAXRECVMSGSIZE): room for a SotW request at `maxNamesPerType` names of 253 characters.
   */
  readonly maxMessageBytes: number;
  /**
   * The largest `node` the first request of a stream (or a Fetch) may carry. Before a stream has
   * authenticated only its node is read from the raw bytes; the rest of the request is decoded
   * once the node was accepted. Envoy 1.40's node (its extension list included) is about 60 KB.
   */
  readonly maxNodeBytes: number;
  /** A stream that sends no request within this time is closed (DEADLINE_EXCEEDED). */
  readonly firstRequestTimeoutMs: number;
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS (`grpc.max_concurrent_streams`): streams open at once on one connection. */
  readonly maxStreamsPerConnection: number;
  /**
   * nghttp2's memory per connection, in MiB (`grpc-node.max_session_memory`): stream state, header
   * tables and frames not yet on the socket. Past it the connection refuses new streams
   * (RESOURCE_EXHAUSTED) until it drops; its open streams go on.
   */
  readonly maxSessionMemoryMiB: number;
  /** A connection with no stream for this long is closed with a GOAWAY (`grpc.max_connection_idle_ms`). */
  readonly connectionIdleMs: number;
  /**
   * A connection older than this (±10 % jitter, grpc-js) gets a GOAWAY (`grpc.max_connection_age_ms`):
   * proxies then reconnect, spreading over the replicas again after one restarted. 0: no limit.
   */
  readonly maxConnectionAgeMs: number;
  /** After the age GOAWAY, how long open streams may go on before the connection is cut (`grpc.max_connection_age_grace_ms`). */
  readonly maxConnectionAgeGraceMs: number;
  /** Authenticated streams one proxy (mesh, name) may hold open at once. */
  readonly maxStreamsPerProxy: number;
  /** Resource names one stream may subscribe to, per type (the wildcard aside). */
  readonly maxNamesPerType: number;
}

const MIB = 1024 * 1024;

export const DEFAULT_XDS_LIMITS: XdsLimits = Object.freeze({
  maxMessageBytes: 4 * MIB,
  maxNodeBytes: 256 * 1024,
  firstRequestTimeoutMs: 10_000,
  maxStreamsPerConnection: 100,
  maxSessionMemoryMiB: 32,
  connectionIdleMs: 5 * 60_000,
  maxConnectionAgeMs: 30 * 60_000,
  maxConnectionAgeGraceMs: 10_000,
  maxStreamsPerProxy: 32,
  maxNamesPerType: 10_000,
});

/** Longest resource name a request may carry: meshcp's longest (`issued:<mesh>:<host>`) is about 520. */
export const MAX_RESOURCE_NAME_LENGTH = 1024;

/**
 * Names that a SotW response answers although the snapshot does not have them (an empty
 * ClusterLoadAssignment per unknown EDS name, so Envoy does not wait for it), per type and stream:
 * a legitimate proxy asks only for names meshcp gave it, so only a transition leaves a few unknown.
 */
export const MAX_ABSENT_ANSWERS = 1024;

/** Per proxy: NACK and unknown-type log lines allowed per window, the rest counted and reported with the next line. */
export const PROXY_LOG_BURST = 10;
export const PROXY_LOG_WINDOW_MS = 60_000;
/** Proxy-sent text (a NACK's error_detail, an unknown type URL) in a log line: escaped and cut to this length. */
export const MAX_LOGGED_PROXY_TEXT = 512;

/** What of a request adds names to a stream's subscription of a type. */
interface NamesRequested {
  readonly resourceNames: readonly string[];
  readonly subscribe: readonly string[];
  readonly initialVersions: Readonly<Record<string, string>>;
}

/**
 * Why a request exceeds the names one stream may subscribe to (`maxNamesPerType` per type on the
 * stream, each at most MAX_RESOURCE_NAME_LENGTH long), as the gRPC status to close it with;
 * undefined when it does not. A legitimate proxy asks for the names meshcp gave it, and each name
 * costs state and a share of every response. `held`: the names the stream subscribes to already
 * (Delta adds to them), undefined for the type's first request.
 */
export function namesOverLimit(typeUrl: string, delta: boolean, held: ReadonlySet<string> | undefined, request: NamesRequested, max: number): { readonly code: number; readonly message: string } | undefined {
  let count: number;
  let added: readonly string[];
  if (!delta) {
    count = request.resourceNames.length;
    added = request.resourceNames;
  } else {
    added = request.subscribe;
    count = held?.size ?? 0;
    for (const name of request.subscribe) if (held?.has(name) !== true) count++;
    // Initial versions make per-name state before any name is subscribed.
    if (held === undefined) count = Math.max(count, Object.keys(request.initialVersions).length);
  }
  if (count > max) {
    return { code: RESOURCE_EXHAUSTED, message: `the stream subscribes to ${count} ${protoNameOf(typeUrl)} names; at most ${max} per type are allowed (--xds-max-names-per-type)` };
  }
  for (const name of added) {
    if (name.length > MAX_RESOURCE_NAME_LENGTH) {
      return { code: INVALID_ARGUMENT, message: `a ${protoNameOf(typeUrl)} resource name is ${name.length} characters long; at most ${MAX_RESOURCE_NAME_LENGTH} are allowed` };
    }
  }
  return undefined;
}

// gRPC status codes of the refusals above.
const INVALID_ARGUMENT = 3;
const RESOURCE_EXHAUSTED = 8;
