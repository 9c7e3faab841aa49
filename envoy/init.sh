#!/bin/sh
# One-shot init for the docker-compose demo, also run by test/compose (without Docker):
# certificates (meshcp ca create / cert issue) and the Secrets the Route names. Everything lands
# in $OUT. Dataplane tokens and Envoy bootstraps come next, from the running control plane
# (envoy/tokens.sh), as `kumactl generate dataplane-token` asks Kuma's.
# xDS is TLS (SPEC §2): this step runs before meshcp, so it makes meshcp's xDS certificate itself
# (served with --xds-tls-cert/--xds-tls-key, for the DNS name the proxies dial) and writes its CA
# into every bootstrap with --xds-ca-cert.
#   MESHCP       how to run meshcp            (default: meshcp)
#   OUT          output directory             (default: /shared)
#   XDS_ADDRESS  meshcp's xDS address as the proxies reach it (default: meshcp:5678); its host is
#                the DNS name in meshcp's xDS certificate
#   CA_KEYS      where the CA keys go once they have signed: a volume only init mounts (default: /ca-keys)
set -eu
MESHCP=${MESHCP:-meshcp}
OUT=${OUT:-/shared}
XDS_ADDRESS=${XDS_ADDRESS:-meshcp:5678}
XDS_HOST=${XDS_ADDRESS%:*}
. "$(dirname "$0")/route-certs.sh"

# The admin API listens on the compose network, so it requires client certificates (meshcp refuses
# a non-loopback admin address without --admin-client-ca): a CA, meshcp's admin server certificate
# and one client certificate for the CLI inside the meshcp container.
if [ ! -f "$OUT/certs/admin-ca.crt" ]; then
  $MESHCP ca create admin-ca --out "$OUT/certs"
  $MESHCP cert issue meshcp-admin --ca "$OUT/certs/admin-ca.crt" --ca-key "$OUT/certs/admin-ca.key" --dns localhost --dns meshcp --ip 127.0.0.1 --server --out "$OUT/certs"
  $MESHCP cert issue admin-client --ca "$OUT/certs/admin-ca.crt" --ca-key "$OUT/certs/admin-ca.key" --dns admin-client --client --out "$OUT/certs"
fi
if [ ! -f "$OUT/certs/xds-ca.crt" ]; then
  $MESHCP ca create xds-ca --out "$OUT/certs"
  $MESHCP cert issue meshcp-xds --ca "$OUT/certs/xds-ca.crt" --ca-key "$OUT/certs/xds-ca.key" --dns "$XDS_HOST" --server --out "$OUT/certs"
fi

# CA keys only sign here, at init: they go to the init-only volume, out of what meshcp mounts.
move_ca_keys

echo "init done: certificates and secrets in $OUT (tokens and bootstraps: envoy/tokens.sh, once meshcp runs)"
