#!/usr/bin/env bash
# Installs the Debian packages stackwatch needs, when any is missing: `run` for `make run`,
# `test` for `make test` (what running needs and what the tests start).
set -euo pipefail

# command -> the package that brings it
declare -A wanted=(
  [prometheus]=prometheus
  [promtool]=prometheus
)
case "${1:-}" in
  run) ;;
  test)
    wanted+=(
      [prometheus-node-exporter]=prometheus-node-exporter
      [dockerd]=docker.io
      [docker]=docker.io
      [busybox]=busybox-static
      [docker-compose]=docker-compose
      [prometheus-alertmanager]=prometheus-alertmanager
      [victoria-metrics]=victoria-metrics
      [debootstrap]=debootstrap
      [/usr/share/prometheus-node-exporter-collectors/directory-size.sh]=prometheus-node-exporter-collectors
      [chromium]=chromium  # the mail screenshot tests render HTML headless
    )
    ;;
  *)
    echo "usage: system-deps.sh run|test" >&2
    exit 2
    ;;
esac
missing=()
for cmd in "${!wanted[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${wanted[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
packages=${packages% }
if [ "$(id -u)" -ne 0 ]; then
  echo "stackwatch needs these Debian packages: $packages" >&2
  echo "install them with: sudo apt-get update && sudo apt-get install -y $packages" >&2
  exit 1
fi
echo "installing Debian packages: $packages"
# Debian starts a packaged service as it installs it. stackwatch runs its own copies and never
# stops or restarts a service: while it installs, a policy-rc.d of its own tells the packages
# not to start theirs. A policy the machine already has is left as it is.
policy=${STACKWATCH_POLICY_RC_D:-/usr/sbin/policy-rc.d}
own_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# stackwatch: services of packages installed now are not started\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  own_policy=$policy
  trap 'rm -f "$own_policy"' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $packages >/dev/null
