#!/usr/bin/env bash
# Installs everything bmlb's lab and tests need on a fresh Debian machine (as root), then the npm
# dependencies, and builds. Idempotent: safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(openssh-server openssh-client keepalived haproxy frr iputils-arping iproute2 iputils-ping
      nftables iptables curl tcpdump procps openssl util-linux mount ca-certificates
      build-essential python3)  # build-essential + python3: node-gyp builds the packet addon
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then echo "setup: need root to install: ${missing[*]}" >&2; exit 1; fi
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# The Debian packages start system-wide daemons; the lab runs its own copies inside namespaces.
for svc in ssh keepalived haproxy frr; do
  if command -v systemctl >/dev/null && systemctl is-enabled "$svc" >/dev/null 2>&1; then
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
  fi
done

# The lab (bmlb lab up) needs these from the packages above; say clearly if one is still missing.
for cmd in ip unshare nsenter mount findmnt sysctl ssh ssh-keygen /usr/sbin/sshd openssl curl; do
  command -v "$cmd" >/dev/null || { echo "setup: $cmd is missing after installing the packages" >&2; exit 1; }
done
command -v kubectl >/dev/null || echo "setup: note: kubectl is not installed (not a Debian package); the lab e2e tests use it" >&2

echo "setup: npm ci"
npm ci --no-audit --no-fund
echo "setup: build"
npm run build
echo "setup: done"
