/** Mesh: Kuma's `mtls` block with builtin and provided CA backends (SPEC §1 Mesh). */
import path from 'node:path';
import { parseDuration } from './duration.js';
import { describeType, field, FILE_REFERENCE_REFUSED, index, quoteValue, isAbsent, readEnum, readList, readName, readObject, readString, type DocumentContext, type Issues, type YamlObject } from './fields.js';
import type { BuiltinMtlsBackend, DataSource, MeshMtls, MeshResource, MtlsBackend, ProvidedMtlsBackend } from './types.js';

const DEFAULT_DP_CERT_EXPIRATION = '30d';
const DEFAULT_CA_EXPIRATION = '10y';
const RSA_BITS = [2048, 3072, 4096] as const;
const DATA_SOURCE_KINDS = ['secret', 'inline', 'file'] as const;

function readDuration(v: unknown, p: string, issues: Issues, fallback: string): { expiration: string; expirationSeconds: number } {
  const text = readString(v, p, issues) ?? fallback;
  const seconds = parseDuration(text);
  if (seconds === undefined || seconds <= 0) {
    issues.error(p, `invalid duration ${quoteValue(text, 40)}: expected e.g. "1d", "12h", "30m" or "10y"`);
    return { expiration: fallback, expirationSeconds: parseDuration(fallback) ?? 0 };
  }
  return { expiration: text, expirationSeconds: seconds };
}

function readDpCert(v: unknown, p: string, issues: Issues): MtlsBackend['dpCert'] {
  const dpCert = readObject(v, p, issues, ['rotation']);
  const rotationPath = field(p, 'rotation');
  const rotation = dpCert ? readObject(dpCert['rotation'], rotationPath, issues, ['expiration']) : undefined;
  return { rotation: readDuration(rotation?.['expiration'], field(rotationPath, 'expiration'), issues, DEFAULT_DP_CERT_EXPIRATION) };
}

function readBuiltinConf(v: unknown, p: string, issues: Issues): BuiltinMtlsBackend['conf'] {
  const conf = readObject(v, p, issues, ['caCert']);
  const caPath = field(p, 'caCert');
  const caCert = conf ? readObject(conf['caCert'], caPath, issues, ['RSAbits', 'keyType', 'expiration']) : undefined;
  const bitsPath = field(caPath, 'RSAbits');
  let RSAbits: 2048 | 3072 | 4096 = 2048;
  const bits = caCert?.['RSAbits'];
  if (!isAbsent(bits)) {
    const found = RSA_BITS.find((b) => b === bits);
    if (found === undefined) issues.error(bitsPath, `expected one of ${RSA_BITS.join(', ')}, got ${describeType(bits)}`);
    else RSAbits = found;
  }
  const keyTypeValue = caCert?.['keyType'];
  let keyType: 'RSA' | 'ECDSA' | undefined;
  if (!isAbsent(keyTypeValue)) {
    if (keyTypeValue === 'RSA' || keyTypeValue === 'ECDSA') keyType = keyTypeValue;
    else issues.error(field(caPath, 'keyType'), `expected RSA or ECDSA (a P-256 root), got ${describeType(keyTypeValue)}`);
  }
  if (keyType === 'ECDSA' && !isAbsent(bits)) issues.error(bitsPath, 'RSAbits applies to an RSA root; remove it with keyType: ECDSA (always P-256)');
  return { caCert: { RSAbits, ...(keyType === 'ECDSA' ? { keyType } : {}), ...readDuration(caCert?.['expiration'], field(caPath, 'expiration'), issues, DEFAULT_CA_EXPIRATION) } };
}

const BASE64 = /^[A-Za-z0-9+/\s]*={0,2}\s*$/;

function readDataSource(v: unknown, p: string, issues: Issues, ctx: DocumentContext): DataSource | undefined {
  const o = readObject(v, p, issues, DATA_SOURCE_KINDS, true);
  if (!o) return undefined;
  const present = DATA_SOURCE_KINDS.filter((k) => !isAbsent(o[k]));
  if (present.length !== 1) {
    if (present.length > 0 || Object.keys(o).length === 0) {
      issues.error(p, `expected exactly one of ${DATA_SOURCE_KINDS.join(', ')}, found ${present.length === 0 ? 'none' : present.join(', ')}`);
    }
    return undefined;
  }
  const [kind = 'secret'] = present;
  const valuePath = field(p, kind);
  switch (kind) {
    case 'secret': {
      const secret = readName(o['secret'], valuePath, issues);
      return secret !== undefined ? { secret } : undefined;
    }
    case 'inline': {
      const inline = readString(o['inline'], valuePath, issues, true);
      if (inline === undefined) return undefined;
      if (!inline.trimStart().startsWith('-----BEGIN') && !BASE64.test(inline)) {
        issues.error(valuePath, 'expected base64-encoded PEM');
        return undefined;
      }
      // `meshcp apply -f` sends a `file:` this way too (the admin API reads no files): the material is stored in the Mesh either way.
      issues.warn(valuePath, 'inline CA material is for development only (it is stored in the Mesh, as is a file: sent by `meshcp apply -f`); use a Secret, or a file: in a serve --config file');
      return { inline };
    }
    case 'file': {
      if (ctx.allowFiles === false) {
        issues.error(valuePath, FILE_REFERENCE_REFUSED);
        return undefined;
      }
      const file = readString(o['file'], valuePath, issues, true);
      return file !== undefined ? { file: path.resolve(ctx.baseDir ?? process.cwd(), file) } : undefined;
    }
  }
}

function readProvidedConf(v: unknown, p: string, issues: Issues, ctx: DocumentContext): ProvidedMtlsBackend['conf'] | undefined {
  const conf = readObject(v, p, issues, ['cert', 'key'], true);
  if (!conf) return undefined;
  const cert = readDataSource(conf['cert'], field(p, 'cert'), issues, ctx);
  const key = readDataSource(conf['key'], field(p, 'key'), issues, ctx);
  return cert && key ? { cert, key } : undefined;
}

function readBackend(v: unknown, p: string, issues: Issues, ctx: DocumentContext): MtlsBackend | undefined {
  const o = readObject(v, p, issues, ['name', 'type', 'mode', 'dpCert', 'conf']);
  if (!o) return undefined;
  const name = readName(o['name'], field(p, 'name'), issues);
  const type = readEnum(o['type'], field(p, 'type'), issues, ['builtin', 'provided'] as const, true);
  const mode = readEnum(o['mode'], field(p, 'mode'), issues, ['STRICT', 'PERMISSIVE'] as const) ?? 'STRICT';
  const dpCert = readDpCert(o['dpCert'], field(p, 'dpCert'), issues);
  if (name === undefined) return undefined;
  if (type === 'builtin') return { name, type, mode, dpCert, conf: readBuiltinConf(o['conf'], field(p, 'conf'), issues) };
  if (type === 'provided') {
    const conf = readProvidedConf(o['conf'], field(p, 'conf'), issues, ctx);
    return conf ? { name, type, mode, dpCert, conf } : undefined;
  }
  return undefined;
}

function readMtls(v: unknown, issues: Issues, ctx: DocumentContext): MeshMtls | undefined {
  const o = readObject(v, 'mtls', issues, ['enabledBackend', 'backends']);
  if (!o) return undefined;
  const enabled = o['enabledBackend'];
  const enabledBackend = enabled === '' ? undefined : readString(enabled, 'mtls.enabledBackend', issues);
  const entries = readList(o['backends'], 'mtls.backends', issues) ?? [];
  const backends: MtlsBackend[] = [];
  const seen = new Map<string, number>();
  entries.forEach((entry, i) => {
    const p = index('mtls.backends', i);
    const backend = readBackend(entry, p, issues, ctx);
    if (!backend) return;
    const first = seen.get(backend.name);
    if (first !== undefined) issues.error(field(p, 'name'), `backend name "${backend.name}" is already used by mtls.backends[${first}]`);
    else seen.set(backend.name, i);
    backends.push(backend);
  });
  const names = entries.map((e) => (typeof e === 'object' && e !== null && 'name' in e ? e.name : undefined));
  if (enabledBackend !== undefined && !names.includes(enabledBackend)) {
    const known = [...new Set(backends.map((b) => `"${b.name}"`))].join(', ');
    issues.error('mtls.enabledBackend', `no backend named ${quoteValue(enabledBackend)} in mtls.backends${known ? ` (known: ${known})` : ''}`);
  }
  return { ...(enabledBackend !== undefined ? { enabledBackend } : {}), backends };
}

export function validateMesh(o: YamlObject, scope: { name: string }, issues: Issues, ctx: DocumentContext): MeshResource {
  readObject(o, '', issues, ['type', 'name', 'mtls']);
  const mtls = readMtls(o['mtls'], issues, ctx);
  return { type: 'Mesh', name: scope.name, ...(mtls ? { mtls } : {}) };
}
