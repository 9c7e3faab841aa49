/**
 * Encryption at rest for what meshcp keeps in etcd (SPEC §5): private keys are sealed
 * with AES-256-GCM under a key that is not in etcd, as Kubernetes encrypts Secrets at rest
 * (https://kubernetes.io/docs/tasks/administer-cluster/encrypt-data/, the `aesgcm` provider).
 *
 * Envelope: `meshcp-aesgcm:v1:<key id>:<base64 nonce ‖ ciphertext ‖ tag>`. The etcd key the value
 * is stored under is the GCM additional authenticated data (as Kubernetes binds a value to its
 * storage path), so a sealed value copied to another key does not decrypt. The key id (first 8 hex
 * digits of SHA-256 of the key) lets a wrong `--store-encryption-key-file` fail with a clear error
 * instead of an opaque authentication failure; it reveals nothing usable about the key.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';

const PREFIX = 'meshcp-aesgcm:v1:';
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
export const ENCRYPTION_KEY_FLAG = '--store-encryption-key-file';

/** Reads a 32-byte key: raw bytes, or base64 / hex text (e.g. `head -c 32 /dev/urandom | base64`). */
export function readEncryptionKeyFile(file: string): Buffer {
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch (err) {
    throw new Error(`${ENCRYPTION_KEY_FLAG}: cannot read "${file}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (data.length === KEY_BYTES) return data;
  const text = data.toString('utf8').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  const decoded = Buffer.from(text, 'base64');
  if (decoded.length === KEY_BYTES && /^[A-Za-z0-9+/=]+$/.test(text)) return decoded;
  throw new Error(`${ENCRYPTION_KEY_FLAG}: "${file}" must hold a 32-byte key (raw, base64 or hex); create one with \`head -c 32 /dev/urandom | base64 > ${file}\``);
}

/** A value sealed under another store key: the replica's key file, not the value, is likely wrong. */
export class WrongStoreKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WrongStoreKeyError';
  }
}

export class SecretBox {
  readonly keyId: string;

  constructor(private readonly key: Buffer) {
    if (key.length !== KEY_BYTES) throw new Error(`the store encryption key must be ${KEY_BYTES} bytes, got ${key.length}`);
    this.keyId = crypto.createHash('sha256').update(key).digest('hex').slice(0, 8);
  }

  static isSealed(value: string): boolean {
    return value.startsWith(PREFIX);
  }

  seal(plaintext: Buffer | string, context: string): string {
    const nonce = crypto.randomBytes(NONCE_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return `${PREFIX}${this.keyId}:${Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64')}`;
  }

  /** `context` is the etcd key the value was read from; errors name it and never include key material. */
  open(sealed: string, context: string): Buffer {
    if (!SecretBox.isSealed(sealed)) throw new Error(`${context}: expected an encrypted value, found plaintext; write it again through meshcp`);
    const rest = sealed.slice(PREFIX.length);
    const colon = rest.indexOf(':');
    const keyId = rest.slice(0, colon);
    if (keyId !== this.keyId) {
      throw new WrongStoreKeyError(`${context}: encrypted with store key ${keyId}, but ${ENCRYPTION_KEY_FLAG} holds key ${this.keyId}; give every replica the same key file`);
    }
    const raw = Buffer.from(rest.slice(colon + 1), 'base64');
    if (raw.length < NONCE_BYTES + TAG_BYTES) throw new Error(`${context}: encrypted value is truncated`);
    const decipher = crypto.createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, NONCE_BYTES));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new Error(`${context}: encrypted value fails authentication (altered, or moved from another key); restore it or write it again through meshcp`);
    }
  }
}
