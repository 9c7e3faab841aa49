/**
 * `meshcp completion bash|zsh` (kubectl, kumactl and the akka CLI all have one): a script
 * generated from the command tree, so it never lags behind the commands. zsh loads the same
 * function through bashcompinit, the way zsh documents for bash completions.
 */
import { Argument, type Command } from 'commander';
import { CliError, type CliIo } from './output.js';

const SHELLS = ['bash', 'zsh'] as const;

interface Node {
  readonly path: string;
  readonly command: Command;
}

function walk(command: Command, path: string, out: Node[]): Node[] {
  out.push({ path, command });
  for (const sub of command.commands) walk(sub, path === '' ? sub.name() : `${path} ${sub.name()}`, out);
  return out;
}

function words(command: Command): string[] {
  const subs = command.commands.flatMap((c) => [c.name(), ...c.aliases()]);
  const flags = command.options.filter((o) => !o.hidden).flatMap((o) => [o.long, o.short]).filter((f): f is string => f !== undefined);
  const choices = command.registeredArguments.flatMap((a) => a.argChoices ?? []);
  return [...subs, ...choices, ...flags, '--help'];
}

/** Shell words are plain names and flags here; quote anyway so a future name cannot break the script. */
function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function bashCompletion(program: Command): string {
  const nodes = walk(program, '', []);
  const subCases = nodes.flatMap(({ path, command }) =>
    command.commands.map((sub) => `    ${[sub.name(), ...sub.aliases()].map((n) => quote(`${path}|${n}`)).join('|')}) echo ${quote(sub.name())} ;;`),
  );
  const wordCases = nodes.map(({ path, command }) => `    ${quote(path)}) words=${quote(words(command).join(' '))} ;;`);
  return `# meshcp ${'completion'} script: source it, e.g. \`source <(meshcp completion bash)\`
_meshcp_sub() {
  case "$1|$2" in
${subCases.join('\n')}
  esac
}

_meshcp() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" word sub words="" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    case "$word" in -*) continue ;; esac
    sub="$(_meshcp_sub "$path" "$word")"
    [ -n "$sub" ] && path="\${path:+$path }$sub"
  done
  case "$path" in
${wordCases.join('\n')}
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}

complete -o default -F _meshcp meshcp
`;
}

export function zshCompletion(program: Command): string {
  return `#compdef meshcp
# zsh: \`source <(meshcp completion zsh)\`, or save it as _meshcp in a directory of $fpath
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
${bashCompletion(program)}`;
}

export function registerCompletion(program: Command, io: CliIo): void {
  program
    .command('completion')
    .description('Print a shell completion script (bash or zsh)')
    .addArgument(new Argument('<shell>', 'bash | zsh').choices(SHELLS))
    .addHelpText('after', '\nExamples:\n  source <(meshcp completion bash)                # this shell\n  meshcp completion bash > /etc/bash_completion.d/meshcp\n  echo \'source <(meshcp completion zsh)\' >> ~/.zshrc\n')
    .action((shell: string) => {
      if (shell === 'bash') io.stdout.write(bashCompletion(program));
      else if (shell === 'zsh') io.stdout.write(zshCompletion(program));
      else throw new CliError([`completion: unknown shell "${shell}"; expected ${SHELLS.join(' or ')}`]);
    });
}
