#!/usr/bin/env bash
# Redundant rings (issue 4): how fast a dead ring is marked FAULTY and a restored one is back in
# service, and process-group throughput with one ring FAULTY against both healthy. Three nodes
# through tools/ha-localcluster with two rings (ring 0 127.0.0.x, ring 1 127.0.1.x), rrp_mode
# active (or --passive); ring 1's traffic dropped with nftables (root and nft needed).
#   bench/rrp_bench.sh [--runs 3] [--passive] [--messages 2000] [--size 1024]
set -uo pipefail
cd "$(dirname "$0")/.."
runs=3 mode=active messages=2000 size=1024
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --passive) mode=passive; shift ;;
    --messages) messages=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 64 ;;
  esac
done
[ "$(id -u)" = 0 ] && command -v nft >/dev/null || { echo "needs root and nft" >&2; exit 77; }
export HA_BIN_DIR=$PWD/build/bin HA_SOURCE_DIR=$PWD
export HA_LOCAL_ROOT HA_LOCAL_PORT=$((20000 + RANDOM % 20000))
HA_LOCAL_ROOT=$(mktemp -d /tmp/ha-rrp-bench.XXXXXX)
export HA_LOCAL_RINGS=2 HA_LOCAL_RRP_MODE=$mode
LC=tools/ha-localcluster
CFG=$HA_BIN_DIR/ha-cfgtool
TABLE="ha_rrp_bench_$$"
trap 'nft delete table inet "$TABLE" 2>/dev/null; "$LC" down >/dev/null 2>&1; rm -rf "$HA_LOCAL_ROOT"' EXIT

now_ms() { date +%s%3N; }
rundir() { echo "$HA_LOCAL_ROOT/node$1/run"; }
ring1() { "$CFG" --run-dir "$(rundir "$1")" -s 2>/dev/null | awk '$0 == "RING ID 1" { getline; getline; print; exit }'; }
all() { local n; for n in 1 2 3; do [[ "$(ring1 "$n")" == *"$1"* ]] || return 1; done; }
wait_all() {  # wait_all TEXT BOUND_MS: ms until ring 1 shows TEXT on every node, or -1
  local t0; t0=$(now_ms)
  while ! all "$1"; do
    [ $(($(now_ms) - t0)) -gt "$2" ] && { echo -1; return; }
    sleep 0.02
  done
  echo $(($(now_ms) - t0))
}
throughput() {  # messages per second of `ha-cpg bench` on node 1
  "$HA_BIN_DIR/ha-cpg" --run-dir "$(rundir 1)" bench rrpbench --count "$messages" --size "$size" 2>/dev/null |
    sed -n 's/.*msgs_per_s=\([0-9.]*\).*/\1/p' | head -1
}

"$LC" up 3 >/dev/null || { echo "the local cluster did not start" >&2; exit 1; }
nft add table inet "$TABLE"
nft add chain inet "$TABLE" input '{ type filter hook input priority -5; policy accept; }'
sleep 2
healthy=$(throughput)
faulty_ms=() recover_ms=()
for _ in $(seq "$runs"); do
  nft add rule inet "$TABLE" input ip daddr 127.0.1.1-127.0.1.3 udp dport "$HA_LOCAL_PORT" drop
  faulty_ms+=("$(wait_all FAULTY 20000)")
  [ ${#faulty_ms[@]} -eq 1 ] && degraded=$(throughput)
  nft flush chain inet "$TABLE" input
  recover_ms+=("$(wait_all "active with no faults" 30000)")
done
echo "rrp_mode $mode, 3 nodes, $runs runs (ms; -1 = not within the bound)"
echo "  ring 1 dropped -> FAULTY on every node:      ${faulty_ms[*]}"
echo "  ring 1 restored -> back in service everywhere: ${recover_ms[*]}"
echo "  ha-cpg bench ($messages x $size B): both rings ${healthy:-?} msg/s, ring 1 FAULTY ${degraded:-?} msg/s"
