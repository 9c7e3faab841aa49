/**
 * Examples at the end of `--help` (kubectl and kumactl print them). Kept in one place
 * so the commands' own files stay about behaviour; a command that already has examples (route,
 * secret, ca, cert issue, completion) is left alone.
 */
import type { Command } from 'commander';

const EXAMPLES: Readonly<Record<string, string>> = {
  '': `
Examples:
  meshcp serve --config ./resources                 # xDS on :5678, admin API on 127.0.0.1:5681
  meshcp apply -f routes.yaml
  meshcp get routes -o wide
  meshcp secret create tls-ca my-root-ca --cert ./my-root-ca.crt
  meshcp route create my-route --hostname ecommerce.acme.org --path /=shopping-cart --client-ca-secret my-root-ca
  meshcp inspect dataplanes
  source <(meshcp completion bash)

Environment: MESHCP_SERVER, MESHCP_CA_CERT, MESHCP_CLIENT_CERT, MESHCP_CLIENT_KEY (admin API client),
MESHCP_LOG_LEVEL, MESHCP_LOG_FORMAT.`,
  serve: `
Examples:
  meshcp serve --config ./resources --data-dir ./.meshcp
  meshcp serve --xds-address 127.0.0.1:5678 --admin-address 127.0.0.1:5681 --log-level debug
  meshcp serve --admin-tls-cert admin.crt --admin-tls-key admin.key --admin-client-ca clients-ca.crt`,
  apply: `
Examples:
  meshcp apply -f mesh.yaml -f routes.yaml
  meshcp apply -f ./resources/                      # every YAML file in the directory
  cat route.yaml | meshcp apply -f -
  meshcp apply -f routes.yaml --dry-run`,
  get: `
Examples:
  meshcp get routes
  meshcp get secrets -o wide                        # every column, e.g. fingerprints
  meshcp get route my-route -o yaml > my-route.yaml
  meshcp get dataplanes -m default -o json`,
  delete: `
Examples:
  meshcp delete route my-route
  meshcp delete secret my-root-ca -m default`,
  bootstrap: `
Examples:
  meshcp bootstrap envoy --name edge --token-file edge.token > envoy.yaml
  meshcp bootstrap grpc --name web-01 --token-file web-01.token --cert-dir ./certs > bootstrap.json`,
  agent: `
Examples:
  meshcp agent --name web-01 --token-file web-01.token --cert-dir ./certs`,
  token: `
Examples:
  meshcp token generate --name web-01 --mesh default --valid-for 24h > web-01.token`,
  inspect: `
Examples:
  meshcp inspect dataplanes
  meshcp inspect dataplane web-01 --config-dump`,
  validate: `
Examples:
  meshcp validate -f ./resources/
  meshcp validate -f route.yaml -f secrets.yaml`,
  cert: `
Examples:
  meshcp cert issue "My Client" --ca my-root-ca.crt --ca-key my-root-ca.key --client
  meshcp cert check --cert my-client.crt --route my-route`,
};

export function addExamples(program: Command): void {
  for (const [name, text] of Object.entries(EXAMPLES)) {
    const command = name === '' ? program : program.commands.find((c) => c.name() === name);
    command?.addHelpText('after', text);
  }
}
