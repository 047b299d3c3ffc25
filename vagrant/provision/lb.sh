#!/bin/bash
# Provisions one load-balancer VM: the built RPM (and keepalived, its dependency), the
# pair's sync key (made once, shared through /vagrant), this box's config and keepalived.conf.
#   lb.sh NAME SELF PEER PRIORITY
set -euo pipefail
name=$1 self=$2 peer=$3 priority=$4
rpm=$(ls /vagrant/packaging/target/tandem-*.noarch.rpm | head -1)
# Java 25: Adoptium's Temurin (RHEL 9's own repositories stop at an older Java).
if ! rpm -q temurin-25-jre >/dev/null 2>&1; then
  cat > /etc/yum.repos.d/adoptium.repo <<'REPO'
[adoptium]
name=Adoptium
baseurl=https://packages.adoptium.net/artifactory/rpm/rocky/$releasever/$basearch
enabled=1
gpgcheck=1
gpgkey=https://packages.adoptium.net/artifactory/api/gpg/key/public
REPO
  dnf -y -q install temurin-25-jre
fi
dnf -y -q install "$rpm"
# The NICs in address order: eth1 front (198.18.0.X), eth2 back (198.19.0.X), eth3 sync.
front=$(ip -o -4 addr show | awk '/198\.18\.0\./ {print $2}')
back=$(ip -o -4 addr show | awk '/198\.19\.0\./ {print $2}')
# One credential for the pair, made by the first box up: the key file and its password.
[ -f /vagrant/.sync.p12 ] || tandemctl keygen /vagrant/.sync.p12 | awk '/key_password:/ {print $2}' > /vagrant/.sync.pass
install -m 0600 -o tandem -g tandem /vagrant/.sync.p12 /etc/tandem/sync.p12  # tandemd refuses a key others can read
/vagrant/vagrant/provision/tandem-config.sh "$name" "$self" "$peer" "$priority" "$front" "$back" "$(cat /vagrant/.sync.pass)" \
  > /etc/tandem/tandem.yaml
tandemctl config check /etc/tandem/tandem.yaml
tandemctl keepalived-config /etc/tandem/tandem.yaml > /etc/keepalived/keepalived.conf
systemctl enable --now tandemd
systemctl enable --now keepalived
