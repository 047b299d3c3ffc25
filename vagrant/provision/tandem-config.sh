#!/bin/bash
# Prints /etc/tandem/tandem.yaml for one box of the lab pair (the Vagrant VMs and, for the
# same addresses, the namespace tests' RPM check):
#   tandem-config.sh NAME SELF PEER PRIORITY FRONT_IF BACK_IF KEY_PASSWORD [KEY_FILE]
# SELF/PEER are the last octets: front 198.18.0.X, back 198.19.0.X, sync 198.18.2.X.
set -euo pipefail
name=$1 self=$2 peer=$3 priority=$4 front=$5 back=$6 password=$7 key=${8:-/etc/tandem/sync.p12}
cat <<YAML
node: { name: $name }
dataplane: { front_interface: $front, back_interface: $back }
sync:
  bind_address: 198.18.2.$self
  peer: 198.18.2.$peer
  key_file: $key
  key_password: $password
ha:
  virtual_router_id: 51
  priority: $priority
  self_address: 198.18.0.$self
  peer_address: 198.18.0.$peer
control: { http: "198.18.0.$self:9180" }
services:
  - name: web
    vip: 198.18.0.100
    port: 5201
    snat_address: 198.19.0.100
    backends:
      - { address: 198.19.0.11, port: 5201 }
      - { address: 198.19.0.12, port: 5201 }
YAML
