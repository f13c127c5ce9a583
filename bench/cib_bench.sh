#!/usr/bin/env bash
# cibd against Pacemaker's CIB manager, in one run (issue 5): commit latency and updates/s of a
# one-nvpair modification, and query times of a 5,000-resource CIB, on
#   - ours, 1 node and 3 nodes (tools/ha-localcluster; writes replicated through membershipd)
#   - Debian's pacemaker-based run stand-alone (-s), with disk writes (-w), in a private folder
#     (-r DIR: nothing under /var/lib/pacemaker is used), driven by its own cibadmin.
# Pacemaker's writes are not measured: a stand-alone based (2.1.5) forwards every write "to all"
# through the cluster layer, which is absent, and never applies it (cibadmin times out), also
# after it was made primary (cib_t set_primary) and with cibadmin --no-bcast; so its column has
# the query rows only, its large CIB put in its folder before it starts.
# Every operation is one cibadmin process, as an administrator or a script would run it; the
# "client baseline" row shows what starting one costs. Prints a table and the ratios.
#
#   bench/cib_bench.sh [--writes N] [--parallel P] [--queries Q] [--resources R] [--keep]
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
    --keep) keep=yes; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "cib_bench: unknown option $1" >&2; exit 64 ;;
  esac
done

WORK=$(mktemp -d /tmp/cib-bench.XXXXXX)
BASED_PID=""
ROOTS=()
cleanup() {
  [ -n "$BASED_PID" ] && kill "$BASED_PID" 2>/dev/null && wait "$BASED_PID" 2>/dev/null
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

pacemaker() {
  local reason=""
  if [ ! -x "$BASED" ] || [ ! -x "$PCMK_CIBADMIN" ]; then
    reason="no $BASED"
  elif pgrep -x pacemaker-based >/dev/null; then
    reason="a pacemaker-based already runs on this host"
  elif [ "$(id -u)" != 0 ]; then
    reason="needs root"
  else
    chmod 711 "$WORK"  # hacluster must reach its folder
    mkdir -p "$WORK/pcmk/cib"
    cp "$WORK/large.xml" "$WORK/pcmk/cib/cib.xml"  # no .sig: based warns and loads it
    chown -R hacluster:haclient "$WORK/pcmk"
    PCMK_logfile=$WORK/pcmk/based.log "$BASED" -s -w -r "$WORK/pcmk/cib" >"$WORK/pcmk/out" 2>&1 &
    BASED_PID=$!
    for _ in $(seq 1 100); do
      "$PCMK_CIBADMIN" -Q -o crm_config >/dev/null 2>&1 && break
      sleep 0.1
    done
    "$PCMK_CIBADMIN" -Q -o crm_config >/dev/null 2>&1 || reason="pacemaker-based did not start"
  fi
  if [ -n "$reason" ]; then
    echo "Pacemaker's column skipped: $reason" >&2
    return
  fi
  measure "{\"name\": \"pacemaker-based -s\", \"cibadmin\": \"$PCMK_CIBADMIN\", \"nodes\": [{}], \"writes\": false}"
  kill "$BASED_PID"
  wait "$BASED_PID" 2>/dev/null || true
  BASED_PID=""
}

ours 1
ours 3
pacemaker
echo "CIB benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs; every figure through cibadmin" \
  "(one process per operation); $writes writes, $queries queries per row"
python3 "$here/cib_bench.py" report "$RESULTS" --parallel "$parallel"
