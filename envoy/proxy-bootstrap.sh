# Sourced by envoy/tokens.sh and envoy/init-etcd.sh (needs MESHCP): each Envoy gets its own
# directory (its own compose volume) holding only its bootstrap, with its own short-lived token
# inside, readable only by the Envoy user. No token is kept anywhere else, and no Envoy sees
# another proxy's token or any key.
#   PROXIES         where the per-proxy directories are            (default: /proxies)
#   TOKEN_VALIDITY  lifetime of each dataplane token               (default: 24h; renew by running the step again)
#   ENVOY_UID       the user the official Envoy image runs as      (default: 101)
PROXIES=${PROXIES:-/proxies}
TOKEN_VALIDITY=${TOKEN_VALIDITY:-24h}
ENVOY_UID=${ENVOY_UID:-101}

# write_bootstrap PROXY TOKEN_FLAGS BOOTSTRAP_ARGS…: TOKEN_FLAGS is one word list for
# `meshcp token generate` (where the signing key is), BOOTSTRAP_ARGS go to `meshcp bootstrap envoy`.
write_bootstrap() {
  proxy=$1
  token_flags=$2
  shift 2
  dir="$PROXIES/$proxy"
  mkdir -p "$dir"
  (
    umask 077
    token_file=$(mktemp "$dir/.token.XXXXXX")
    trap 'rm -f "$token_file" "$dir/.bootstrap.yaml"' EXIT
    # shellcheck disable=SC2086 # the flag list is meant to split
    $MESHCP token generate --name "$proxy" --mesh default --valid-for "$TOKEN_VALIDITY" $token_flags > "$token_file"
    $MESHCP bootstrap envoy --name "$proxy" --mesh default --token-file "$token_file" "$@" > "$dir/.bootstrap.yaml"
    chown "$ENVOY_UID:$ENVOY_UID" "$dir/.bootstrap.yaml"
    chmod 0400 "$dir/.bootstrap.yaml"
    mv "$dir/.bootstrap.yaml" "$dir/bootstrap.yaml"
  )
  chown "$ENVOY_UID:$ENVOY_UID" "$dir"
  chmod 0500 "$dir"
}
