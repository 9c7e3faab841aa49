/**
 * TLS to meshcp at an IP address without an IP in SNI. RFC 6066 allows only host names there, and
 * Node warns (DEP0123) when a client sets one; grpc-js sets the server name to the target host
 * whatever it is, so every agent dialing `127.0.0.1:5678`, and every replica reaching etcd at
 * `127.0.0.1:2379` over TLS, printed that warning, inside its JSON log. Dropping the server name for an IP target sends no SNI; the server certificate is still
 * checked against the IP, because tls.connect falls back to the `host` grpc-js also sets.
 */
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import type * as grpc from '@grpc/grpc-js';

type ConnectorFactory = grpc.ChannelCredentials['_createSecureConnector'];

export function withoutIpServerName(credentials: grpc.ChannelCredentials): grpc.ChannelCredentials {
  // The same credentials (prototype chain: instanceof, _equals, compose), with one method wrapped.
  const wrapped = Object.create(credentials) as grpc.ChannelCredentials;
  const create: ConnectorFactory = (target, options, callCredentials) => {
    const connector = credentials._createSecureConnector(target, options, callCredentials);
    const connection = (connector as { connectionOptions?: ConnectionOptions }).connectionOptions;
    if (connection?.servername !== undefined && isIP(connection.servername) !== 0) delete connection.servername;
    return connector;
  };
  Object.defineProperty(wrapped, '_createSecureConnector', { value: create });
  return wrapped;
}
