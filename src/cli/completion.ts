/**
 * `meshcp completion bash|zsh|fish` (kubectl, kumactl and the akka CLI all have one). Each script
 * asks the bin itself, `meshcp __complete WORDS…` (as cobra's `__complete` does), so one
 * completer serves every shell and follows the command tree: commands, subcommands and aliases,
 * flags, resource types, `-o` values, and resource names read from the admin API (--server,
 * MESHCP_SERVER). When it has nothing to offer, the shell completes file names.
 */
import { Argument, type Command, type Option } from 'commander';
import { knownTypeNames, parseKind } from '../admin/kinds.js';
import type { ResourceKind } from '../api/types.js';
import { LOG_FORMATS, LOG_LEVELS } from '../log/logger.js';
import { AdminClient, DEFAULT_SERVER } from './admin-client.js';
import { CliError, type CliIo } from './output.js';

const SHELLS = ['bash', 'zsh', 'fish'] as const;

/** How long a TAB may wait for the admin API before offering nothing. */
const NAMES_TIMEOUT_MS = 1500;

/** `table (fits 120 columns) | wide (…) | yaml` → table, wide, yaml: the values an `-o` description lists. */
function listedValues(description: string): string[] {
  return description
    .split('|')
    .map((part) => /^\s*([a-z][a-z0-9-]*)/.exec(part)?.[1])
    .filter((v): v is string => v !== undefined);
}

function takesValue(option: Option): boolean {
  return option.required || option.optional;
}

/** The options in force at `command`: its own and its ancestors' (the global --log-level, --log-format). */
function optionsOf(command: Command): Option[] {
  const out: Option[] = [];
  for (let c: Command | null = command; c; c = c.parent) out.push(...c.options);
  return out;
}

function findOption(command: Command, flag: string): Option | undefined {
  return optionsOf(command).find((o) => o.long === flag || o.short === flag);
}

interface Parsed {
  readonly command: Command;
  readonly path: string;
  readonly positionals: readonly string[];
  /** Option values given so far, by attribute name (server, mesh…). */
  readonly values: ReadonlyMap<string, string>;
  /** The option whose value the current word is. */
  readonly pendingOption?: Option;
}

function parseWords(program: Command, words: readonly string[]): Parsed {
  let command = program;
  let path = '';
  const positionals: string[] = [];
  const values = new Map<string, string>();
  let pending: Option | undefined;
  for (const word of words) {
    if (pending) {
      values.set(pending.attributeName(), word);
      pending = undefined;
      continue;
    }
    if (word.startsWith('-')) {
      const [flag, inline] = word.split('=', 2) as [string, string | undefined];
      const option = findOption(command, flag);
      if (option && takesValue(option)) {
        if (inline !== undefined) values.set(option.attributeName(), inline);
        else pending = option;
      }
      continue;
    }
    const sub = positionals.length === 0 ? command.commands.find((c) => c.name() === word || c.aliases().includes(word)) : undefined;
    if (sub) {
      command = sub;
      path = path === '' ? sub.name() : `${path} ${sub.name()}`;
      continue;
    }
    positionals.push(word);
  }
  return { command, path, positionals, values, ...(pending ? { pendingOption: pending } : {}) };
}

/** Which resource's names complete the positional at `index` of `path`, given the positionals before it. */
function namesWanted(path: string, positionals: readonly string[], index: number): ResourceKind | undefined {
  if ((path === 'get' || path === 'delete') && index === 1) return parseKind(positionals[0] ?? '');
  if (index !== 0) return undefined;
  if (/^route (get|update|export|edit|delete)$/.test(path)) return 'Route';
  if (/^secret (get|delete)$/.test(path)) return 'Secret';
  if (path === 'inspect dataplane') return 'Dataplane';
  return undefined;
}

function firstSet(...values: (string | undefined)[]): string | undefined {
  return values.find((v) => v !== undefined && v !== '');
}

/** The names of `kind` from the admin API the command line points at; none when it cannot answer quickly. */
async function resourceNames(kind: ResourceKind, values: ReadonlyMap<string, string>): Promise<string[]> {
  const env = process.env;
  const adminCaCert = firstSet(values.get('adminCaCert'), values.get('caCert'), env['MESHCP_ADMIN_CA_CERT'], env['MESHCP_CA_CERT']);
  const clientCert = firstSet(values.get('clientCert'), env['MESHCP_CLIENT_CERT']);
  const clientKey = firstSet(values.get('clientKey'), env['MESHCP_CLIENT_KEY']);
  try {
    const client = new AdminClient({
      server: firstSet(values.get('server'), env['MESHCP_SERVER']) ?? DEFAULT_SERVER,
      ...(adminCaCert !== undefined ? { adminCaCert } : {}),
      ...(clientCert !== undefined ? { clientCert } : {}),
      ...(clientKey !== undefined ? { clientKey } : {}),
    }, { timeoutMs: NAMES_TIMEOUT_MS });
    const views = await client.list(kind, kind === 'Mesh' ? undefined : values.get('mesh'));
    return [...new Set(views.map((v) => v.resource['name']).filter((n): n is string => typeof n === 'string'))];
  } catch {
    // A TAB never prints an error: no server, no names.
    return [];
  }
}

/** What completes the last of `words` (the word being typed, maybe empty). */
export async function completeWords(program: Command, words: readonly string[]): Promise<string[]> {
  const current = words[words.length - 1] ?? '';
  const parsed = parseWords(program, words.slice(0, -1));
  const { command, path, positionals, values, pendingOption } = parsed;
  let candidates: string[];
  if (pendingOption) {
    const long = pendingOption.long ?? '';
    if (long === '--output') candidates = listedValues(pendingOption.description);
    else if (long === '--log-level') candidates = [...LOG_LEVELS];
    else if (long === '--log-format') candidates = [...LOG_FORMATS];
    // `default` exists without a Mesh resource.
    else if (long === '--mesh') candidates = ['default', ...(await resourceNames('Mesh', values))];
    else if (pendingOption.argChoices) candidates = [...pendingOption.argChoices];
    else candidates = []; // a file, a URL, a name: the shell's own completion
  } else if (current.startsWith('-')) {
    candidates = [...optionsOf(command).filter((o) => !o.hidden).flatMap((o) => [o.long, o.short]).filter((f): f is string => f !== undefined), '--help'];
  } else {
    const index = positionals.length;
    const subs = index === 0 ? command.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden).flatMap((c) => [c.name(), ...c.aliases()]) : [];
    const argument = command.registeredArguments[index];
    const choices = argument?.argChoices ?? [];
    const types = (path === 'get' || path === 'delete') && index === 0 ? knownTypeNames() : [];
    const kind = namesWanted(path, positionals, index);
    candidates = [...subs, ...choices, ...types, ...(kind !== undefined ? await resourceNames(kind, values) : [])];
  }
  return [...new Set(candidates)].filter((c) => c.startsWith(current));
}

export function bashCompletion(): string {
  return `# meshcp completion script: source it, e.g. \`source <(meshcp completion bash)\`
# Candidates come from \`meshcp __complete\` (commands, flags, types, -o values, and resource
# names from the admin API); with none, bash completes file names.
_meshcp() {
  local IFS=$'\\n'
  COMPREPLY=($(meshcp __complete -- "\${COMP_WORDS[@]:1:$COMP_CWORD}" 2>/dev/null))
}

complete -o default -F _meshcp meshcp
`;
}

export function zshCompletion(): string {
  return `#compdef meshcp
# zsh: \`source <(meshcp completion zsh)\`, or save it as _meshcp in a directory of $fpath
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
${bashCompletion()}`;
}

export function fishCompletion(): string {
  return `# meshcp completion for fish: \`meshcp completion fish > ~/.config/fish/completions/meshcp.fish\`
# Candidates come from \`meshcp __complete\`; with none, fish completes paths.
function __meshcp_complete
    set -l words (commandline -opc) (commandline -ct)
    set -l found (meshcp __complete -- $words[2..-1] 2>/dev/null)
    if test (count $found) -eq 0
        __fish_complete_path (commandline -ct)
    else
        printf '%s\\n' $found
    end
end
complete -c meshcp -f -a '(__meshcp_complete)'
`;
}

export function registerCompletion(program: Command, io: CliIo): void {
  program
    .command('completion')
    .description('Print a shell completion script (bash, zsh or fish)')
    .addArgument(new Argument('<shell>', 'bash | zsh | fish').choices(SHELLS))
    .addHelpText(
      'after',
      '\nExamples:\n  source <(meshcp completion bash)                # this shell\n  meshcp completion bash > /etc/bash_completion.d/meshcp\n  echo \'source <(meshcp completion zsh)\' >> ~/.zshrc\n  meshcp completion fish > ~/.config/fish/completions/meshcp.fish\n',
    )
    .action((shell: string) => {
      if (shell === 'bash') io.stdout.write(bashCompletion());
      else if (shell === 'zsh') io.stdout.write(zshCompletion());
      else if (shell === 'fish') io.stdout.write(fishCompletion());
      else throw new CliError([`completion: unknown shell "${shell}"; expected ${SHELLS.join(', ')}`]);
    });
  program
    .command('__complete', { hidden: true })
    .description('What completes the last word (used by the completion scripts)')
    .argument('[words...]')
    .allowUnknownOption()
    .helpOption(false)
    .action(async (words: string[]) => {
      for (const candidate of await completeWords(program, words.length > 0 ? words : [''])) io.stdout.write(`${candidate}\n`);
    });
}
