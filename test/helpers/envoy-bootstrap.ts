/** Envoy bootstrap checks shared by the bootstrap and compose-kit tests. */
import { lookupType } from '../../src/protos/load.js';
import { envoyValidate } from '../peers/envoy-validate.js';
import { jsonToStruct, structToJson } from '../../src/xds/struct.js';

export const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';

type Obj = Record<string, unknown>;
export const get = (o: unknown, ...keys: Array<string | number>): unknown => keys.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], o);

/** The two google.protobuf.Struct fields are plain JSON in a bootstrap file (proto3 JSON mapping). */
function mapStructs(bootstrap: Obj, convert: (json: Obj) => Obj): Obj {
  const copy = structuredClone(bootstrap);
  const node = get(copy, 'node') as Obj;
  node['metadata'] = convert(node['metadata'] as Obj);
  for (const layer of (get(copy, 'layered_runtime', 'layers') as Obj[] | undefined) ?? []) if (layer['static_layer']) layer['static_layer'] = convert(layer['static_layer'] as Obj);
  // Several xDS replicas: per-endpoint TLS through transport_socket_matches (bootstrap/envoy.ts).
  for (const cluster of (get(copy, 'static_resources', 'clusters') as Obj[] | undefined) ?? []) {
    for (const match of (cluster['transport_socket_matches'] as Obj[] | undefined) ?? []) if (match['match']) match['match'] = convert(match['match'] as Obj);
    for (const locality of (get(cluster, 'load_assignment', 'endpoints') as Obj[] | undefined) ?? []) {
      for (const endpoint of (locality['lb_endpoints'] as Obj[] | undefined) ?? []) {
        const filters = get(endpoint, 'metadata', 'filter_metadata') as Obj | undefined;
        for (const key of Object.keys(filters ?? {})) filters![key] = convert(filters![key] as Obj);
      }
    }
  }
  return copy;
}

/**
 * Encodes a bootstrap as the Envoy Bootstrap proto and decodes it again: `roundTrip` must equal
 * the input (protobufjs drops unknown fields silently). `violations` is what Envoy 1.40's own
 * rules say of those bytes (go-control-plane's ValidateAll, inside typed_config too). The bytes,
 * not the file: Envoy's YAML loader takes `{seconds, nanos}` for a Duration, which strict proto3
 * JSON parsers refuse.
 */
export function checkBootstrap(bootstrap: Obj): { roundTrip: Obj; violations: string[] } {
  const type = lookupType(BOOTSTRAP);
  const bytes = type.encode(type.fromObject(mapStructs(bootstrap, jsonToStruct))).finish();
  const decoded = type.toObject(type.decode(bytes), { json: true, enums: String, longs: Number });
  const [violations] = envoyValidate([{ typeUrl: `type.googleapis.com/${BOOTSTRAP}`, value: bytes }]);
  return { roundTrip: mapStructs(decoded, structToJson), violations: violations ?? ['no verdict'] };
}
