# What the build, the tests, the labs and the demo need from Debian: .ci/run's TANDEM_PACKAGES,
# each entry what shows it is there (a command, or an absolute path) and the Debian package that
# brings it. .ci/run and scripts/demo both install from that list (install_needed), so they never
# drift. Sourced, not run.
# The list itself is .ci/run's TANDEM_PACKAGES: read from there, so there is one list.
if [ -z "${TANDEM_PACKAGES+x}" ]; then
  eval "$(sed -n '/^TANDEM_PACKAGES=(/,/^)$/p' "$(dirname "${BASH_SOURCE[0]}")/../../.ci/run")"
fi

# The packages of TANDEM_PACKAGES (or of the entries given) that are missing here.
missing_packages() {
  local entry probe
  for entry in "${@:-${TANDEM_PACKAGES[@]}}"; do
    probe=${entry%%:*}
    if [[ $probe == /* ]]; then [ -e "$probe" ] && continue; else command -v "$probe" >/dev/null && continue; fi
    printf '%s\n' "${entry#*:}"
  done
}

# Installs what is missing with apt-get (root); says what it installs.
install_needed() {
  local need
  mapfile -t need < <(missing_packages "$@")
  [ ${#need[@]} -gt 0 ] || return 0
  echo "installing what is missing: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}"
}
