/**
 * The resource records of the etcd store: `<prefix>resources/<Kind>/<mesh>/<name>` (a Mesh:
 * `resources/Mesh/<name>`), one JSON document each, every private key inside sealed
 * (private-keys.ts, secret-box.ts) and bound to its etcd key and field.
 */
import type { Etcd3, IKeyValue } from 'etcd3';
import { RESOURCE_KINDS, type ResourceKind } from '../api/types.js';
import { oneLine } from './etcd-call.js';
import { documentToResource, resourceToDocument } from './document.js';
import { mapPrivateKeys } from './private-keys.js';
import { SecretBox, WrongStoreKeyError } from './secret-box.js';
import { refKey, refOf, type ResourceRef, type StoredResource } from './store.js';

const RECORD_FORMAT = 1;

export interface Entry {
  readonly stored: StoredResource;
  readonly modRevision: number;
  /** Private key fields found in clear, to be sealed in place. */
  readonly inClear?: readonly string[];
}

export interface Listing {
  readonly entries: Map<string, Entry>;
  readonly revision: number;
  readonly problems: readonly { readonly key: string; readonly reason: string; readonly wrongKey: boolean }[];
  /** Sealed values the store key opened. */
  readonly opened: number;
}

/**
 * The additional authenticated data of a sealed key: the etcd key, plus the field for keys other
 * than a Secret's `key` (sealed with the etcd key alone since the first format), so a sealed value
 * moved to another record or field does not open.
 */
function sealContext(key: string, field: string): string {
  return field === 'key' ? key : `${key}#${field}`;
}

function isResourceKind(value: string | undefined): value is ResourceKind {
  return RESOURCE_KINDS.some((k) => k === value);
}

export class RecordCodec {
  /** Sealed values opened so far (a listing compares before and after). */
  private sealedOpened = 0;

  constructor(
    private readonly box: SecretBox,
    readonly resourcesPrefix: string,
  ) {}

  keyOf(ref: ResourceRef): string {
    return this.resourcesPrefix + refKey(ref);
  }

  encode(key: string, stored: StoredResource): string {
    // Every private key of the document is sealed (private-keys.ts), bound to its etcd key and field.
    const doc = mapPrivateKeys(resourceToDocument(stored.resource), (value, field) => this.box.seal(value, sealContext(key, field)));
    return JSON.stringify({ format: RECORD_FORMAT, creationTime: stored.creationTime, modificationTime: stored.modificationTime, resource: doc });
  }

  decode(key: string, kv: IKeyValue): Entry {
    let record: unknown;
    try {
      record = JSON.parse(kv.value.toString('utf8'));
    } catch {
      throw new Error('not a meshcp store record (not JSON)');
    }
    const r = (typeof record === 'object' && record !== null ? record : {}) as Record<string, unknown>;
    if (r['format'] !== RECORD_FORMAT) throw new Error(`unsupported record format ${JSON.stringify(r['format'])} (this meshcp reads format ${RECORD_FORMAT})`);
    const raw = (typeof r['resource'] === 'object' && r['resource'] !== null && !Array.isArray(r['resource']) ? (r['resource'] as Record<string, unknown>) : undefined) ?? {};
    const inClear: string[] = [];
    const doc = mapPrivateKeys(raw, (value, field) => {
      if (SecretBox.isSealed(value)) {
        const opened = this.box.open(value, sealContext(key, field)).toString('utf8');
        this.sealedOpened++;
        return opened;
      }
      // Written in clear by an earlier meshcp (a provided CA's inline key) or by hand: read it,
      // and seal it in place (ResourceMirror.sealInClearKeys).
      inClear.push(field);
      return value;
    });
    // A stored document holds content, never a path: it may not make the server read a file.
    const resource = documentToResource(doc, key);
    const expected = this.keyOf(refOf(resource));
    if (expected !== key) throw new Error(`holds ${refKey(refOf(resource))}, but its key says otherwise`);
    const creationTime = typeof r['creationTime'] === 'string' ? r['creationTime'] : new Date(0).toISOString();
    const modificationTime = typeof r['modificationTime'] === 'string' ? r['modificationTime'] : creationTime;
    return { stored: { resource, creationTime, modificationTime, revision: kv.mod_revision }, modRevision: Number(kv.mod_revision), ...(inClear.length > 0 ? { inClear } : {}) };
  }

  tryDecode(key: string, kv: IKeyValue): Entry | undefined {
    try {
      return this.decode(key, kv);
    } catch {
      return undefined;
    }
  }

  /** `resources/<Kind>/<mesh>/<name>` (a Mesh: `resources/Mesh/<name>`) back to the ref, when it has that shape. */
  refOfKey(key: string): ResourceRef | undefined {
    if (!key.startsWith(this.resourcesPrefix)) return undefined;
    const parts = key.slice(this.resourcesPrefix.length).split('/');
    const [type, a, b] = parts;
    if (!isResourceKind(type)) return undefined;
    if (type === 'Mesh') return parts.length === 2 && a ? { type, mesh: '', name: a } : undefined;
    return parts.length === 3 && a && b ? { type, mesh: a, name: b } : undefined;
  }

  /** Every resource record, decoded; the ones that do not decode are listed as problems. */
  async list(client: Etcd3): Promise<Listing> {
    const response = await client.getAll().prefix(this.resourcesPrefix).exec();
    const entries = new Map<string, Entry>();
    const problems: { key: string; reason: string; wrongKey: boolean }[] = [];
    const openedBefore = this.sealedOpened;
    for (const kv of response.kvs) {
      const key = kv.key.toString('utf8');
      try {
        entries.set(key, this.decode(key, kv));
      } catch (err) {
        problems.push({ key, reason: oneLine(err), wrongKey: err instanceof WrongStoreKeyError });
      }
    }
    return { entries, revision: Number(response.header.revision), problems, opened: this.sealedOpened - openedBefore };
  }
}
