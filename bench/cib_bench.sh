#!/usr/bin/env bash
# cibd against Pacemaker's CIB manager, in one run (issue 5): commit latency and updates/s of a
# one-nvpair modification, and query times of a 5,000-resource CIB, on
#   - ours, 1 node and 3 nodes (tools/ha-localcluster; writes replicated through membershipd)
#   - Debian's pacemaker-based (2.1.5), driven by its own cibadmin, each in a private folder
#     (-r DIR: nothing under /var/lib/pacemaker is used), with disk writes (-w):
#       * on corosync 3, 1 node and 3 nodes (each node in a network namespace of its own,
#         since corosync's and based's IPC sockets are abstract, with a private /run; the 3
#         joined by a bridge): writes and queries. This is how based takes writes at all: it
#         sends every modifying request through CPG and applies it when CPG delivers it back;
#       * stand-alone (-s), only without corosync (or with --standalone): queries only. A
#         stand-alone based forwards every write to the absent cluster layer and never
#         applies it (cibadmin times out; bench/README.md has the code path and log lines).
# Every operation is one cibadmin process, as an administrator or a script would run it; the
# "client baseline" row shows what starting one costs. Prints a table and the ratios.
#
#   bench/cib_bench.sh [--writes N] [--parallel P] [--queries Q] [--resources R] [--standalone]
#                      [--keep]
#
# Root (pacemaker-based drops to hacluster; ours runs as the caller). Pacemaker's column is
# skipped, with the reason, without /usr/lib/pacemaker/pacemaker-based or when one already runs
# (its IPC names are global).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${HA_BIN_DIR:-$here/../build/bin}
LC="$here/../tools/ha-localcluster"
BASED=/usr/lib/pacemaker/pacemaker-based
PCMK_CIBADMIN=/usr/sbin/cibadmin
COROSYNC=/usr/sbin/corosync
NETNS="cibbench-$$"
BRIDGE="cbb$$"
# The bridge, the namespaces, corosync.conf, starting corosync, the teardown.
# shellcheck source=../scripts/lib/corosync_netns.sh
. "$here/../scripts/lib/corosync_netns.sh"
standalone=no
writes=200
parallel=4
queries=10
resources=5000
keep=no
while [ $# -gt 0 ]; do
  case $1 in
    --writes) writes=$2; shift 2 ;;
    --parallel) parallel=$2; shift 2 ;;
    --queries) queries=$2; shift 2 ;;
    --resources) resources=$2; shift 2 ;;
    --standalone) standalone=yes; shift ;;
    --keep) keep=yes; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "cib_bench: unknown option $1" >&2; exit 64 ;;
  esac
done

WORK=$(mktemp -d /tmp/cib-bench.XXXXXX)
BASED_PID=""
ROOTS=()
cleanup() {
  [ -n "$BASED_PID" ] && kill "$BASED_PID" 2>/dev/null && wait "$BASED_PID" 2>/dev/null
  cns_teardown  # every process in our namespaces, the namespaces, the bridge
  local r
  for r in "${ROOTS[@]}"; do HA_LOCAL_ROOT=$r "$LC" down >/dev/null 2>&1 || true; done
  if [ "$keep" = yes ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The large CIB: gen_large_cib.py's configuration (R primitives, groups, constraints) with
# node_states but without operation history, so that it stays under the 4 MiB gRPC message
# limit of the local API (the full status of 5,000 resources is 5 MB); a high epoch, so that it
# replaces whatever the write rounds left.
python3 "$here/gen_large_cib.py" --nodes 3 --resources "$resources" --probes none "$WORK/full.xml" \
  >/dev/null
python3 - "$WORK/full.xml" "$WORK/large.xml" <<'EOF'
import sys
import xml.etree.ElementTree as ET
tree = ET.parse(sys.argv[1])
root = tree.getroot()
root.set("epoch", "1000000")
for state in root.find("status"):
    for lrm in state.findall("lrm"):
        state.remove(lrm)
tree.write(sys.argv[2])
EOF
echo "large CIB: $resources resources, $(wc -c <"$WORK/large.xml") bytes" >&2

RESULTS=$WORK/results.json
measure() {
  python3 "$here/cib_bench.py" measure "$1" "$WORK/large.xml" "$RESULTS" --writes "$writes" \
    --parallel "$parallel" --queries "$queries"
}

# ours N: an N-node local cluster, measured, then stopped (one target at a time: 2 CPUs).
ours() {
  local n=$1 root=$WORK/ours$1 i nodes="" deadline
  ROOTS+=("$root")
  export HA_LOCAL_ROOT=$root HA_LOCAL_PORT=$((20000 + RANDOM % 20000)) HA_BIN_DIR=$BIN
  "$LC" up "$n" >/dev/null
  deadline=$((SECONDS + 20))
  for ((i = 1; i <= n; i++)); do
    until HA_CONFIG=$root/node$i/corosync.conf "$BIN/hactl" health cibd 2>/dev/null |
      grep -q "synced, $n member"; do
      [ $SECONDS -lt $deadline ] || { echo "cib_bench: node $i of $n did not sync" >&2; exit 1; }
      sleep 0.1
    done
    nodes+="${nodes:+, }{\"HA_CONFIG\": \"$root/node$i/corosync.conf\"}"
  done
  measure "{\"name\": \"ours, $n node$([ "$n" = 1 ] || echo s)\", \"cibadmin\": \"$BIN/cibadmin\", \"nodes\": [$nodes]}"
  "$LC" down >/dev/null
}

# pacemaker_reason: why Pacemaker's column cannot run here (empty when it can).
pacemaker_reason() {
  if [ ! -x "$BASED" ] || [ ! -x "$PCMK_CIBADMIN" ]; then
    echo "no $BASED"
  elif pgrep -x pacemaker-based >/dev/null; then
    echo "a pacemaker-based already runs on this host"
  elif [ "$(id -u)" != 0 ]; then
    echo "needs root"
  fi
}

# pcmk_folder DIR CIB: a CIB folder for based (hacluster must reach it).
pcmk_folder() {
  chmod 711 "$WORK"
  mkdir -p "$1/cib"
  cp "$2" "$1/cib/cib.xml"  # no .sig: based warns and loads it
  chown -R hacluster:haclient "$1/cib"
}

# wait_based [NETNS]: until based answers its cibadmin (10 s).
wait_based() {
  local i run=()
  [ -n "${1:-}" ] && run=(ip netns exec "$1")
  for i in $(seq 1 100); do
    "${run[@]}" "$PCMK_CIBADMIN" -Q -o crm_config >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

# pacemaker_corosync N: based on an N-node corosync (N = 1 or 3), node i in the network namespace
# $NETNS-i (corosync's and based's IPC sockets are abstract, hence per namespace), the nodes
# joined by the bridge $BRIDGE when N > 1. The measurement runs inside node 1's namespace; the
# other nodes' cibadmin goes through `ip netns exec` (only the spread-writers row uses them).
pacemaker_corosync() {
  local n=$1 i dir ns addrs="" nodes="" wire
  echo '<cib admin_epoch="0" epoch="1" num_updates="0" validate-with="pacemaker-3.7">'`
    `'<configuration><crm_config/><nodes/><resources/><constraints/></configuration>'`
    `'<status/></cib>' >"$WORK/small.xml"  # based refuses a crm_feature_set newer than its own
  if [ "$n" -gt 1 ]; then
    cns_bridge_create "$BRIDGE" ||
      { echo "Pacemaker's $n-node column skipped: $CNS_ERROR" >&2; return 1; }
    for ((i = 1; i <= n; i++)); do addrs+=" 10.213.91.$i"; done
  else
    addrs=127.0.0.1
  fi
  for ((i = 1; i <= n; i++)); do
    ns=$NETNS-$i
    dir=$WORK/pcmk$n-$i
    mkdir -p "$dir/run" "$dir/state"
    pcmk_folder "$dir" "$WORK/small.xml"
    wire=()  # one node: corosync on the namespace's loopback
    if [ "$n" -gt 1 ]; then wire=("${BRIDGE}h$i" "10.213.91.$i/24"); fi
    if ! cns_netns_create "$ns" "${wire[@]}"; then
      echo "Pacemaker's $n-node column skipped: $CNS_ERROR" >&2
      return 1
    fi
    cns_write_conf "$dir/corosync.conf" "$addrs" -n cibbench -t "transport: knet" \
      -t "crypto_cipher: none" -t "crypto_hash: none" -l "$dir/corosync.log" -L \
      -x "uidgid {
    gid: haclient
}" -s "state_dir: $dir/state"
    # corosync and based share a mount namespace with a private /run (corosync's lock file).
    cns_start_corosync_with "$ns" "$dir/corosync.conf" "$dir/run" "$dir/corosync.out" "$dir/out" \
      "PCMK_logfile='$dir/cib/based.log' exec '$BASED' -w -r '$dir/cib'"
    nodes+="${nodes:+, }{\"prefix\": [\"ip\", \"netns\", \"exec\", \"$ns\"]}"
  done
  for ((i = 1; i <= n; i++)); do
    if ! wait_based "$NETNS-$i"; then
      echo "Pacemaker's $n-node column skipped: pacemaker-based on corosync did not start" \
        "(see $WORK/pcmk$n-$i)" >&2
      return 1
    fi
  done
  # Node 1 is measured from inside its namespace: no prefix for it.
  nodes="{}${nodes#*\}}"
  ip netns exec "$NETNS-1" python3 "$here/cib_bench.py" measure \
    "{\"name\": \"pacemaker, $n node$([ "$n" = 1 ] || echo s)\", \"cibadmin\": \"$PCMK_CIBADMIN\", \"nodes\": [$nodes]}" \
    "$WORK/large.xml" "$RESULTS" --writes "$writes" --parallel "$parallel" --queries "$queries"
  cns_teardown
}

# pacemaker_standalone: based -s, its large CIB put in its folder before it starts; queries only.
pacemaker_standalone() {
  pcmk_folder "$WORK/pcmk" "$WORK/large.xml"
  PCMK_logfile=$WORK/pcmk/cib/based.log "$BASED" -s -w -r "$WORK/pcmk/cib" >"$WORK/pcmk/out" 2>&1 &
  BASED_PID=$!
  if ! wait_based; then
    echo "Pacemaker's stand-alone column skipped: pacemaker-based -s did not start" >&2
    return 1
  fi
  measure "{\"name\": \"pacemaker-based -s\", \"cibadmin\": \"$PCMK_CIBADMIN\", \"nodes\": [{}], \"writes\": false}"
  kill "$BASED_PID"
  wait "$BASED_PID" 2>/dev/null || true
  BASED_PID=""
}

pacemaker() {
  local reason
  reason=$(pacemaker_reason)
  if [ -n "$reason" ]; then
    echo "Pacemaker's column skipped: $reason" >&2
    return
  fi
  if [ "$standalone" = no ] && [ -z "$(cns_unavailable)" ]; then
    if pacemaker_corosync 1; then
      pacemaker_corosync 3 || cns_teardown
      return
    fi
    cns_teardown
  fi
  pacemaker_standalone || true
}

ours 1
ours 3
pacemaker
echo "CIB benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs; every figure through cibadmin" \
  "(one process per operation); $writes writes, $queries queries per row"
python3 "$here/cib_bench.py" report "$RESULTS" --parallel "$parallel"
