#!/bin/bash
# Checks cli/completion/drover.bash: COMPREPLY for a few command lines, and that
# every command and flag `drover --help` / `drover CMD --help` lists is completed
# (so the script cannot drift from the CLI).
# usage: cli_completion_test.sh PATH/TO/drover PATH/TO/drover.bash
set -u
drover="$1"
script="$2"
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# Completes the command line "$1" (the cursor at its end; a trailing space
# starts a new word) and prints COMPREPLY one per line, sorted.
complete_line() {
  local line="$1"
  read -r -a COMP_WORDS <<<"$line"
  [[ "$line" == *" " ]] && COMP_WORDS+=("")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMP_LINE="$line"
  COMP_POINT=${#line}
  COMPREPLY=()
  _drover drover "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
  printf '%s\n' "${COMPREPLY[@]}" | sort
}

expect() {  # expect "command line" "expected words, space separated"
  local got want
  got="$(complete_line "$1" | tr '\n' ' ' | sed 's/ *$//')"
  want="$(tr ' ' '\n' <<<"$2" | sort | tr '\n' ' ' | sed 's/ *$//')"
  [[ "$got" == "$want" ]] || fail "'$1' completed to [$got], want [$want]"
}

expect_has() {  # expect_has "command line" word...
  local line="$1" got
  shift
  got="$(complete_line "$line")"
  for w in "$@"; do
    grep -qxF -- "$w" <<<"$got" || fail "'$line' does not offer $w (got: $(tr '\n' ' ' <<<"$got"))"
  done
}

run_checks() {
  expect "drover su" "submit"
  expect "drover w" "wait workers"
  expect "drover logs --" "--attempt --stderr --follow --master --token --ca --output --help"
  expect "drover --master http://x:7070 st" "status"
  expect "drover status -o " "json table"
  expect "drover tasks j1 --state s" "succeeded"
  expect "drover events j1 -f --fo" "--follow"

  # No drift: every command and every flag the CLI lists is completed.
  local help commands cmd flags
  help="$("$drover" --help)" || { fail "drover --help failed"; return; }
  commands="$(sed -n '/^Subcommands:/,/^$/p' <<<"$help" | awk 'NR > 1 && NF { print $1 }')"
  [[ -n "$commands" ]] || fail "no subcommands found in drover --help"
  expect_has "drover " $commands
  for cmd in $commands; do
    flags="$("$drover" "$cmd" --help | sed -n '/^Options:/,/^$/p' |
             grep -oE '(^|[ ,])--?[a-zA-Z][a-zA-Z0-9-]*' | tr -d ' ,' | sort -u)"
    [[ -n "$flags" ]] || fail "no flags found in drover $cmd --help"
    expect_has "drover $cmd -" $flags
  done
}

# shellcheck source=/dev/null
source "$script" || { echo "FAIL: cannot source $script"; exit 1; }
run_checks
# Again the way a login shell has it: with the bash-completion package loaded.
if [[ -r /usr/share/bash-completion/bash_completion ]]; then
  # shellcheck source=/dev/null
  source /usr/share/bash-completion/bash_completion
  source "$script"
  run_checks
fi

if ((failures > 0)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "bash completion: all checks passed"
