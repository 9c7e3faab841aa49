/**
 * Who a stream says it is: the proxy reference (mesh, name) a node resolves to, and the checks a
 * node must pass before the control plane keeps anything about it.
 *
 * A proxy is identified by (mesh, name), never by `node.id` alone: two meshes may each have a
 * `web-01` (SPEC §1: names are unique per mesh), and each has its own identity and config.
 */
import type { NodeInfo } from './watcher.js';

export interface ProxyRef {
  readonly mesh: string;
  readonly name: string;
}

/** Resource names are DNS-1123 subdomains of at most 253 characters (api/fields.ts); a node id longer than that cannot name a proxy. */
export const MAX_NODE_ID_LENGTH = 253;
/** `metadata.mesh` names a Mesh resource; `metadata.flavor` is `envoy` or `grpc`. */
const MAX_NAME_LENGTH = 253;
/** A dataplane token is ~200 characters (auth/token.ts); this leaves room without storing megabytes per stream. */
const MAX_TOKEN_LENGTH = 4096;
/** The whole `node.metadata`, as JSON: Envoy bootstraps carry a few KB at most. */
const MAX_METADATA_JSON_LENGTH = 64 * 1024;

/** The mesh a node declares in `metadata.mesh`; `default` when absent or empty (as generate.ts and the token check read it). */
export function nodeMesh(node: NodeInfo): string {
  const mesh = node.metadata['mesh'];
  return typeof mesh === 'string' && mesh !== '' ? mesh : 'default';
}

/** `grpc` for proxyless gRPC clients, `envoy` otherwise (generate.ts proxyIdentity). */
export function nodeFlavor(node: NodeInfo): 'envoy' | 'grpc' {
  return node.metadata['flavor'] === 'grpc' ? 'grpc' : 'envoy';
}

export function nodeRef(node: NodeInfo): ProxyRef {
  return { mesh: nodeMesh(node), name: node.id };
}

/** A map key for (mesh, name) that no two different pairs share (names may contain any printable character). */
export function proxyKey(ref: ProxyRef): string {
  return JSON.stringify([ref.mesh, ref.name]);
}

/**
 * C0 controls, DEL, C1 controls (ESC and CSI start terminal escape sequences), and the Unicode
 * line/paragraph separators and bidi overrides that reorder or break a terminal line
 * (https://unicode.org/reports/tr9/, CVE-2021-42574 "Trojan Source").
 */
const NON_PRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

function codePoint(s: string): string {
  return `U+${(s.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

function checkString(field: string, value: string, max: number): string | undefined {
  if (value.length > max) return `${field} is ${value.length} characters long; at most ${max} are allowed`;
  const bad = NON_PRINTABLE.exec(value);
  if (bad) return `${field} contains the non-printable character ${codePoint(bad[0])} at position ${bad.index}; use printable characters only`;
  return undefined;
}

/**
 * Why a stream's node cannot be accepted, in one line that never echoes the offending value
 * (it may be megabytes long or hold terminal escapes); undefined when it is acceptable.
 */
export function nodeProblem(node: NodeInfo): string | undefined {
  if (node.id === '') return 'the first request on a stream must carry a non-empty node.id';
  const idProblem = checkString('node.id', node.id, MAX_NODE_ID_LENGTH);
  if (idProblem) return `${idProblem} (a proxy name, as in its Dataplane or Gateway)`;
  for (const [key, max] of [
    ['mesh', MAX_NAME_LENGTH],
    ['flavor', MAX_NAME_LENGTH],
    ['token', MAX_TOKEN_LENGTH],
  ] as const) {
    const value = node.metadata[key];
    // Non-strings are read as absent (nodeMesh, nodeFlavor; the token check refuses a missing token).
    if (typeof value !== 'string') continue;
    const problem = checkString(`node.metadata.${key}`, value, max);
    if (problem) return problem;
  }
  const clusterProblem = checkString('node.cluster', node.cluster, MAX_NAME_LENGTH);
  if (clusterProblem) return clusterProblem;
  let metadataLength: number;
  try {
    metadataLength = JSON.stringify(node.metadata).length;
  } catch {
    return 'node.metadata cannot be read as JSON';
  }
  if (metadataLength > MAX_METADATA_JSON_LENGTH) return `node.metadata is ${metadataLength} bytes as JSON; at most ${MAX_METADATA_JSON_LENGTH} are allowed`;
  return undefined;
}

/** For logs and error messages about a value that failed `nodeProblem`: control characters escaped, cut to a readable length. */
export function printableExcerpt(value: string, max = 64): string {
  const cut = value.length > max ? `${value.slice(0, max)}…` : value;
    return cut.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`);
}
