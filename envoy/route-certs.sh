# Sourced by envoy/init.sh and envoy/init-etcd.sh (needs MESHCP and OUT): the edge route's
# certificates as in the Kalix docs (a client CA, a client certificate, the route's server
# certificate; `meshcp ca create` / `cert issue`) and the Secrets the Route names.
mkdir -p "$OUT/certs" "$OUT/config"
if [ ! -f "$OUT/certs/my-root-ca.crt" ]; then
  $MESHCP ca create my-root-ca --out "$OUT/certs"
  $MESHCP cert issue client --ca "$OUT/certs/my-root-ca.crt" --ca-key "$OUT/certs/my-root-ca.key" --dns client.acme.org --client --out "$OUT/certs"
  $MESHCP cert issue ecommerce --ca "$OUT/certs/my-root-ca.crt" --ca-key "$OUT/certs/my-root-ca.key" --dns ecommerce.acme.org --server --out "$OUT/certs"
fi
# certFile/keyFile are read relative to this file.
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
