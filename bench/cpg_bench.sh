#!/usr/bin/env bash
# cpg_bench.sh: process-group (CPG) multicast throughput of our membershipd side by side with
# Debian's corosync 3 in one run. Figures are printed, never asserted.
#
#   bench/cpg_bench.sh [--nodes 1,3] [--sizes 64,1024,65536] [--runs R] [--window W]
#                      [--count N] [--no-corosync] [--keep]
#
# One sender joins a group on node 1 and multicasts COUNT messages of each size (AGREED), with at
# most WINDOW of its own messages sent and not yet delivered back (pipelined), and counts its own
# deliveries: messages/s and MB/s of payload, submit-to-delivery latency p50/p99. The other nodes
# are members of the ring, not of the group.
#   ours      `ha-cpg bench --window W` over membershipd's libqb IPC (membershipd/cpg_ipc_*)
#   corosync  bench/cpg_client.c over libcpg (built here when the script runs: gcc, libcpg-dev),
#             against /usr/sbin/corosync -f (knet, crypto off, its default timers)
# Both run in the same network namespaces (cpgb-1..N on a bridge cpgb-br, 10.213.90.N/24): each
# corosync needs its own (its IPC sockets are abstract, hence per namespace) and a private /run
# (its lock file), and the IPC clients must run in their daemon's namespace. Ours runs with its
# defaults (token 200 ms), corosync with its own; each size is run R times (default 3), the
# median is reported with the ratio ours / corosync (above 1: ours is faster).
#
# Defaults: COUNT 100000 for 64 B and 1 KiB, 10000 for 64 KiB (--count sets all), WINDOW 256.
# Everything it starts (daemons, namespaces, bridge) is removed on exit; --keep keeps the logs.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# An optimized build (the project's default RelWithDebInfo): a Debug build is several times slower.
BIN=${HA_BIN_DIR:-$here/../build/bin}
COROSYNC=${COROSYNC:-/usr/sbin/corosync}
NODES="1,3"
SIZES="64,1024,65536"
RUNS=3
WINDOW=256
COUNT=""
WANT_COROSYNC=1
KEEP=0
NS_PREFIX=cpgb
BRIDGE=cpgb-br
NET=10.213.90
PORT=5405

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) NODES=$2; shift 2 ;;
    --sizes) SIZES=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --window) WINDOW=$2; shift 2 ;;
    --count) COUNT=$2; shift 2 ;;
    --no-corosync) WANT_COROSYNC=0; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "unknown argument: $1" >&2; usage 2 >&2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "cpg_bench.sh: needs root (network namespaces)" >&2; exit 1; }
[ -x "$BIN/membershipd" ] && [ -x "$BIN/ha-cpg" ] ||
  { echo "no $BIN/membershipd or ha-cpg: build them first" >&2; exit 1; }
IFS=, read -r -a NODE_LIST <<< "$NODES"
IFS=, read -r -a SIZE_LIST <<< "$SIZES"
MAXN=1
for n in "${NODE_LIST[@]}"; do [ "$n" -gt "$MAXN" ] && MAXN=$n; done

WORK=$(mktemp -d /tmp/cpgbench.XXXXXX)
PIDS=()
# The bridge, the namespaces, corosync.conf, starting corosync, the teardown.
# shellcheck source=../scripts/lib/corosync_netns.sh
. "$here/../scripts/lib/corosync_netns.sh"
log() { printf '%s %s\n' "$(date +%T.%3N)" "$*" >&2; }

cleanup() {
  local p
  trap - EXIT INT TERM
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  cns_teardown
  if [ "$KEEP" = 1 ]; then log "logs kept under $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

setup_netns() {
  if ! cns_bridge_create "$BRIDGE" || ! cns_make_nodes "$NS_PREFIX-" "$NS_PREFIX-" "$NET" "$MAXN"
  then echo "$CNS_ERROR" >&2; exit 1; fi
}

write_config() {  # write_config IMPL N NODE
  local impl=$1 total=$2 n=$3 dir j addrs="" opts
  dir=$WORK/$impl$total/n$n
  mkdir -p "$dir/state" "$dir/run"
  for ((j = 1; j <= total; j++)); do addrs+=" $NET.$j"; done
  opts=(-n cpgbench -p "$PORT" -l "$dir/cluster.log" -s "state_dir: $dir/state")
  if [ "$impl" = ours ]; then
    opts+=(-t "transport: udpu" -t "nodeid: $n" -s "run_dir: $dir/run")
  else
    opts+=(-t "transport: knet" -t "crypto_cipher: none" -t "crypto_hash: none")
  fi
  cns_write_conf "$dir/corosync.conf" "$addrs" "${opts[@]}"
}

start_node() {  # start_node IMPL N NODE
  local impl=$1 total=$2 n=$3 dir pid
  dir=$WORK/$impl$total/n$n
  if [ "$impl" = ours ]; then
    setsid ip netns exec "$NS_PREFIX-$n" "$BIN/membershipd" -c "$dir/corosync.conf" \
      >> "$dir/out" 2>&1 < /dev/null &
    pid=$!
    disown "$pid"
  else
    cns_start_corosync "$NS_PREFIX-$n" "$dir/corosync.conf" "$dir/run" "$dir/out"
    pid=$CNS_PID
  fi
  PIDS+=("$pid")
  echo "$pid" > "$dir/pid"
}

# Waits until every node's log shows all N members (ours: "members [1 2 3]", corosync:
# "Members[3]: 1 2 3").
wait_ring() {  # wait_ring IMPL N
  local impl=$1 total=$2 n re logs=()
  if [ "$impl" = ours ]; then re="new membership: .*members \\[$(seq -s ' ' 1 "$total")\\]"; else
    re=$(cns_members_re "$total"); fi
  for ((n = 1; n <= total; n++)); do logs+=("$WORK/$impl$total/n$n/cluster.log"); done
  if ! cns_wait_log "$re" 60 "${logs[@]}"; then
    n=${CNS_WAIT_FAILED%/cluster.log}; n=${n##*/n}
    log "$impl, $total node(s): node $n did not see all members in 60 s"
    tail -n 5 "$WORK/$impl$total/n$n/cluster.log" "$WORK/$impl$total/n$n/out" >&2 2>/dev/null
    return 1
  fi
  sleep 1  # let the ring settle (votequorum's first messages)
}

stop_cluster() {  # stop_cluster IMPL N
  local impl=$1 total=$2 n pid pids=()
  for ((n = 1; n <= total; n++)); do
    pid=$(cat "$WORK/$impl$total/n$n/pid" 2>/dev/null) && pids+=("$pid")
  done
  cns_stop_pids "${pids[@]}"
  sleep 0.5
}

count_for() { if [ -n "$COUNT" ]; then echo "$COUNT"; elif [ "$1" -ge 65536 ]; then echo 10000;
              else echo 100000; fi; }

# field LINE NAME: the value of NAME=VALUE in a bench line.
field() { sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" <<< "$1"; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-";
  else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A RATE MBPS P50 P99
run_bench() {  # run_bench IMPL N: every size, RUNS times, on node 1
  local impl=$1 total=$2 size r line rates mbs p50s p99s conf
  conf=$WORK/$impl$total/n1/corosync.conf
  for size in "${SIZE_LIST[@]}"; do
    rates=() mbs=() p50s=() p99s=()
    for ((r = 1; r <= RUNS; r++)); do
      if [ "$impl" = ours ]; then
        line=$(ip netns exec "$NS_PREFIX-1" timeout 180 "$BIN/ha-cpg" -c "$conf" bench \
          "bench$r" --size "$size" --count "$(count_for "$size")" --window "$WINDOW" 2>&1 | tail -1)
      else
        line=$(ip netns exec "$NS_PREFIX-1" timeout 180 "$WORK/cpg_client" "bench$r" "$size" \
          "$(count_for "$size")" "$WINDOW" 2>&1 | tail -1)
      fi
      log "$impl, $total node(s), $size B, run $r: $line"
      if [ -n "$(field "$line" msgs_per_s)" ]; then
        rates+=("$(field "$line" msgs_per_s)"); mbs+=("$(field "$line" mb_per_s)")
        p50s+=("$(field "$line" latency_us_p50)"); p99s+=("$(field "$line" latency_us_p99)")
      fi
    done
    RATE[$impl,$total,$size]=$(median "${rates[@]}")
    MBPS[$impl,$total,$size]=$(median "${mbs[@]}")
    P50[$impl,$total,$size]=$(median "${p50s[@]}")
    P99[$impl,$total,$size]=$(median "${p99s[@]}")
  done
}

# ---------------------------------------------------------------------------------------- main
CORO_SKIP=""
if [ "$WANT_COROSYNC" = 0 ]; then CORO_SKIP="--no-corosync"
elif [ ! -x "$COROSYNC" ]; then CORO_SKIP="no $COROSYNC (apt-get install corosync)"
elif ! pkg-config --exists libcpg; then CORO_SKIP="no libcpg (apt-get install libcpg-dev)"
elif ! read -r -a CPG_FLAGS <<< "$(pkg-config --cflags --libs libcpg)" ||
     ! gcc -O2 -o "$WORK/cpg_client" "$here/cpg_client.c" "${CPG_FLAGS[@]}" \
       2> "$WORK/cpg_client.build"; then
  CORO_SKIP="bench/cpg_client.c does not build: $(head -3 "$WORK/cpg_client.build")"
fi
[ -n "$CORO_SKIP" ] && log "corosync rows skipped: $CORO_SKIP"
setup_netns

printf 'cpg_bench: %s, %s CPUs, %s; corosync: %s; window %s, %s runs (median)\n' "$(date -Is)" \
  "$(nproc)" "$(uname -r)" "$( [ -x "$COROSYNC" ] && "$COROSYNC" -v 2>/dev/null | head -1 |
  sed 's/.*version .\([0-9.]*\).*/\1/' || echo none)" "$WINDOW" "$RUNS"
printf 'load average before: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"

IMPLS=(ours)
[ -z "$CORO_SKIP" ] && IMPLS+=(coro)
for total in "${NODE_LIST[@]}"; do
  for impl in "${IMPLS[@]}"; do
    log "$impl, $total node(s): starting"
    for ((n = 1; n <= total; n++)); do write_config "$impl" "$total" "$n"; start_node "$impl" "$total" "$n"; done
    if wait_ring "$impl" "$total"; then run_bench "$impl" "$total"; fi
    stop_cluster "$impl" "$total"
  done
done

printf 'load average after: %s\n\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %-7s %-9s %10s %9s %9s %9s\n' nodes size impl msgs/s MB/s p50_us p99_us
for total in "${NODE_LIST[@]}"; do
  for size in "${SIZE_LIST[@]}"; do
    for impl in "${IMPLS[@]}"; do
      printf '%-6s %-7s %-9s %10s %9s %9s %9s\n' "$total" "$size" \
        "$([ "$impl" = ours ] && echo ours || echo corosync)" "${RATE[$impl,$total,$size]:--}" \
        "${MBPS[$impl,$total,$size]:--}" "${P50[$impl,$total,$size]:--}" \
        "${P99[$impl,$total,$size]:--}"
    done
  done
done
if [ -z "$CORO_SKIP" ]; then
  printf '\nratios ours / corosync of the median msgs/s (above 1: ours is faster):\n'
  for total in "${NODE_LIST[@]}"; do
    for size in "${SIZE_LIST[@]}"; do
      printf '  %s node(s) %6s B  %s\n' "$total" "$size" "$(awk -v a="${RATE[ours,$total,$size]:-}" \
        -v b="${RATE[coro,$total,$size]:-}" 'BEGIN { if (a == "" || b == "" || a == "-" || b == "-" || b == 0)
        print "-"; else printf "%.2f", a / b }')"
    done
  done
fi
