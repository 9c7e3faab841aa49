#!/bin/sh
# Second step of the docker-compose demo, once meshcp serves: for each proxy a short-lived dataplane
# token from the control plane (`meshcp token generate` through the admin API over mTLS, as
# `kumactl generate dataplane-token` does) and its Envoy bootstrap (`meshcp bootstrap envoy`,
# trusting the xDS CA made by envoy/init.sh), written into that proxy's own directory
# (envoy/proxy-bootstrap.sh: one compose volume per Envoy, readable by the Envoy user only). Also run
# by test/compose against a real meshcp serve (without Docker). Run it again to renew the tokens.
#   MESHCP        how to run meshcp                                  (default: meshcp)
#   OUT           the shared directory init.sh wrote (read only)      (default: /shared)
#   XDS_ADDRESS   meshcp's xDS address as the proxies reach it        (default: meshcp:5678)
#   PROXIES, TOKEN_VALIDITY, ENVOY_UID: see envoy/proxy-bootstrap.sh
#   MESHCP_SERVER, MESHCP_CA_CERT, MESHCP_CLIENT_CERT, MESHCP_CLIENT_KEY: the admin API and its mTLS files
set -eu
MESHCP=${MESHCP:-meshcp}
OUT=${OUT:-/shared}
XDS_ADDRESS=${XDS_ADDRESS:-meshcp:5678}
. "$(dirname "$0")/proxy-bootstrap.sh"

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
  write_bootstrap "$proxy" "" --xds-address "$XDS_ADDRESS" --xds-ca-cert "$OUT/certs/xds-ca.crt"
done
echo "tokens done: a bootstrap with a $TOKEN_VALIDITY token per proxy in $PROXIES/<proxy>/bootstrap.yaml"
