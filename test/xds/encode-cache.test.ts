import { describe, expect, it } from 'vitest';
import { ResourceEncoder } from '../../src/snapshot/encode.js';
import { CLUSTER_TYPE, SECRET_TYPE } from '../../src/snapshot/types.js';

const inline = (text: string): Record<string, string> => ({ inline_string: text });

describe('ResourceEncoder caches', () => {
  it('shares the bytes of equal resources built as different objects (by content)', () => {
    const encoder = new ResourceEncoder();
    const cluster = (): Record<string, unknown> => ({ name: 'svc', type: 'EDS', eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } } });
    const a = encoder.encode(CLUSTER_TYPE, cluster());
    const b = encoder.encode(CLUSTER_TYPE, cluster());
    expect(b).toBe(a);
    expect(encoder.stats.encodes).toBe(1);
    const bundle = (): Record<string, unknown> => ({ name: 'mesh-ca', validation_context: { trusted_ca: inline('-----BEGIN CERTIFICATE-----\nroot\n') } });
    expect(encoder.encode(SECRET_TYPE, bundle())).toBe(encoder.encode(SECRET_TYPE, bundle()));
    expect(encoder.stats.encodes).toBe(2);
  });

  it('never keeps a private key past its object: a Secret with a tls_certificate is cached by object only', () => {
    const encoder = new ResourceEncoder();
    const identity = (): Record<string, unknown> => ({
      name: 'identity',
      tls_certificate: { certificate_chain: inline('-----BEGIN CERTIFICATE-----\nleaf\n'), private_key: inline('-----BEGIN PRIVATE KEY-----\nkey\n') },
    });
    const first = identity();
    const a = encoder.encode(SECRET_TYPE, first);
    expect(encoder.encode(SECRET_TYPE, first)).toBe(a); // the same object: one encoding
    const b = encoder.encode(SECRET_TYPE, identity()); // an equal object: encoded again, nothing kept by content
    expect(b).not.toBe(a);
    expect(Buffer.from(b.value).equals(Buffer.from(a.value))).toBe(true);
    expect(b.version).toBe(a.version);
    expect(encoder.stats.encodes).toBe(2);
  });
});
