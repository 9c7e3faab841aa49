/**
 * Commands and flags typed as kumactl, kubectl or the akka CLI spell them: an unknown command or
 * option names the meshcp spelling, on the same error line (`error: unknown command 'generate'
 * …; meshcp spells it: meshcp token generate --name NAME`). Commander reports both through
 * `error()`, which every command of the program inherits from {@link MeshcpCommand}.
 */
import { Command, type ErrorOptions } from 'commander';

interface CommandHint {
  /** The words typed, from the program (`generate dataplane-token`); the first one is the unknown command. */
  readonly words: readonly string[];
  readonly hint: string;
}

const COMMAND_HINTS: readonly CommandHint[] = [
  { words: ['generate', 'dataplane-token'], hint: 'meshcp token generate --name NAME [-m MESH] [--valid-for 720h] (kumactl generate dataplane-token)' },
  { words: ['generate', 'tls-certificate'], hint: 'meshcp cert issue NAME --ca CA.crt --ca-key CA.key (kumactl generate tls-certificate)' },
  { words: ['generate'], hint: 'meshcp token generate (dataplane tokens), meshcp cert issue (certificates), meshcp ca create (a CA)' },
  { words: ['describe'], hint: 'meshcp get TYPE NAME -o yaml, or meshcp inspect dataplane NAME (kubectl describe)' },
  { words: ['create'], hint: 'meshcp apply -f FILE, meshcp route create NAME, or meshcp secret create tls|tls-ca NAME (kubectl create)' },
  { words: ['list'], hint: 'meshcp get TYPE (e.g. meshcp get routes), meshcp route list, meshcp secret list' },
  { words: ['install'], hint: 'meshcp serve (the control plane), meshcp bootstrap envoy (a proxy), meshcp agent (a proxyless app)' },
];

interface OptionHint {
  readonly flags: readonly string[];
  readonly hint: string;
}

const OPTION_HINTS: readonly OptionHint[] = [
  { flags: ['-n', '--namespace'], hint: 'meshcp scopes by mesh: -m, --mesh MESH (kubectl -n)' },
  { flags: ['--project', '--owner', '--region', '--force-global', '--force-regional'], hint: 'meshcp has no projects or regions: resources live in a mesh (-m, --mesh MESH) on the server of --server' },
  { flags: ['--file'], hint: 'meshcp spells it -f, --filename FILE' },
  { flags: ['--context', '--kubeconfig'], hint: 'meshcp talks to the admin API of --server URL (env MESHCP_SERVER)' },
  { flags: ['--http-basic-credentials'], hint: 'meshcp routes do not take HTTP basic credentials: require client certificates with --client-ca-secret (and --client-certificate-subject)' },
];

/** The meshcp spelling for what `command` could not parse, if it is one meshcp knows. */
export function spellingHint(command: Command, message: string, code: string | undefined): string | undefined {
  if (code === 'commander.unknownCommand') {
    const words = command.args;
    const found = COMMAND_HINTS.find((h) => h.words.every((w, i) => words[i] === w));
    return found ? `meshcp spells it: ${found.hint}` : undefined;
  }
  if (code === 'commander.unknownOption') {
    const flag = /unknown option '([^']+)'/.exec(message)?.[1]?.split('=', 1)[0];
    const found = flag !== undefined ? OPTION_HINTS.find((h) => h.flags.includes(flag)) : undefined;
    return found ? `meshcp spells it: ${found.hint}` : undefined;
  }
  return undefined;
}

/** The program's command class: every subcommand is one (createCommand), so each error passes here. */
export class MeshcpCommand extends Command {
  override createCommand(name?: string): MeshcpCommand {
    return new MeshcpCommand(name);
  }

  override error(message: string, errorOptions?: ErrorOptions): never {
    const hint = spellingHint(this, message, errorOptions?.code);
    return super.error(hint === undefined ? message : `${message.replace(/\.?$/, '')}; ${hint}`, errorOptions);
  }
}
