# Shared helpers of the end-to-end tests: a private local cluster (own root folder and UDP port),
# checks that count, and cleanup that always runs. Source it; call `finish` last.
set -uo pipefail

: "${HA_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${HA_BIN_DIR:=$HA_SOURCE_DIR/build/bin}"
export HA_BIN_DIR
export HA_LOCAL_ROOT
HA_LOCAL_ROOT=$(mktemp -d /tmp/ha-e2e.XXXXXX)
# A port of its own per run, so parallel suites and a demonstration cluster never meet.
export HA_LOCAL_PORT=$((20000 + RANDOM % 20000))
LC="$HA_SOURCE_DIR/tools/ha-localcluster"
passed=0
failed=0

cleanup() {
  if [ "$failed" -gt 0 ] && [ -d "$HA_LOCAL_ROOT" ]; then
    for d in "$HA_LOCAL_ROOT"/node*; do
      [ -f "$d/log/cluster.log" ] && { echo "--- $d/log/cluster.log (last 40 lines)"; tail -n 40 "$d/log/cluster.log"; }
    done
  fi
  "$LC" down >/dev/null 2>&1 || true
  rm -rf "$HA_LOCAL_ROOT"
  fw_remove
}
trap cleanup EXIT
trap 'exit 130' INT TERM  # so that cleanup runs at once

# contains PART TEXT: TEXT has PART somewhere.
contains() { grep -qF -- "$1" <<<"$2"; }

# ---- Partitions between the local cluster's loopback addresses, with an nftables table of this
# run's own (root); removed by cleanup.
NFT_TABLE="ha_e2e_$$$RANDOM"
FIREWALL=""
# fw_setup: the table and its input chain; false, with fw_why set, where that cannot be done.
fw_setup() {
  [ "$(id -u)" = 0 ] || { fw_why="not root"; return 1; }
  command -v nft >/dev/null || { fw_why="no nft (scripts/setup-deps.sh installs it)"; return 1; }
  nft add table inet "$NFT_TABLE" 2>/dev/null || { fw_why="nft does not work here"; return 1; }
  FIREWALL=nft
  nft add chain inet "$NFT_TABLE" input '{ type filter hook input priority -5; policy accept; }'
}
fw_remove() {
  [ "$FIREWALL" = nft ] && nft delete table inet "$NFT_TABLE" 2>/dev/null
  FIREWALL=""
}
# partition: drops this run's ring traffic between 127.0.0.3 and 127.0.0.1-2, both ways.
partition() {
  nft add rule inet "$NFT_TABLE" input ip saddr 127.0.0.3 ip daddr '{ 127.0.0.1, 127.0.0.2 }' \
    udp dport "$HA_LOCAL_PORT" counter drop
  nft add rule inet "$NFT_TABLE" input ip saddr '{ 127.0.0.1, 127.0.0.2 }' ip daddr 127.0.0.3 \
    udp dport "$HA_LOCAL_PORT" counter drop
}
heal() { nft flush chain inet "$NFT_TABLE" input; }

ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }

# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
  local what=$1
  shift
  if "$@"; then ok "$what"; else not_ok "$what"; fi
}

# wait_for SECONDS COMMAND...: polls (every 0.1 s) until the command succeeds; false on timeout.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  while [ $SECONDS -lt "$deadline" ]; do
    "$@" && return 0
    sleep 0.1
  done
  "$@"
}

# status_json NODE: the node's `hactl status --json`.
status_json() { "$LC" exec "$1" hactl status --json 2>/dev/null; }

# daemon_field NODE DAEMON FIELD: one field of one daemon in the supervisor's status.
daemon_field() {
  status_json "$1" | python3 -c '
import json, sys
d = {x["name"]: x for x in json.load(sys.stdin).get("daemons", [])}
print(d.get(sys.argv[1], {}).get(sys.argv[2], ""))' "$2" "$3" 2>/dev/null
}

stack_state() { status_json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["stack"])' 2>/dev/null || echo down; }

node_log() { cat "$("$LC" path "$1")/log/cluster.log"; }

# one_node_config DIR CLUSTER_NAME: writes DIR/corosync.conf for a lone node 1 on 127.0.0.1 whose
# log, state and sockets live under DIR (the tests that run single daemons by hand).
one_node_config() {
  local dir=$1
  mkdir -p "$dir/log" "$dir/state" "$dir/run"
  cat >"$dir/corosync.conf" <<CONF
totem {
    version: 2
    cluster_name: $2
    nodeid: 1
}
nodelist {
    node {
        nodeid: 1
        name: node1
        ring0_addr: 127.0.0.1
    }
}
logging {
    to_syslog: no
    to_stderr: no
    to_logfile: yes
    logfile: $dir/log/cluster.log
}
system {
    state_dir: $dir/state
    run_dir: $dir/run
}
CONF
}

finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
