# bash completion for drover, the drover cluster CLI.
# Install as /usr/share/bash-completion/completions/drover, or source it from
# ~/.bashrc. Completes commands, their flags and flag values; job ids are not
# completed (that would need a request to the master).

_drover_commands="submit wait status tasks logs events output cancel rerun workers drain local"
_drover_global_flags="--master --token --ca -o --output -h --help"

# Flags of each command (global flags are accepted after the command too).
_drover_command_flags() {
  case "$1" in
    submit)  echo "--name --priority --wait" ;;
    logs)    echo "--attempt --stderr -f --follow" ;;
    events)  echo "-f --follow" ;;
    output)  echo "--stage --to" ;;
    rerun)   echo "--failed-only --wait" ;;
    tasks)   echo "--stage --state" ;;
    local)   echo "--workers --to" ;;
    wait|status|cancel|workers|drain) echo "" ;;
  esac
}

_drover() {
  local cur prev words cword
  if declare -F _init_completion >/dev/null 2>&1; then
    _init_completion || return
  else
    # Without bash-completion: split the line on blanks only (COMP_WORDS also
    # splits at ':' and '=', which would break URLs such as --master http://h:7070).
    local line="${COMP_LINE:0:COMP_POINT}"
    read -r -a words <<<"$line"
    [[ -z "$line" || "$line" == *[[:blank:]] ]] && words+=("")
    cword=$((${#words[@]} - 1))
    cur="${words[cword]}"
    prev="${words[cword-1]}"
  fi

  # Values of flags that take one.
  case "$prev" in
    -o|--output)
      COMPREPLY=($(compgen -W "table json" -- "$cur")); return ;;
    --state)
      COMPREPLY=($(compgen -W "pending assigned running succeeded failed lost killed" -- "$cur")); return ;;
    --ca)
      COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --to)
      COMPREPLY=($(compgen -d -- "$cur")); return ;;
    --master|--token|--name|--priority|--attempt|--stage|--workers)
      COMPREPLY=(); return ;;
  esac

  # The command: the first word that is not a flag or a flag's value.
  local i command=""
  for ((i = 1; i < cword; i++)); do
    case "${words[i]}" in
      --master|--token|--ca|-o|--output) ((i++)) ;;
      -*) ;;
      *) command="${words[i]}"; break ;;
    esac
  done

  if [[ -z "$command" ]]; then
    if [[ "$cur" == -* ]]; then
      COMPREPLY=($(compgen -W "$_drover_global_flags" -- "$cur"))
    else
      COMPREPLY=($(compgen -W "$_drover_commands" -- "$cur"))
    fi
    return
  fi

  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$(_drover_command_flags "$command") $_drover_global_flags" -- "$cur"))
    return
  fi
  case "$command" in
    submit|local)  # a bundle: a directory or a .tar.gz
      COMPREPLY=($(compgen -d -- "$cur") $(compgen -f -X '!*.tar.gz' -- "$cur")) ;;
    *) COMPREPLY=() ;;
  esac
}

complete -F _drover drover
