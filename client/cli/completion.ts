/**
 * `medic completion bash|zsh`: shell completion scripts written from the program's own definition
 * (program.ts): the commands and their aliases, each command's options, the values an option or an
 * argument takes (runbook names, statuses, actions), files for --config and --token-file, and the
 * start of a run ID (`kust-replica/`, `dry-run/kust-replica/`). The scripts run nothing at TAB time.
 */
import type { Command } from 'commander';
import { RUNBOOKS } from '../runbooks';

export const SHELLS = ['bash', 'zsh'] as const;
export type Shell = (typeof SHELLS)[number];

interface OptionSpec {
  flags: string[];
  description: string;
  /** Takes a value (`--config <file>`). */
  valued: boolean;
  values?: string[];
  files?: boolean;
}

interface ArgSpec {
  name: string;
  description: string;
  variadic: boolean;
  values?: string[];
  /** A run ID. */
  run?: boolean;
  /** `start`'s parameters: the names of the runbook given before them, as `name=`. */
  params?: boolean;
}

interface CommandSpec {
  /** The name and aliases; a subcommand's are `<group> <name>` (`operator hash`). */
  names: string[];
  description: string;
  options: OptionSpec[];
  args: ArgSpec[];
  /** A group of subcommands (`operator`): their names. */
  subcommands?: string[];
}

const HELP_OPTION: OptionSpec = { flags: ['-h', '--help'], description: 'show the help', valued: false };

function specOf(c: Command, prefix: string): CommandSpec {
  return {
    names: [c.name(), ...c.aliases()].map((n) => `${prefix}${n}`),
    description: c.description(),
    options: [
      ...c.options.map((o) => ({
        flags: [o.short, o.long].filter((f): f is string => typeof f === 'string'),
        description: o.description,
        valued: o.required || o.optional,
        values: o.argChoices,
        files: /<file>/.test(o.flags),
      })),
      HELP_OPTION,
    ],
    args: c.registeredArguments.map((a) => ({ name: a.name(), description: a.description, variadic: a.variadic, values: a.argChoices, run: a.name() === 'run', params: a.name() === 'params' })),
    ...(c.commands.length ? { subcommands: c.commands.map((sub) => sub.name()) } : {}),
  };
}

/** The program's commands and subcommands as the completion scripts need them (plus `help`, which commander adds itself). */
export function commandSpecs(program: Command): CommandSpec[] {
  const specs = program.commands.flatMap((c) => [specOf(c, ''), ...c.commands.map((sub) => specOf(sub, `${c.name()} `))]);
  const top = program.commands.map((c) => c.name());
  specs.push({ names: ['help'], description: 'show the help of a command', options: [], args: [{ name: 'command', description: 'a command', variadic: false, values: top }] });
  return specs;
}

const runbooks = Object.keys(RUNBOOKS);
const RUN_STARTS = [...runbooks.map((r) => `${r}/`), 'dry-run/'];
const DRY_RUN_STARTS = runbooks.map((r) => `dry-run/${r}/`);
/** Each runbook with parameters, and their names as `name=`. */
const PARAMS = Object.entries(RUNBOOKS)
  .filter(([, spec]) => Object.keys(spec.params).length > 0)
  .map(([name, spec]) => [name, Object.keys(spec.params).map((p) => `${p}=`).join(' ')] as const);

export function completionScript(program: Command, shell: Shell): string {
  return shell === 'bash' ? bashScript(commandSpecs(program)) : zshScript(commandSpecs(program));
}

// ---- bash ----

const casePattern = (names: string[]) => names.map((n) => (n.includes(' ') ? `"${n}"` : n)).join('|');
const topLevel = (specs: CommandSpec[]) => specs.flatMap((s) => s.names).filter((n) => !n.includes(' '));

function bashScript(specs: CommandSpec[]): string {
  const optionsCase = specs.map((s) => `    ${casePattern(s.names)}) echo "${s.options.flatMap((o) => o.flags).join(' ')}" ;;`).join('\n');
  const valuedCase = specs
    .filter((s) => s.options.some((o) => o.valued))
    .map((s) => `    ${casePattern(s.names)}) echo "${s.options.filter((o) => o.valued).flatMap((o) => o.flags).join(' ')}" ;;`)
    .join('\n');
  const valueCase = specs
    .flatMap((s) =>
      s.options
        .filter((o) => o.valued && (o.values || o.files))
        .map((o) => {
          const pattern = s.names.flatMap((n) => o.flags.map((f) => `"${n} ${f}"`)).join('|');
          return `    ${pattern}) ${o.files ? 'COMPREPLY=($(compgen -f -- "$cur"))' : `COMPREPLY=($(compgen -W "${(o.values ?? []).join(' ')}" -- "$cur"))`} ;;`;
        }),
    )
    .join('\n');
  const groupArgs = specs.filter((s) => s.subcommands).map((s) => `    ${s.names.map((n) => `"${n} 0"`).join('|')}) COMPREPLY=($(compgen -W "${(s.subcommands ?? []).join(' ')}" -- "$cur")) ;;`);
  const groups = specs.filter((s) => s.subcommands).flatMap((s) => s.names);
  const argCase = specs
    .flatMap((s) =>
      s.args.map((a, i) => {
        const pattern = s.names.map((n) => (a.variadic ? `"${n} "${i}|"${n} "[${i + 1}-9]` : `"${n} ${i}"`)).join('|');
        const action = a.run ? '_medic_run' : a.params ? '_medic_params "${args[0]}"' : a.values ? `COMPREPLY=($(compgen -W "${a.values.join(' ')}" -- "$cur"))` : ':';
        return `    ${pattern}) ${action} ;;`;
      }),
    )
    .concat(groupArgs)
    .join('\n');
  return `# bash completion for medic (written by: medic completion bash)
# Install: echo 'source <(medic completion bash)' >> ~/.bashrc
# or: medic completion bash > ~/.local/share/bash-completion/completions/medic

_medic_options() {
  case "$1" in
${optionsCase}
  esac
}

# The options that take a value (the next word is theirs).
_medic_valued() {
  case "$1" in
${valuedCase}
  esac
}

# The value of option $2 of command $1.
_medic_value() {
  case "$1 $2" in
${valueCase}
  esac
}

# The start of a run ID: <runbook>/ or dry-run/<runbook>/ (the target is typed).
_medic_run() {
  local ids="${RUN_STARTS.join(' ')}"
  [[ $cur == dry-run/* ]] && ids="${DRY_RUN_STARTS.join(' ')}"
  compopt -o nospace 2>/dev/null
  COMPREPLY=($(compgen -W "$ids" -- "$cur"))
}

# start's parameters for runbook $1: name= (the value is typed).
_medic_params() {
  local names=""
  case "$1" in
${PARAMS.map(([n, p]) => `    ${n}) names="${p}" ;;`).join('\n')}
  esac
  compopt -o nospace 2>/dev/null
  COMPREPLY=($(compgen -W "$names" -- "$cur"))
}

# Positional argument $2 (from 0) of command $1 (the ones before it: $args).
_medic_arg() {
  case "$1 $2" in
${argCase}
  esac
}

_medic() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" cmd="" w i pos=0 value=0
  local -a args=()
  COMPREPLY=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    if ((value)); then value=0; continue; fi
    if [[ -z $cmd ]]; then
      [[ $w == -* ]] || cmd="$w"
    elif [[ $pos == 0 && " ${groups.join(' ')} " == *" $cmd "* && $w != -* ]]; then
      cmd="$cmd $w"
    elif [[ $w == -* ]]; then
      case " $(_medic_valued "$cmd") " in *" $w "*) value=1 ;; esac
    else
      args+=("$w")
      pos=$((pos + 1))
    fi
  done
  if [[ -z $cmd ]]; then
    if [[ $cur == -* ]]; then
      COMPREPLY=($(compgen -W "-h --help -V --version" -- "$cur"))
    else
      COMPREPLY=($(compgen -W "${topLevel(specs).join(' ')}" -- "$cur"))
    fi
  elif ((value)); then
    _medic_value "$cmd" "\${COMP_WORDS[COMP_CWORD-1]}"
  elif [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(_medic_options "$cmd")" -- "$cur"))
  else
    _medic_arg "$cmd" "$pos"
  fi
  return 0
}

complete -F _medic medic
`;
}

// ---- zsh ----

/** Text inside a single-quoted zsh word (an _arguments [description] needs its brackets quoted too). */
const zq = (text: string) => text.replace(/\\/g, '\\\\').replace(/'/g, "'\\''").replace(/[[\]]/g, (c) => `\\${c}`);

function zshOption(o: OptionSpec): string[] {
  const value = !o.valued ? '' : `:${o.flags.at(-1)?.replace(/^-+/, '')}:${o.files ? '_files' : o.values ? `(${o.values.join(' ')})` : ' '}`;
  // -h/--help exclude each other (`(-h --help)`); a long option with a value takes it after = or as the next word.
  const exclusive = o.flags.length > 1 ? `(${o.flags.join(' ')})` : '';
  return o.flags.map((f) => `'${exclusive}${f}${o.valued && f.startsWith('--') ? '=' : ''}[${zq(o.description)}]${value}'`);
}

function zshArg(a: ArgSpec, i: number): string {
  const action = a.run ? '_medic_run' : a.params ? '_medic_params' : a.values ? `(${a.values.join(' ')})` : ' ';
  return `'${a.variadic ? '*' : String(i + 1)}:${zq(a.name)}:${action}'`;
}

/** One command's `_arguments` call, indented by `pad`. */
function zshArguments(s: CommandSpec, pad: string): string {
  const lines = [...s.options.flatMap(zshOption), ...s.args.map(zshArg)];
  return `${pad}_arguments -s \\\n${pad}  ${lines.join(` \\\n${pad}  `)}`;
}

function zshScript(specs: CommandSpec[]): string {
  const top = specs.filter((s) => !s.names[0].includes(' '));
  const commands = top.flatMap((s) => s.names.map((n) => `    '${n}:${zq(s.description)}'`)).join('\n');
  const branches = top
    .map((s) => {
      const head = `        ${casePattern(s.names)})`;
      if (!s.subcommands) return `${head}\n${zshArguments(s, '          ')}\n          ;;`;
      // A group (operator): its subcommand first, then that subcommand's arguments.
      const subs = specs.filter((sub) => sub.names[0].startsWith(`${s.names[0]} `));
      const described = subs.map((sub) => `'${sub.names[0].split(' ')[1]}:${zq(sub.description)}'`).join(' ');
      const cases = subs
        .map((sub) => `              ${sub.names[0].split(' ')[1]})\n                shift words; (( CURRENT-- ))\n${zshArguments(sub, '                ')}\n                ;;`)
        .join('\n');
      return `${head}\n          if (( CURRENT == 2 )); then\n            local -a subcommands=(${described})\n            _describe -t commands '${s.names[0]} command' subcommands\n          else\n            case $words[2] in\n${cases}\n            esac\n          fi\n          ;;`;
    })
    .join('\n');
  return `#compdef medic
# zsh completion for medic (written by: medic completion zsh)
# Install: medic completion zsh > "\${fpath[1]}/_medic", then restart zsh (or: autoload -U compinit && compinit);
# or, after compinit: source <(medic completion zsh)

# The start of a run ID: <runbook>/ or dry-run/<runbook>/ (the target is typed).
_medic_run() {
  local -a ids
  if [[ $PREFIX == dry-run/* ]]; then
    ids=(${DRY_RUN_STARTS.join(' ')})
  else
    ids=(${RUN_STARTS.join(' ')})
  fi
  compadd -S '' -- $ids
}

# start's parameters for the runbook before them: name= (the value is typed).
_medic_params() {
  local -a names
  case $words[2] in
${PARAMS.map(([n, p]) => `    ${n}) names=(${p}) ;;`).join('\n')}
  esac
  compadd -S '' -- $names
}

_medic() {
  local curcontext="$curcontext" state line
  typeset -A opt_args
  local -a commands
  commands=(
${commands}
  )
  _arguments -C \\
    '(- *)'{-h,--help}'[show the help]' \\
    '(- *)'{-V,--version}'[print the version of medic]' \\
    '1: :->command' \\
    '*:: :->args' && return 0
  case $state in
    command)
      _describe -t commands 'medic command' commands
      ;;
    args)
      case $words[1] in
${branches}
      esac
      ;;
  esac
}

# Autoloaded from $fpath: complete now; sourced: register.
if [[ $funcstack[1] == _medic ]]; then
  _medic "$@"
else
  compdef _medic medic
fi
`;
}
