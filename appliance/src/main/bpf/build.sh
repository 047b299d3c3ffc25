#!/usr/bin/env bash
# Compiles the fast path's BPF program (restricted C) into an object the daemon loads through
# libbpf: appliance/src/main/bpf/build.sh OUTPUT_DIR. Run by Maven (generate-resources).
set -euo pipefail
out=${1:?usage: build.sh OUTPUT_DIR}
src=$(dirname "$0")
if ! command -v clang >/dev/null || [ ! -f /usr/include/bpf/bpf_helpers.h ]; then
  echo "the fast path's BPF program needs clang and the libbpf headers:" \
       "apt-get install clang libbpf-dev (Debian), dnf install clang libbpf-devel (RHEL)" >&2
  exit 1
fi
mkdir -p "$out"
arch_include=/usr/include/$(uname -m)-linux-gnu
clang -O2 -g -Wall -Werror -target bpf -I"$arch_include" -c "$src/tandem_fastpath.c" -o "$out/tandem_fastpath.o"
