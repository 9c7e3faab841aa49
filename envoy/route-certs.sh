# Sourced by envoy/init.sh and envoy/init-etcd.sh (needs MESHCP and OUT): the edge route's
# certificates as in the Kalix docs (a client CA, a client certificate, the route's server
# certificate; `meshcp ca create` / `cert issue`) and the Secrets the Route names. Also
# `move_ca_keys`, which the init scripts call last.
CA_KEYS=${CA_KEYS:-/ca-keys}

# Where a CA key is now: still beside its certificate, or already moved to $CA_KEYS (a re-run).
ca_key() {
  if [ -f "$1" ]; then echo "$1"; else echo "$CA_KEYS/$(basename "$1")"; fi
}

# Every CA key (*-ca.key) under $OUT moves to $CA_KEYS (an init-only volume): it has signed what it
# had to, and no running container needs it.
move_ca_keys() {
  mkdir -p "$CA_KEYS"
  chmod 0700 "$CA_KEYS"
  for key in "$OUT"/certs/*-ca.key "$OUT"/etcd/*-ca.key; do
    [ -f "$key" ] && mv "$key" "$CA_KEYS/"
  done
  return 0
}
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
