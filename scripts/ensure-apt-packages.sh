#!/usr/bin/env bash
# Install the Debian packages the tests and the local cluster need (idempotent).
# Daemons are never auto-started by package scripts: the local cluster starts
# its own private instances.
set -euo pipefail
packages=(
  containerd runc containernetworking-plugins iptables conntrack ethtool iproute2 socat
  podman buildah docker-registry debootstrap postgresql
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
echo "installing Debian packages: ${missing[*]}"
# policy-rc.d 101 = "action forbidden": packages must not start their own daemons.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy"
  trap 'rm -f "$policy"' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
