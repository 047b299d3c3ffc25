#!/bin/bash
# Run on the host: a 30 s iperf3 stream from the client through the VIP; after 10 s the
# active (lb1) dies hard. The stream must go on through lb2: iperf3 reports every second,
# and a reset would end it early.
set -euo pipefail
cd "$(dirname "$0")"
vagrant ssh client -c 'iperf3 -c 198.18.0.100 -p 5201 -t 30 -i 1' > failover-check.log 2>&1 &
stream=$!
sleep 10
vagrant ssh lb1 -c 'sudo systemctl kill -s KILL tandemd keepalived; sudo ip link set eth1 down; sudo ip link set eth2 down'
wait "$stream"
cat failover-check.log
vagrant ssh lb2 -c 'sudo tandemctl status' || true
grep -q 'iperf Done' failover-check.log && echo "failover check: the stream survived"
