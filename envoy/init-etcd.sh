#!/bin/sh
# Init for the etcd variant of the docker-compose demo (docker-compose.etcd.yml, issue #12): two
# meshcp replicas on one etcd, over mTLS. Also run by test/compose/compose-etcd.test.ts (without
# Docker, against a local etcd started with the compose file's flags). Two phases:
#
#   init-etcd.sh pki     before etcd starts: etcd's CA, its server certificate and meshcp's client
#                        certificate (etcd runs with --client-cert-auth), the key that encrypts
#                        private keys in etcd, the demo's certificates (client CA, route server
#                        certificate), and an xDS certificate per replica for its compose name,
#                        signed by one xDS CA the Envoys trust (the replicas serve them with
#                        --xds-tls-cert/--xds-tls-key: this runs before any replica exists).
#   init-etcd.sh tokens  once etcd is healthy: a short-lived dataplane token per proxy, signed with
#                        the key the replicas share in etcd (`meshcp token generate --store etcd://…`
#                        creates it if it is not there yet, create-if-absent, so a replica starting
#                        at the same time ends with the same key), inside each Envoy's bootstrap
#                        listing every replica, in that Envoy's own directory (proxy-bootstrap.sh).
#
# CA keys (etcd's, the xDS CA's, the route client CA's) move to $CA_KEYS once they have signed.
#
#   MESHCP         how to run meshcp                                   (default: meshcp)
#   OUT            the shared directory                                (default: /shared)
#   ETCD_HOST      etcd's name in its server certificate               (default: etcd)
#   STORE          meshcp's --store URL                                (default: etcd://etcd:2379)
#   XDS_ADDRESSES  the replicas' xDS addresses as the proxies reach them, comma-separated; each host
#                  is the DNS name in that replica's xDS certificate   (default: meshcp-1:5678,meshcp-2:5678)
set -eu
MESHCP=${MESHCP:-meshcp}
OUT=${OUT:-/shared}
ETCD_HOST=${ETCD_HOST:-etcd}
STORE=${STORE:-etcd://etcd:2379}
XDS_ADDRESSES=${XDS_ADDRESSES:-meshcp-1:5678,meshcp-2:5678}
PHASE=${1:-}

pki() {
  mkdir -p "$OUT/etcd" "$OUT/certs" "$OUT/config"
  if [ ! -f "$OUT/etcd/etcd-ca.crt" ]; then
    $MESHCP ca create etcd-ca --out "$OUT/etcd"
    # localhost and 127.0.0.1: etcd's own health check dials it there.
    $MESHCP cert issue etcd-server --ca "$OUT/etcd/etcd-ca.crt" --ca-key "$OUT/etcd/etcd-ca.key" --dns "$ETCD_HOST" --dns localhost --ip 127.0.0.1 --server --out "$OUT/etcd"
    $MESHCP cert issue meshcp --ca "$OUT/etcd/etcd-ca.crt" --ca-key "$OUT/etcd/etcd-ca.key" --client --out "$OUT/etcd"
  fi
  # The same file on every replica, never in etcd (SPEC §5).
  if [ ! -f "$OUT/etcd/store.key" ]; then
    (umask 077 && head -c 32 /dev/urandom | base64 > "$OUT/etcd/store.key")
  fi

  . "$(dirname "$0")/route-certs.sh"
  if [ ! -f "$OUT/certs/xds-ca.crt" ]; then
    $MESHCP ca create xds-ca --out "$OUT/certs"
  fi
  for address in $(echo "$XDS_ADDRESSES" | tr ',' ' '); do
    host=${address%:*}
    if [ ! -f "$OUT/certs/$host-xds.crt" ]; then
      $MESHCP cert issue "$host-xds" --ca "$OUT/certs/xds-ca.crt" --ca-key "$(ca_key "$OUT/certs/xds-ca.key")" --dns "$host" --server --out "$OUT/certs"
    fi
  done

  move_ca_keys
  echo "init-etcd pki done: etcd and xDS certificates, the store encryption key and the demo certificates in $OUT"
}

tokens() {
  . "$(dirname "$0")/proxy-bootstrap.sh"
  store_flags="--store $STORE --store-ca-cert $OUT/etcd/etcd-ca.crt --store-cert $OUT/etcd/meshcp.crt --store-key $OUT/etcd/meshcp.key --store-encryption-key-file $OUT/etcd/store.key"
  xds_flags=""
  for address in $(echo "$XDS_ADDRESSES" | tr ',' ' '); do xds_flags="$xds_flags --xds-address $address"; done
  for proxy in edge web backend; do
    # shellcheck disable=SC2086 # the flag list is meant to split
    write_bootstrap "$proxy" "$store_flags" $xds_flags --xds-ca-cert "$OUT/certs/xds-ca.crt"
  done
  echo "init-etcd tokens done: a bootstrap per proxy with a $TOKEN_VALIDITY token (signed with the key in $STORE), listing $XDS_ADDRESSES, in $PROXIES/<proxy>/bootstrap.yaml"
}

case "$PHASE" in
  pki) pki ;;
  tokens) tokens ;;
  *) echo "usage: init-etcd.sh pki|tokens (pki before etcd starts, tokens once it is healthy)" >&2; exit 2 ;;
esac
