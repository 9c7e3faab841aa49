#!/bin/sh
# One-shot init for the docker-compose demo, also run by test/compose (without Docker):
# certificates (meshcp ca create / cert issue), the Secrets the Route names, dataplane tokens
# and Envoy bootstraps (meshcp bootstrap envoy). Everything lands in $OUT.
#   MESHCP       how to run meshcp            (default: meshcp)
#   OUT          output directory             (default: /shared)
#   DATA         meshcp's data dir, for tokens (default: /data)
#   XDS_ADDRESS  meshcp's xDS address as the proxies reach it (default: 172.28.0.10:5678)
set -eu
MESHCP=${MESHCP:-meshcp}
OUT=${OUT:-/shared}
DATA=${DATA:-/data}
XDS_ADDRESS=${XDS_ADDRESS:-172.28.0.10:5678}
mkdir -p "$OUT/certs" "$OUT/config" "$OUT/tokens" "$OUT/bootstrap"

if [ ! -f "$OUT/certs/my-root-ca.crt" ]; then
  $MESHCP ca create my-root-ca --out "$OUT/certs"
  $MESHCP cert issue client --ca "$OUT/certs/my-root-ca.crt" --ca-key "$OUT/certs/my-root-ca.key" --dns client.acme.org --client --out "$OUT/certs"
  $MESHCP cert issue ecommerce --ca "$OUT/certs/my-root-ca.crt" --ca-key "$OUT/certs/my-root-ca.key" --dns ecommerce.acme.org --server --out "$OUT/certs"
fi

# The Secrets the Route names (certFile/keyFile are read relative to this file).
cat > "$OUT/config/secrets.yaml" <<YAML
type: Secret
name: my-root-ca
secretType: tls-ca
certFile: ../certs/my-root-ca.crt
---
type: Secret
name: my-tls-cert
secretType: tls
certFile: ../certs/ecommerce.crt
keyFile: ../certs/ecommerce.key
YAML

for proxy in edge web backend; do
  $MESHCP token generate --name "$proxy" --mesh default --valid-for 8760h --data-dir "$DATA" > "$OUT/tokens/$proxy.token"
  $MESHCP bootstrap envoy --name "$proxy" --mesh default --token-file "$OUT/tokens/$proxy.token" --xds-address "$XDS_ADDRESS" > "$OUT/bootstrap/$proxy.yaml"
done
echo "init done: certificates, secrets, tokens and bootstraps in $OUT"
