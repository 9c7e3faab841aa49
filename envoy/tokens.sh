#!/bin/sh
# Second step of the docker-compose demo, once meshcp serves: a dataplane token per proxy from the
# control plane (`meshcp token generate` through the admin API over mTLS, as `kumactl generate
# dataplane-token` does), then each Envoy bootstrap (`meshcp bootstrap envoy`, trusting the xDS
# CA made by envoy/init.sh). Also run by test/compose against a real meshcp serve (without Docker).
#   MESHCP        how to run meshcp                                  (default: meshcp)
#   OUT           the shared directory init.sh wrote                  (default: /shared)
#   XDS_ADDRESS   meshcp's xDS address as the proxies reach it        (default: meshcp:5678)
#   MESHCP_SERVER, MESHCP_CA_CERT, MESHCP_CLIENT_CERT, MESHCP_CLIENT_KEY: the admin API and its mTLS files
set -eu
MESHCP=${MESHCP:-meshcp}
OUT=${OUT:-/shared}
XDS_ADDRESS=${XDS_ADDRESS:-meshcp:5678}
mkdir -p "$OUT/tokens" "$OUT/bootstrap"

# meshcp starts alongside this step: wait (bounded) until its admin API answers.
tries=0
until $MESHCP get meshes >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "meshcp's admin API at $MESHCP_SERVER did not answer within 60 s:" >&2
    $MESHCP get meshes >&2 || true
    exit 1
  fi
  sleep 1
done

for proxy in edge web backend; do
  $MESHCP token generate --name "$proxy" --mesh default --valid-for 8760h > "$OUT/tokens/$proxy.token"
  $MESHCP bootstrap envoy --name "$proxy" --mesh default --token-file "$OUT/tokens/$proxy.token" --xds-address "$XDS_ADDRESS" --ca-cert "$OUT/certs/xds-ca.crt" > "$OUT/bootstrap/$proxy.yaml"
done
echo "tokens done: tokens and bootstraps in $OUT"
