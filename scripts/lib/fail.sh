# Sourced by the scripts right after `set -euo pipefail`: a step that fails says which step,
# where, and what to try, instead of `set -e` ending the script without a word.
fail_hint=${fail_hint:-"see the output above; docs/troubleshooting.md lists the usual causes"}
on_error() {
  local status=$? line=$1 command=$2
  echo "$(basename "$0"): failed (exit $status) at line $line: $command" >&2
  echo "$(basename "$0"): $fail_hint" >&2
}
trap 'on_error "$LINENO" "$BASH_COMMAND"' ERR
