# What the build, the tests, the labs and the demo need from Debian, as one list: each entry is
# what shows it is there (a command, or an absolute path) and the Debian package that brings it.
# .ci/run and scripts/demo both install from this list (install_needed), so they never drift.
# Sourced, not run.
TANDEM_PACKAGES=(
  mvn:maven                                   # the build
  ip:iproute2                                 # network namespaces for the end-to-end tests and the demo
  ping:iputils-ping
  sysctl:procps                               # sysctl and kill, in the labs and the failover tests
  python3:python3                             # scripts/synflood.py, spoof-*.py (SynFloodIT, SpoofedSegmentsIT)
  keepalived:keepalived                       # the pair's VRRP; its config test checks what tandemctl renders
  /usr/bin/chromium:chromium                  # the status page's browser test
  /usr/bin/chromedriver:chromium-driver
  rpmbuild:rpm                                # the packaging test builds and installs the RPM
  rpmlint:rpmlint
  ruby:ruby                                   # syntax check of vagrant/Vagrantfile
  bird:bird2                                  # BGP mode: the router and the boxes in BgpPairIT
  nft:nftables                                # ICMPv6 marks for IPv6 services; PairFailoverIT cuts the front network
  socat:socat                                 # keepalived's check, vrrp-scripts/tandemd-alive, asks the control socket
  clang:clang                                 # compiles the fast path's BPF program (appliance/src/main/bpf)
  /usr/include/bpf/bpf_helpers.h:libbpf-dev   # its headers; libbpf1, which tandemd loads it with (FFM), comes along
)

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
