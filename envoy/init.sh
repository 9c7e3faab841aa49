#!/bin/sh
# One-shot init for the docker-compose demo, also run by test/compose (without Docker):
# certificates (meshcp ca create / cert issue), the Secrets the Route names, dataplane tokens
# and Envoy bootstraps (meshcp bootstrap envoy). Everything lands in $OUT.
# xDS is TLS (SPEC §2): this step runs before meshcp, so it makes meshcp's xDS certificate itself
# (served with --xds-tls-cert/--xds-tls-key, for the DNS name the proxies dial) and writes its CA
# into every bootstrap with --ca-cert.
#   MESHCP       how to run meshcp            (default: meshcp)
#   OUT          output directory             (default: /shared)
#   DATA         meshcp's data dir, for tokens (default: /data)
#   XDS_ADDRESS  meshcp's xDS address as the proxies reach it (default: meshcp:5678); its host is
#                the DNS name in meshcp's xDS certificate
set -eu
MESHCP=${MESHCP:-meshcp}
OUT=${OUT:-/shared}
DATA=${DATA:-/data}
XDS_ADDRESS=${XDS_ADDRESS:-meshcp:5678}
XDS_HOST=${XDS_ADDRESS%:*}
mkdir -p "$OUT/certs" "$OUT/config" "$OUT/tokens" "$OUT/bootstrap"

if [ ! -f "$OUT/certs/my-root-ca.crt" ]; then
  $MESHCP ca create my-root-ca --out "$OUT/certs"
  $MESHCP cert issue client --ca "$OUT/certs/my-root-ca.crt" --ca-key "$OUT/certs/my-root-ca.key" --dns client.acme.org --client --out "$OUT/certs"
  $MESHCP cert issue ecommerce --ca "$OUT/certs/my-root-ca.crt" --ca-key "$OUT/certs/my-root-ca.key" --dns ecommerce.acme.org --server --out "$OUT/certs"
fi
if [ ! -f "$OUT/certs/xds-ca.crt" ]; then
  $MESHCP ca create xds-ca --out "$OUT/certs"
  $MESHCP cert issue meshcp-xds --ca "$OUT/certs/xds-ca.crt" --ca-key "$OUT/certs/xds-ca.key" --dns "$XDS_HOST" --server --out "$OUT/certs"
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
  $MESHCP bootstrap envoy --name "$proxy" --mesh default --token-file "$OUT/tokens/$proxy.token" --xds-address "$XDS_ADDRESS" --ca-cert "$OUT/certs/xds-ca.crt" > "$OUT/bootstrap/$proxy.yaml"
done
echo "init done: certificates, secrets, tokens and bootstraps in $OUT"
