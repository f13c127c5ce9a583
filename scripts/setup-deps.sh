#!/usr/bin/env bash
# Installs every build and test dependency from Debian 12's packages. Idempotent: it installs only
# what is missing, and runs `apt-get update` only when something is missing.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake pkg-config clang libclang-rt-14-dev clang-format
  # libraries (see docs/architecture.md for why each one)
  libqb-dev libqb-tools
  protobuf-compiler libprotobuf-dev libgrpc++-dev protobuf-compiler-grpc
  libabsl-dev catch2 libpugixml-dev libssl-dev libcli11-dev nlohmann-json3-dev libbz2-dev
  # Corosync's client libraries: the corosync membership provider (system.membership_provider)
  libcpg-dev libquorum-dev libcorosync-common-dev
  # resource agents that lrmd's tests run (ocf:heartbeat:*, ocf:pacemaker:*)
  resource-agents pacemaker-resource-agents
  fence-agents  # the fence agents stonithd runs (its tests use fence_dummy)
  cluster-glue  # legacy STONITH plugins (stonith, null, external/*) through fence_legacy_glue
  # lrmd's systemd-class test boots a private systemd in namespaces (util-linux's unshare/nsenter)
  systemd util-linux
  # what the local-cluster script and the end-to-end tests run
  iproute2 procps psmisc iptables nftables python3
  # the VIPcheck agent's probes (agents/ocf/VIPcheck) and its test
  iputils-arping iputils-ping
  # the reference implementation: its corosync.conf is a parser test input, and the benchmarks
  # run it side by side with ours (never started as a service here)
  corosync
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-deps: missing packages (${missing[*]}); run as root or install them" >&2
  exit 1
fi
echo "setup-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# Packages must not start services on this machine (corosync would): policy-rc.d says no.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  own_policy=1
fi
trap '[ $own_policy -eq 1 ] && rm -f "$policy"' EXIT
apt-get install -y -q --no-install-recommends "${missing[@]}"
