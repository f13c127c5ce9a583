#!/usr/bin/env bash
# membership_idle.sh: the CPU an idle membershipd costs, side by side with Debian's corosync 3.
# Starts N membershipd (default 3) on 127.0.0.1..N with their defaults, waits until the ring has
# every node, then samples each daemon's user+system CPU time (/proc/PID/stat, all threads) and
# its voluntary context switches (wakeups: the main thread's, /proc/PID/status, and all threads')
# over SECONDS (default 30) and prints them per daemon, with the ring's token rotations
# (ha-cfgtool -C: totem.orf_token_rx) over the same window. Then the same for N corosync 3
# (/usr/sbin/corosync -f, crypto off, its default timers) in network namespaces, one per node
# (mbidle-1..N on a bridge mbidle-br, 10.213.92.i), with knet (its default) and with udpu, one
# after the other (token rotations: corosync-cmapctl stats.srp.orf_token_rx), and the ratios
# ours / corosync of the mean CPU and wakeups per daemon. Figures are printed, never asserted.
#
#   bench/membership_idle.sh [--nodes N] [--seconds S] [--port P] [--no-corosync] [--keep]
#
# The corosync rows are skipped, with the reason, without root, /usr/sbin/corosync or network
# namespaces. Everything it starts (daemons, namespaces, bridge) is removed on exit.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${HA_BIN_DIR:-$here/../build/bin}
COROSYNC=${COROSYNC:-/usr/sbin/corosync}
NODES=3
SECONDS_=30
PORT=27405
KEEP=0
WANT_COROSYNC=1
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) NODES=$2; shift 2 ;;
    --seconds) SECONDS_=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --no-corosync) WANT_COROSYNC=0; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[ -x "$BIN/membershipd" ] || { echo "no $BIN/membershipd: build it first" >&2; exit 1; }
WORK=$(mktemp -d /tmp/mbidle.XXXXXX)
PIDS=()
# The bridge, the namespaces, corosync.conf, starting corosync, the teardown.
# shellcheck source=../scripts/lib/corosync_netns.sh
. "$here/../scripts/lib/corosync_netns.sh"
cleanup() {
  local p
  trap - EXIT INT TERM
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 0.5
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  cns_teardown
  if [ "$KEEP" = 1 ]; then echo "logs kept under $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

HZ=$(getconf CLK_TCK)
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
wakeups() { awk '/^voluntary_ctxt_switches/ { print $2 }' "/proc/$1/status"; }
wakeups_all() { cat "/proc/$1"/task/*/status 2>/dev/null |
  awk '/^voluntary_ctxt_switches/ { s += $2 } END { print s + 0 }'; }

# measure TOKENS_FN PID...: samples the daemons over SECONDS_ s and prints a line per daemon and
# their means; TOKENS_FN prints node 1's token count. Sets CPU (mean %), WAKE and WAKE_ALL (mean
# wakeups/s: main thread, all threads).
CPU="" WAKE="" WAKE_ALL=""
measure() {
  local tokens_fn=$1 i t w wa pct tok0 tok1 total=0 wsum=0 wasum=0
  shift
  local pids=("$@") t0=() w0=() wa0=()
  for i in "${!pids[@]}"; do
    t0[i]=$(ticks "${pids[i]}"); w0[i]=$(wakeups "${pids[i]}"); wa0[i]=$(wakeups_all "${pids[i]}")
  done
  tok0=$("$tokens_fn")
  sleep "$SECONDS_"
  tok1=$("$tokens_fn")
  for i in "${!pids[@]}"; do
    t=$(( $(ticks "${pids[i]}") - t0[i] ))
    w=$(( $(wakeups "${pids[i]}") - w0[i] ))
    wa=$(( $(wakeups_all "${pids[i]}") - wa0[i] ))
    pct=$(awk -v t="$t" -v hz="$HZ" -v s="$SECONDS_" 'BEGIN { printf "%.2f", 100 * t / hz / s }')
    total=$(awk -v a="$total" -v b="$pct" 'BEGIN { print a + b }')
    wsum=$((wsum + w)); wasum=$((wasum + wa))
    printf '  node %s: cpu %s%%  wakeups/s %s (all threads %s)\n' "$((i + 1))" "$pct" \
      "$(awk -v w="$w" -v s="$SECONDS_" 'BEGIN { printf "%.0f", w / s }')" \
      "$(awk -v w="$wa" -v s="$SECONDS_" 'BEGIN { printf "%.0f", w / s }')"
  done
  CPU=$(awk -v t="$total" -v n="${#pids[@]}" 'BEGIN { printf "%.2f", t / n }')
  WAKE=$(awk -v w="$wsum" -v n="${#pids[@]}" -v s="$SECONDS_" 'BEGIN { printf "%.0f", w / n / s }')
  WAKE_ALL=$(awk -v w="$wasum" -v n="${#pids[@]}" -v s="$SECONDS_" 'BEGIN { printf "%.0f", w / n / s }')
  printf '  mean per daemon: cpu %s%%, wakeups/s %s (all threads %s); token visits at node 1: %s/s\n' \
    "$CPU" "$WAKE" "$WAKE_ALL" \
    "$( [ -n "$tok0" ] && [ -n "$tok1" ] && awk -v a="$tok0" -v b="$tok1" -v s="$SECONDS_" \
        'BEGIN { r = (b - a) / s; printf(r < 10 ? "%.1f" : "%.0f", r) }' || echo '?')"
}

# ------------------------------------------------------------------------------------ ours
addrs=""
for ((j = 1; j <= NODES; j++)); do addrs+=" 127.0.0.$j"; done
for ((n = 1; n <= NODES; n++)); do
  d=$WORK/n$n
  mkdir -p "$d/state" "$d/run"
  cns_write_conf "$d/corosync.conf" "$addrs" -n idle -t "transport: udpu" -t "nodeid: $n" \
    -p "$PORT" -l "$d/cluster.log" -L -s "state_dir: $d/state" -s "run_dir: $d/run"
  "$BIN/membershipd" -c "$d/corosync.conf" > "$d/out" 2>&1 < /dev/null &
  PIDS+=($!)
done
logs=()
for ((n = 1; n <= NODES; n++)); do logs+=("$WORK/n$n/cluster.log"); done
if ! cns_wait_log "new membership: .*members \\[$(seq -s ' ' 1 "$NODES")\\]" 60 "${logs[@]}"; then
  n=${CNS_WAIT_FAILED%/cluster.log}; echo "node ${n##*/n} did not see all $NODES nodes" >&2; exit 1
fi
sleep 2  # past the first votequorum exchange

ours_tokens() { "$BIN/ha-cfgtool" --run-dir "$WORK/n1/run" -C totem.orf_token_rx 2>/dev/null |
  awk '/^totem.orf_token_rx / { print $NF }'; }
printf 'membership_idle: %s, %s CPUs, load average %s, %s nodes idle for %s s\n' "$(date -Is)" \
  "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$NODES" "$SECONDS_"
printf 'ours (membershipd, its defaults, 127.0.0.1-%s):\n' "$NODES"
measure ours_tokens "${PIDS[@]}"
OURS_CPU=$CPU OURS_WAKE=$WAKE OURS_WAKE_ALL=$WAKE_ALL
for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
PIDS=()

# -------------------------------------------------------------------------------- corosync 3
if [ "$WANT_COROSYNC" = 0 ]; then SKIP="--no-corosync"; else SKIP=$(cns_unavailable); fi
if [ -z "$SKIP" ]; then
  if ! cns_bridge_create mbidle-br || ! cns_make_nodes mbidle- mbidle- 10.213.92 "$NODES"; then
    SKIP=$CNS_ERROR
  fi
fi
coro_tokens() { ip netns exec mbidle-1 corosync-cmapctl -m stats stats.srp.orf_token_rx 2>/dev/null |
  awk '/^stats.srp.orf_token_rx / { print $NF }'; }
declare -A CORO_CPU=() CORO_WAKE=() CORO_WAKE_ALL=()
TRANSPORTS=(knet udpu)
addrs=""
for ((j = 1; j <= NODES; j++)); do addrs+=" 10.213.92.$j"; done
for tr in "${TRANSPORTS[@]}"; do
  if [ -n "$SKIP" ]; then printf 'corosync 3 (%s): skipped: %s\n' "$tr" "$SKIP"; continue; fi
  cpids=() logs=()
  for ((n = 1; n <= NODES; n++)); do
    d=$WORK/coro-$tr/n$n
    mkdir -p "$d/state" "$d/run"
    cns_write_conf "$d/corosync.conf" "$addrs" -n idle -t "transport: $tr" \
      -t "crypto_cipher: none" -t "crypto_hash: none" -p 5405 -l "$d/cluster.log" \
      -s "state_dir: $d/state"
    cns_start_corosync "mbidle-$n" "$d/corosync.conf" "$d/run" "$d/out"
    cpids+=("$CNS_PID")
    logs+=("$d/cluster.log")
  done
  if cns_wait_log "$(cns_members_re "$NODES")" 60 "${logs[@]}" && cns_wait_quorate mbidle-1 30; then
    sleep 2
    printf 'corosync 3 (%s, its default timers, crypto off, network namespaces 10.213.92.1-%s):\n' \
      "$tr" "$NODES"
    measure coro_tokens "${cpids[@]}"
    CORO_CPU[$tr]=$CPU CORO_WAKE[$tr]=$WAKE CORO_WAKE_ALL[$tr]=$WAKE_ALL
  else
    printf 'corosync 3 (%s): did not form a ring of %s: %s\n' "$tr" "$NODES" "$CNS_ERROR"
    tail -n 5 "${CNS_WAIT_FAILED:-${logs[0]}}" >&2 2>/dev/null
  fi
  cns_stop_pids "${cpids[@]}"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
if [ ${#CORO_CPU[@]} -gt 0 ]; then
  printf 'ratios ours / corosync 3, mean per daemon (below 1: ours costs less):\n'
  for tr in "${TRANSPORTS[@]}"; do
    [ -n "${CORO_CPU[$tr]:-}" ] || continue
    printf '  vs %-5s cpu %s  wakeups/s %s (all threads %s)\n' "$tr" \
      "$(ratio "$OURS_CPU" "${CORO_CPU[$tr]}")" "$(ratio "$OURS_WAKE" "${CORO_WAKE[$tr]}")" \
      "$(ratio "$OURS_WAKE_ALL" "${CORO_WAKE_ALL[$tr]}")"
  done
fi
