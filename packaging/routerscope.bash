# bash completion for routerscope. Commands and options are read from the installed program
# (`routerscope help`, `routerscope COMMAND --help`), so they always match the version installed.
_routerscope() {
  local cur prev words cword
  if declare -F _init_completion >/dev/null; then
    _init_completion || return
  else
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    words=("${COMP_WORDS[@]}")
    cword=$COMP_CWORD
  fi
  local prog="${words[0]}"
  if [[ $cword -eq 1 ]]; then
    local commands
    commands=$("$prog" help 2>/dev/null | sed -n 's/^  \([a-z][a-z0-9-]*\)  .*/\1/p')
    COMPREPLY=($(compgen -W "$commands help --version --help" -- "$cur"))
    return
  fi
  local command="${words[1]}"
  if [[ $command == help ]]; then
    COMPREPLY=($(compgen -W "$("$prog" help 2>/dev/null | sed -n 's/^  \([a-z][a-z0-9-]*\)  .*/\1/p')" -- "$cur"))
    return
  fi
  local usage
  usage=$("$prog" "$command" --help 2>/dev/null)
  # Choices of the option being completed: "--matrix TEXT:{gate,up,down}" or "gate|up|down".
  if [[ $prev == --* ]]; then
    local line choices
    line=$(printf '%s\n' "$usage" | grep -E "^ *${prev}( |$)" | head -n1)
    choices=$(printf '%s\n' "$line" | grep -oE '[a-z0-9-]+(\|[a-z0-9-]+)+' | head -n1 | tr '|' ' ')
    if [[ -n $choices ]]; then
      COMPREPLY=($(compgen -W "$choices" -- "$cur"))
      return
    fi
    if [[ -n $line && $line != *" Flag"* && $(printf '%s\n' "$line" | awk '{print $2}') =~ ^[A-Z] ]]; then
      COMPREPLY=($(compgen -f -- "$cur"))
      return
    fi
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(printf '%s\n' "$usage" | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u)" -- "$cur"))
    return
  fi
  COMPREPLY=($(compgen -f -- "$cur"))
}
complete -o filenames -o bashdefault -F _routerscope routerscope
