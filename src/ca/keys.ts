/**
 * Key pairs for certificates, through WebCrypto (what @peculiar/x509 signs with). Keys leave
 * this module only as unencrypted PKCS#8 PEM, the format `tls` secrets and Envoy expect.
 */
import crypto from 'node:crypto';
import { parsePrivateKey } from './pem.js';


const { subtle } = crypto.webcrypto;

/** Leaf keys: ECDSA P-256 is fast to make and widely supported; RSA for peers that need it. */
export type KeyAlgorithm = 'ecdsa-p256' | 'rsa-2048';

export type KeySpec = { readonly kind: 'ecdsa-p256' } | { readonly kind: 'rsa'; readonly bits: number };

export interface SigningKey {
  readonly privateKey: CryptoKey;
  /** The WebCrypto signing algorithm, always with SHA-2 (SHA-256 unless the curve calls for more). */
  readonly algorithm: RsaHashedImportParams | EcdsaParams;
  readonly kind: 'rsa' | 'ec';
}

const RSA_SIGNING: RsaHashedImportParams = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };

export function keySpec(algorithm: KeyAlgorithm): KeySpec {
  return algorithm === 'ecdsa-p256' ? { kind: 'ecdsa-p256' } : { kind: 'rsa', bits: 2048 };
}

export async function generateKeyPair(spec: KeySpec): Promise<CryptoKeyPair> {
  if (spec.kind === 'ecdsa-p256') return subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  return subtle.generateKey({ ...RSA_SIGNING, modulusLength: spec.bits, publicExponent: new Uint8Array([1, 0, 1]) }, true, ['sign', 'verify']);
}

export async function privateKeyToPem(key: CryptoKey): Promise<string> {
  // PKCS#8 PEM, encoded by Node rather than by hand.
  return crypto.KeyObject.from(key).export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** Node curve names of the curves WebCrypto can sign with, and the hash that matches each. */
const CURVES: Readonly<Record<string, { namedCurve: string; hash: string }>> = {
  prime256v1: { namedCurve: 'P-256', hash: 'SHA-256' },
  secp384r1: { namedCurve: 'P-384', hash: 'SHA-384' },
  secp521r1: { namedCurve: 'P-521', hash: 'SHA-512' },
};

/** Imports a CA's PEM private key (RSA or ECDSA P-256/P-384/P-521) for signing. */
export async function importSigningKey(keyPem: string): Promise<SigningKey> {
  const key = parsePrivateKey(keyPem);
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  if (key.asymmetricKeyType === 'rsa') {
    return { privateKey: await subtle.importKey('pkcs8', pkcs8, RSA_SIGNING, false, ['sign']), algorithm: RSA_SIGNING, kind: 'rsa' };
  }
  if (key.asymmetricKeyType === 'ec') {
    const curve = CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
    if (curve === undefined) throw new Error(`unsupported CA key: EC curve ${key.asymmetricKeyDetails?.namedCurve ?? 'unknown'} (use P-256, P-384 or P-521)`);
    const privateKey = await subtle.importKey('pkcs8', pkcs8, { name: 'ECDSA', namedCurve: curve.namedCurve }, false, ['sign']);
    return { privateKey, algorithm: { name: 'ECDSA', hash: curve.hash }, kind: 'ec' };
  }
  throw new Error(`unsupported CA key type ${key.asymmetricKeyType ?? 'unknown'} (use RSA or ECDSA)`);
}
