/** The Kuma tags meshcp reads (SPEC §1 Dataplane): the one place they are spelled. */

/** The service an inbound serves, or an outbound calls. Required on every inbound and outbound. */
export const SERVICE_TAG = 'kuma.io/service';

/** The protocol of an inbound: `http`, `http2`, `grpc`; anything else (or none) is TCP. */
export const PROTOCOL_TAG = 'kuma.io/protocol';
