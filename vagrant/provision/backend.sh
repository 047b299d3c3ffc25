#!/bin/bash
# A backend VM: iperf3 servers the client's failover check talks to, through the VIP.
set -euo pipefail
dnf -y -q install iperf3
cat > /etc/systemd/system/iperf3-server.service <<'UNIT'
[Unit]
Description=iperf3 server for the Tandem lab
[Service]
ExecStart=/usr/bin/iperf3 -s -p 5201
Restart=always
[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now iperf3-server
