import { isIP } from 'node:net';
import type { EndpointModel } from './model.js';

/**
 * The endpoint of a service reached by name, when that is how it is reached: its only endpoint,
 * given as a host name (a DNS cluster carries it; EDS carries IP addresses only).
 */
export function dnsEndpoint(endpoints: readonly EndpointModel[]): EndpointModel | undefined {
  const [only] = endpoints;
  return endpoints.length === 1 && only !== undefined && isIP(only.address) === 0 ? only : undefined;
}
