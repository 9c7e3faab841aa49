/** A CA made the way the Kuma docs make one for a provided backend (seed 003, "CA requirements"): openssl with a config of extensions. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface OpensslCa {
  readonly certFile: string;
  readonly keyFile: string;
  readonly certPem: string;
  readonly keyPem: string;
}

/** `keyUsage` as openssl's config takes it, e.g. `keyCertSign` (compliant) or `keyCertSign, keyAgreement` (refused). */
export function opensslCa(dir: string, name: string, keyUsage: string): OpensslCa {
  const config = path.join(dir, `${name}.cnf`);
  fs.writeFileSync(config, `[req]\ndistinguished_name=dn\n[ dn ]\n[ ext ]\nbasicConstraints=CA:TRUE,pathlen:0\nkeyUsage=${keyUsage}\n`);
  const certFile = path.join(dir, `${name}.crt.pem`);
  const keyFile = path.join(dir, `${name}.key.pem`);
  execFileSync('openssl', ['req', '-config', config, '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-x509', '-extensions', 'ext', '-keyout', keyFile, '-out', certFile], { stdio: 'pipe' });
  return { certFile, keyFile, certPem: fs.readFileSync(certFile, 'utf8'), keyPem: fs.readFileSync(keyFile, 'utf8') };
}

/** Kuma's Kubernetes secret (`type: system.kuma.io/secret`) holding `data` as base64, as its docs print it. */
export function kumaKubernetesSecret(name: string, data: string): string {
  return `apiVersion: v1
kind: Secret
metadata:
  name: ${name}
  namespace: kuma-system
  labels:
    kuma.io/mesh: default
data:
  value: ${Buffer.from(data).toString('base64')}
type: system.kuma.io/secret
`;
}
