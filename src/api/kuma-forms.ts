/**
 * Kuma's Kubernetes form (SPEC §1 "Kuma's own forms are accepted too"): `apiVersion:
 * kuma.io/v1alpha1`, `kind`, `metadata.name`, and `spec` holding what the universal form has at
 * the top level, so that the Kuma docs' examples apply as printed.
 *
 * The mesh of a mesh-scoped kind comes from the top-level `mesh:` (Kuma's Kubernetes policies
 * carry it there) or the `kuma.io/mesh` label (newer Kuma resources), default `default`.
 * `metadata.namespace` has no meaning in meshcp (resources are keyed by mesh and name) and is
 * ignored with a warning. Errors inside `spec` keep their path under `spec.`.
 */
import { describeType, field, isAbsent, isPlainObject, readName, readObject, type Issues, type YamlObject } from './fields.js';
import { labelPart } from './quote.js';

export const KUMA_API_VERSION = 'kuma.io/v1alpha1';
/** The kinds Kuma defines with the same meaning as meshcp's types. */
const KUMA_KINDS = ['Mesh', 'Dataplane', 'TrafficPermission'] as const;
type KumaKind = (typeof KUMA_KINDS)[number];
const TOP_LEVEL = ['apiVersion', 'kind', 'metadata', 'spec', 'mesh'] as const;
export const MESH_LABEL = 'kuma.io/mesh';

export interface KubernetesForm {
  readonly kind: KumaKind;
  readonly name: string;
  /** '' for a Mesh. */
  readonly mesh: string;
  /** `spec` as the universal form's top level, without type, name and mesh. */
  readonly spec: YamlObject;
}

/** Warns about `metadata.namespace`, which meshcp ignores. */
export function warnNamespace(metadata: YamlObject | undefined, issues: Issues): void {
  if (metadata !== undefined && !isAbsent(metadata['namespace'])) {
    issues.warn('metadata.namespace', 'ignored: meshcp has no namespaces; a resource is identified by its mesh and name');
  }
}

/** The mesh of a Kubernetes-form resource: top-level `mesh:` or the `kuma.io/mesh` label; both must agree. */
export function kubernetesMesh(o: YamlObject, metadata: YamlObject | undefined, issues: Issues): string | undefined {
  const labels = metadata !== undefined && isPlainObject(metadata['labels']) ? metadata['labels'] : {};
  const labelPath = `metadata.labels[${JSON.stringify(MESH_LABEL)}]`;
  const fromLabel = isAbsent(labels[MESH_LABEL]) ? undefined : readName(labels[MESH_LABEL], labelPath, issues);
  const fromField = isAbsent(o['mesh']) ? undefined : readName(o['mesh'], 'mesh', issues);
  if (fromLabel !== undefined && fromField !== undefined && fromLabel !== fromField) {
    issues.error('mesh', `mesh "${fromField}" disagrees with ${labelPath} "${fromLabel}"; keep one of them`);
    return undefined;
  }
  return fromField ?? fromLabel ?? 'default';
}

function isKumaKind(v: unknown): v is KumaKind {
  return KUMA_KINDS.some((k) => k === v);
}

/** Reads the Kubernetes envelope of a `kuma.io/v1alpha1` document; undefined (with errors) when it is unusable. */
export function readKubernetesForm(o: YamlObject, issues: Issues): KubernetesForm | undefined {
  readObject(o, '', issues, TOP_LEVEL);
  const kind = o['kind'];
  if (!isKumaKind(kind)) {
    const known = `${KUMA_KINDS.join(', ')} (and Secret with apiVersion v1)`;
    issues.error('kind', `${isAbsent(kind) ? 'required field is missing' : `unsupported kind ${describeType(kind)}`} for apiVersion ${KUMA_API_VERSION}; known kinds: ${known}`);
    return undefined;
  }
  // Kubernetes metadata carries many server-set fields (uid, annotations, managedFields, …): only name, namespace and the mesh label matter.
  const metadata = readObject(o['metadata'], 'metadata', issues, Object.keys(isPlainObject(o['metadata']) ? o['metadata'] : {}), true);
  const name = metadata ? readName(metadata['name'], 'metadata.name', issues) : undefined;
  issues.resource = `${kind}/${name !== undefined ? name : isPlainObject(metadata) && typeof metadata['name'] === 'string' ? labelPart(metadata['name'], 80) : '?'}`;
  warnNamespace(metadata, issues);
  let mesh = '';
  if (kind === 'Mesh') {
    if (!isAbsent(o['mesh'])) issues.error('mesh', 'a Mesh is not inside a mesh; remove this field');
  } else mesh = kubernetesMesh(o, metadata, issues) ?? '';
  // Kuma's Kubernetes Mesh may omit spec (a mesh without mTLS); the other kinds need one.
  const spec = kind === 'Mesh' && isAbsent(o['spec']) ? {} : readObject(o['spec'], 'spec', issues, Object.keys(isPlainObject(o['spec']) ? o['spec'] : {}), true);
  if (!spec) return undefined;
  for (const key of ['type', 'name', 'mesh']) {
    if (isAbsent(spec[key])) continue;
    const where = key === 'name' ? 'metadata.name' : key === 'mesh' ? `the top-level "mesh:" or metadata.labels["${MESH_LABEL}"]` : '"kind"';
    issues.error(field('spec', key), `not part of spec in the Kubernetes form: it goes in ${where}`);
  }
  if (name === undefined) return undefined;
  return { kind, name, mesh, spec };
}
