/**
 * Template encoding: the bytes of a per-proxy resource spliced into an encoding made once per
 * shape (see below). The encoder (encode.ts) uses a resource's template when it has one.
 */
import protobuf from 'protobufjs';
import { lookupType } from '../protos/load.js';
import { dependenciesOf, type ResourceDependencies } from './dependencies.js';
import { protoNameOf, type ResourceObject } from './types.js';

/**
 * Template encoding (initial config). A per-proxy resource that differs from the same
 * resource of other proxies only in a few whole string fields (an inbound listener: its name,
 * address and stat prefixes carry the proxy's address, nothing else does) is encoded once per
 * shape, with marker strings in those fields; each proxy's bytes are that encoding with its own
 * strings spliced in. A message's bytes are the concatenation of its fields' bytes, so only the
 * spliced fields and the length prefixes of the messages around them differ: the template keeps
 * the encoding as literal byte runs, holes (a string field) and nested messages (a length
 * prefix, recomputed per instance, around parts of their own), following the message types
 * through `google.protobuf.Any` values.
 *
 * A template is checked when it is built: spliced with the markers it must give back the exact
 * bytes protobuf encoded, and no marker may be left anywhere else (in a literal run, or in the
 * references). A template that fails the check is not used: its resources are encoded as any
 * other, so a template can cost speed, never correctness. test/generate/encode-template.test.ts
 * compares spliced and protobuf bytes for every golden proxy and random dataplanes.
 */
type TemplateOp =
  /** Copy a literal run of the template's bytes. */
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array }
  /** A string field's length and content, from the instance's value `hole`. */
  | { readonly kind: 'hole'; readonly hole: number }
  /** The length prefix of nested message `node`, whose parts follow. */
  | { readonly kind: 'open'; readonly node: number };

interface TemplateNode {
  /** Bytes that do not depend on the values: literal runs (tags included). */
  fixed: number;
  readonly holes: number[];
  readonly children: number[];
}

const ANY_TYPE = 'google.protobuf.Any';
const TYPE_URL_PREFIX = 'type.googleapis.com/';

function varintLength(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5;
}

function writeVarint(out: Uint8Array, pos: number, value: number): number {
  while (value > 0x7f) {
    out[pos++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  out[pos++] = value;
  return pos;
}

/** Splits encoded bytes into template ops (see above). */
class TemplateParser {
  readonly ops: TemplateOp[] = [];
  readonly nodes: TemplateNode[] = [{ fixed: 0, holes: [], children: [] }];
  private literalStart: number;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly holesByValue: ReadonlyMap<string, number>,
  ) {
    this.literalStart = 0;
  }

  flush(to: number, node: number): void {
    if (to > this.literalStart) {
      this.ops.push({ kind: 'bytes', bytes: this.bytes.subarray(this.literalStart, to) });
      this.nodes[node]!.fixed += to - this.literalStart;
    }
    this.literalStart = to;
  }

  /** Parses the message of `type` in [start, end) into `node`'s parts; true when it holds a hole. */
  message(type: protobuf.Type, start: number, end: number, node: number): boolean {
    const reader = protobuf.Reader.create(this.bytes);
    reader.pos = start;
    let anyType: protobuf.Type | undefined;
    let found = false;
    while (reader.pos < end) {
      const tag = reader.uint32();
      const id = tag >>> 3;
      const wireType = tag & 7;
      if (wireType !== 2) {
        reader.skipType(wireType);
        continue;
      }
      const length = reader.uint32();
      const contentStart = reader.pos;
      const contentEnd = contentStart + length;
      reader.pos = contentEnd;
      const field = type.fieldsById[id];
      if (!field || field.map) continue;
      field.resolve();
      if (type.fullName === `.${ANY_TYPE}`) {
        if (id === 1) anyType = anyValueType(protobuf.util.utf8.read(this.bytes, contentStart, contentEnd));
        if (id === 2 && anyType) found = this.nested(anyType, contentStart, contentEnd, node) || found;
        continue;
      }
      if (field.type === 'string') {
        const hole = this.holesByValue.get(protobuf.util.utf8.read(this.bytes, contentStart, contentEnd));
        if (hole === undefined) continue;
        // The tag stays in the literal run; the hole writes length and content.
        this.flush(contentStart - varintLength(length), node);
        this.ops.push({ kind: 'hole', hole });
        this.nodes[node]!.holes.push(hole);
        this.literalStart = contentEnd;
        found = true;
      } else if (field.resolvedType instanceof protobuf.Type) {
        found = this.nested(field.resolvedType, contentStart, contentEnd, node) || found;
      }
    }
    return found;
  }

  /** A nested message in [start, end) (its length prefix just before `start`): a node of its own when it holds a hole. */
  private nested(type: protobuf.Type, start: number, end: number, parent: number): boolean {
    const mark = { ops: this.ops.length, literalStart: this.literalStart, fixed: this.nodes[parent]!.fixed, nodes: this.nodes.length };
    this.flush(start - varintLength(end - start), parent);
    // The length prefix is not literal: `open` writes the instance's.
    this.literalStart = start;
    const node = this.nodes.length;
    this.ops.push({ kind: 'open', node });
    this.nodes.push({ fixed: 0, holes: [], children: [] });
    if (this.message(type, start, end, node)) {
      this.flush(end, node);
      this.nodes[parent]!.children.push(node);
      return true;
    }
    // Nothing to splice inside: the whole message stays in the literal run.
    this.ops.length = mark.ops;
    this.nodes.length = mark.nodes;
    this.nodes[parent]!.fixed = mark.fixed;
    this.literalStart = mark.literalStart;
    return false;
  }
}

function anyValueType(typeUrl: string): protobuf.Type | undefined {
  if (!typeUrl.startsWith(TYPE_URL_PREFIX)) return undefined;
  try {
    return lookupType(typeUrl.slice(TYPE_URL_PREFIX.length));
  } catch {
    return undefined;
  }
}

let templateCount = 0;

/** Templates built in this process, and how many of them failed their check (their resources are encoded by protobuf). */
export const templateCounters = { built: 0, unusable: 0 };

export class ResourceTemplate {
  /** Spliced encodings are used only when the template passed its check; otherwise protobuf encodes. */
  readonly usable: boolean;
  readonly refs: ResourceDependencies;
  private readonly ops: readonly TemplateOp[];
  private readonly nodes: readonly TemplateNode[];
  /** Scratch space per instantiation: hole byte lengths, node sizes. */
  private readonly holeLengths: Int32Array;
  private readonly sizes: Int32Array;

  /**
   * @param build the resource for a value (an address): each of `holes(marker)` must be a whole
   *   string field of `build(marker)`, and `marker` must appear nowhere else
   * @param holes the varying fields for a value, in a fixed order
   */
  constructor(
    readonly typeUrl: string,
    build: (marker: string) => ResourceObject,
    readonly holes: (value: string) => readonly string[],
  ) {
    // Any string no real field holds; a marker found elsewhere makes the template unusable, never wrong.
    const marker = `meshcp-template-marker-${(++templateCount).toString(36)}-7f1c`;
    const sample = build(marker);
    const values = holes(marker);
    const type = lookupType(protoNameOf(typeUrl));
    const encode = (resource: ResourceObject): Uint8Array => new Uint8Array(type.encode(type.fromObject(resource)).finish());
    const bytes = encode(sample);
    const holesByValue = new Map(values.map((v, i) => [v, i]));
    const parser = new TemplateParser(bytes, holesByValue);
    let parsed = true;
    try {
      parser.message(type, 0, bytes.length, 0);
      parser.flush(bytes.length, 0);
    } catch {
      parsed = false;
    }
    this.ops = parsed ? parser.ops : [];
    this.nodes = parsed ? parser.nodes : [{ fixed: 0, holes: [], children: [] }];
    this.holeLengths = new Int32Array(values.length);
    this.sizes = new Int32Array(this.nodes.length);
    this.refs = dependenciesOf(typeUrl, sample);
    const markerBytes = Buffer.from(marker);
    const literalsClean = this.ops.every((op) => op.kind !== 'bytes' || Buffer.from(op.bytes.buffer, op.bytes.byteOffset, op.bytes.byteLength).indexOf(markerBytes) < 0);
    const structural = parsed && holesByValue.size === values.length && values.every((v) => v.includes(marker)) && literalsClean && !JSON.stringify(this.refs).includes(marker);
    // A second value, longer than 127 bytes (other length prefixes) and of other characters, must
    // splice to what protobuf encodes too: a field that varies with the value in a way the holes
    // do not capture (a transformed copy) fails here.
    const other = `Other.${marker.toUpperCase()}:${'9'.repeat(120)}`;
    let spliced = false;
    try {
      spliced =
        structural &&
        Buffer.from(this.instantiate(values)).equals(Buffer.from(bytes)) &&
        Buffer.from(this.instantiate(holes(other))).equals(Buffer.from(encode(build(other))));
    } catch {
      spliced = false;
    }
    this.usable = spliced;
    templateCounters.built++;
    if (!spliced) templateCounters.unusable++;
  }

  /** The bytes of the resource with `values` in the holes (as `holes(...)` lists them). */
  instantiate(values: readonly string[]): Uint8Array {
    const lengths = this.holeLengths;
    for (let i = 0; i < lengths.length; i++) lengths[i] = utf8Length(values[i]!);
    // Children follow their parent in node order: sizes from the last node up.
    const sizes = this.sizes;
    for (let n = this.nodes.length - 1; n >= 0; n--) {
      const node = this.nodes[n]!;
      let size = node.fixed;
      for (let i = 0; i < node.holes.length; i++) size += varintLength(lengths[node.holes[i]!]!) + lengths[node.holes[i]!]!;
      for (let i = 0; i < node.children.length; i++) size += varintLength(sizes[node.children[i]!]!) + sizes[node.children[i]!]!;
      sizes[n] = size;
    }
    // A buffer of its own, never a slice of Node's shared 8 KiB pool: one long-lived slice keeps its
    // whole pool alive, and the encoded resources every proxy holds kept about one pool per proxy.
    const out = Buffer.allocUnsafeSlow(sizes[0]!);
    const ops = this.ops;
    let pos = 0;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      if (op.kind === 'bytes') {
        const bytes = op.bytes;
        if (bytes.length <= 32) for (let j = 0; j < bytes.length; j++) out[pos + j] = bytes[j]!;
        else out.set(bytes, pos);
        pos += bytes.length;
      } else if (op.kind === 'hole') {
        const length = lengths[op.hole]!;
        const value = values[op.hole]!;
        pos = writeVarint(out, pos, length);
        if (length === value.length) for (let j = 0; j < length; j++) out[pos + j] = value.charCodeAt(j);
        else out.write(value, pos, 'utf8');
        pos += length;
      } else {
        pos = writeVarint(out, pos, sizes[op.node]!);
      }
    }
    if (pos !== out.length) throw new Error(`template of ${protoNameOf(this.typeUrl)}: wrote ${pos} of ${out.length} bytes`);
    return out;
  }
}

/** UTF-8 byte length; ASCII (every address and name in practice) without leaving JavaScript. */
function utf8Length(value: string): number {
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) >= 0x80) return Buffer.byteLength(value, 'utf8');
  return value.length;
}

/** Kept on each templated resource: the template and the value (an address the model holds anyway), holes computed when encoded. */
interface TemplateInstance {
  readonly template: ResourceTemplate;
  readonly value: string;
}

/**
 * The template instance of a resource, on the resource itself: a non-enumerable symbol property,
 * invisible to JSON, spreads, Object.entries and deep equality, and much cheaper to set per
 * proxy than a WeakMap entry.
 */
const TEMPLATE_INSTANCE = Symbol('meshcp.templateInstance');

export function templateInstanceOf(resource: ResourceObject): TemplateInstance | undefined {
  return (resource as { [TEMPLATE_INSTANCE]?: TemplateInstance })[TEMPLATE_INSTANCE];
}

/** Whether `value` has no lone surrogate: protobufjs's own UTF-8 writer and Buffer's encode those differently. */
export const wellFormed = (value: string): boolean => (value as string & { isWellFormed?: () => boolean }).isWellFormed?.() ?? !/[\uD800-\uDFFF]/.test(value);

/**
 * Marks `resource` as `template` for `value`: an encoder splices its bytes (`template.holes(value)`
 * into the template) instead of encoding it, when the template is usable. `resource` must be what
 * the template's `build` gives for `value`; the object itself is unchanged and stays what
 * consumers read.
 */
export function templated<T extends ResourceObject>(resource: T, template: ResourceTemplate, value: string): T {
  if (template.usable && Object.isExtensible(resource)) {
    Object.defineProperty(resource, TEMPLATE_INSTANCE, { value: { template, value } satisfies TemplateInstance });
  }
  return resource;
}
