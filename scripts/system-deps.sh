#!/usr/bin/env bash
# Installs the Debian packages stackwatch runs and tests against, when any is missing.
set -euo pipefail

declare -A wanted=(
  [prometheus]=prometheus
  [promtool]=prometheus
  [prometheus-node-exporter]=prometheus-node-exporter
  [dockerd]=docker.io
  [docker]=docker.io
  [busybox]=busybox-static
  [docker-compose]=docker-compose
)
missing=()
for cmd in "${!wanted[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${wanted[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
if [ "$(id -u)" -ne 0 ]; then
  echo "stackwatch needs these Debian packages: $packages" >&2
  echo "install them with: sudo apt-get update && sudo apt-get install -y $packages" >&2
  exit 1
fi
echo "installing Debian packages: $packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $packages >/dev/null
# Debian starts the packaged services on install; stackwatch runs its own copies.
for service in prometheus prometheus-node-exporter docker containerd; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$service" 2>/dev/null; then
    systemctl stop "$service" || true
  fi
done
