#!/usr/bin/env bash
# README command 1: installs what is missing, builds, and starts a demonstration cluster of three
# nodes on this machine (127.0.0.1-3, each with its own folders under /tmp/ha-localcluster), then
# prints its status. Run it again at any time: it rebuilds what changed and restarts the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
scripts/build.sh build
tools/ha-localcluster down >/dev/null 2>&1 || true
echo "== starting a 3-node demonstration cluster"
tools/ha-localcluster up 3
cat <<'MSG'

The cluster keeps running. Try:
  tools/ha-localcluster status                 every node's stack
  tools/ha-localcluster kill 2                 SIGKILL node 2's whole stack (start 2 brings it back)
  tools/ha-localcluster exec 1 hactl health cibd
  tools/ha-localcluster exec 1 ha-quorumtool -s    quorum, like corosync-quorumtool
  tools/ha-localcluster exec 1 crm_node -l        the nodes, member or lost, like Pacemaker's
  tools/ha-localcluster logs 1
  tools/ha-localcluster down                   stop and remove the cluster
MSG
