import { describe, expect, it } from 'vitest';
import { formatFieldError } from '../../src/api/errors.js';
import { validateResource } from '../../src/api/parse.js';

function errorsOf(doc: unknown): string[] {
  const result = validateResource(doc, { file: 'mesh.yaml', document: 2 });
  return result.ok ? [] : result.errors.map(formatFieldError);
}

describe('Dataplane validation', () => {
  it('requires the kuma.io/service tag on inbounds and outbounds, and an address', () => {
    // given / when
    const errors = errorsOf({
      type: 'Dataplane',
      name: 'web-01',
      networking: { inbound: [{ port: 8080, tags: { version: 'v1' } }], outbound: [{ port: 10001, tags: { 'kuma.io/servce': 'x' } }] },
    });
    // then
    expect(errors).toEqual([
      'mesh.yaml#2 Dataplane/web-01: networking.address: required field is missing',
      'mesh.yaml#2 Dataplane/web-01: networking.inbound[0].tags: tag "kuma.io/service" is required',
      'mesh.yaml#2 Dataplane/web-01: networking.outbound[0].tags: tag "kuma.io/service" is required',
    ]);
  });

  it('accepts a dataplane with only outbounds, but not one with neither', () => {
    // given / when
    const outboundOnly = validateResource({ type: 'Dataplane', name: 'client', networking: { address: '10.0.0.7', outbound: [{ port: 1, tags: { 'kuma.io/service': 'b' } }] } });
    const neither = errorsOf({ type: 'Dataplane', name: 'idle', networking: { address: '10.0.0.1' } });
    // then
    expect(outboundOnly.ok && outboundOnly.value).toMatchObject({ networking: { inbound: [], outbound: [{ port: 1 }] } });
    expect(neither).toEqual(['mesh.yaml#2 Dataplane/idle: networking: at least one inbound or outbound is required']);
  });

  it('names the path of type errors: ports, tag values, duplicate ports', () => {
    // given / when
    const errors = errorsOf({
      type: 'Dataplane',
      name: 'web-01',
      networking: {
        address: '10.0.0.1',
        inbound: [
          { port: '8080', tags: { 'kuma.io/service': 'web', version: 1 } },
          { port: 8081, servicePort: 0, tags: { 'kuma.io/service': 'web' } },
          { port: 8081, tags: { 'kuma.io/service': 'web' } },
        ],
      },
    });
    // then
    expect(errors).toEqual([
      'mesh.yaml#2 Dataplane/web-01: networking.inbound[0].port: expected integer port 1-65535, got string "8080"',
      'mesh.yaml#2 Dataplane/web-01: networking.inbound[0].tags.version: expected a non-empty string, got number 1 (quote it)',
      'mesh.yaml#2 Dataplane/web-01: networking.inbound[1].servicePort: expected integer port 1-65535, got number 0',
      'mesh.yaml#2 Dataplane/web-01: networking.inbound[2].port: port 8081 is already used by networking.inbound[1]',
    ]);
  });
});

describe('Service validation', () => {
  it('defaults endpoints to an empty list but requires a list when present', () => {
    // given / when
    const none = validateResource({ type: 'Service', name: 'ext' });
    const notList = errorsOf({ type: 'Service', name: 'ext', endpoints: { address: '1.2.3.4' } });
    // then
    expect(none.ok && none.value).toEqual({ type: 'Service', name: 'ext', mesh: 'default', endpoints: [] });
    expect(notList).toEqual(['mesh.yaml#2 Service/ext: endpoints: expected a list, got a mapping']);
  });

  it('checks endpoints and tls fields', () => {
    // given / when
    const errors = errorsOf({ type: 'Service', name: 'ext', endpoints: [{ address: 'not an address', port: 99999 }], tls: { caSecrets: 'ca' } });
    // then
    expect(errors).toEqual([
      'mesh.yaml#2 Service/ext: endpoints[0].address: invalid address "not an address": expected an IP address or a hostname',
      'mesh.yaml#2 Service/ext: endpoints[0].port: expected integer port 1-65535, got number 99999',
      'mesh.yaml#2 Service/ext: tls.caSecrets: unknown field "caSecrets", did you mean "caSecret"?',
    ]);
  });

  it('accepts IPv6 endpoint addresses', () => {
    // given / when
    const result = validateResource({ type: 'Service', name: 'v6', endpoints: [{ address: '::1', port: 80 }] });
    // then
    expect(result.ok).toBe(true);
  });
});

describe('Gateway validation', () => {
  it('needs at least one listener with a valid, unique port', () => {
    // given / when
    const none = errorsOf({ type: 'Gateway', name: 'edge', listeners: [] });
    const dup = errorsOf({ type: 'Gateway', name: 'edge', listeners: [{ port: 8443 }, { port: 8443 }, { port: 1.5 }] });
    // then
    expect(none).toEqual(['mesh.yaml#2 Gateway/edge: listeners: must have at least one entry']);
    expect(dup).toEqual([
      'mesh.yaml#2 Gateway/edge: listeners[1].port: port 8443 is already used by listeners[0]',
      'mesh.yaml#2 Gateway/edge: listeners[2].port: expected integer port 1-65535, got number 1.5',
    ]);
  });
});

describe('TrafficPermission validation', () => {
  it("accepts '*' values", () => {
    // given / when
    const result = validateResource({ type: 'TrafficPermission', name: 'all', sources: [{ match: { 'kuma.io/service': '*' } }], destinations: [{ match: { 'kuma.io/service': '*' } }] });
    // then
    expect(result.ok).toBe(true);
  });

  it('needs non-empty sources and destinations, each with a non-empty match', () => {
    // given / when
    const errors = errorsOf({ type: 'TrafficPermission', name: 'tp', sources: [], destinations: [{ match: {} }, { matches: { a: 'b' } }] });
    // then
    expect(errors).toEqual([
      'mesh.yaml#2 TrafficPermission/tp: sources: must have at least one entry',
      'mesh.yaml#2 TrafficPermission/tp: destinations[0].match: must have at least one entry',
      'mesh.yaml#2 TrafficPermission/tp: destinations[1].matches: unknown field "matches", did you mean "match"?',
      'mesh.yaml#2 TrafficPermission/tp: destinations[1].match: required field is missing',
    ]);
  });
});
