#!/usr/bin/env bash
# membership_idle.sh: the CPU an idle membershipd costs. Starts N membershipd (default 3) on
# 127.0.0.1..N with their defaults, waits until the ring has every node, then samples each
# daemon's user+system CPU time (/proc/PID/stat) and its voluntary context switches (wakeups)
# over SECONDS (default 30) and prints them per daemon, with the ring's token rotations
# (ha-cfgtool -C: totem.orf_token_rx) over the same window. Figures are printed, never asserted.
#
#   bench/membership_idle.sh [--nodes N] [--seconds S] [--port P] [--keep]
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${HA_BIN_DIR:-$here/../build/bin}
NODES=3
SECONDS_=30
PORT=27405
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) NODES=$2; shift 2 ;;
    --seconds) SECONDS_=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[ -x "$BIN/membershipd" ] || { echo "no $BIN/membershipd: build it first" >&2; exit 1; }
WORK=$(mktemp -d /tmp/mbidle.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 0.5
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  if [ "$KEEP" = 1 ]; then echo "logs kept under $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for ((n = 1; n <= NODES; n++)); do
  d=$WORK/n$n
  mkdir -p "$d/state" "$d/run"
  {
    printf 'totem {\n    version: 2\n    cluster_name: idle\n    transport: udpu\n    nodeid: %s\n' "$n"
    printf '    interface {\n        linknumber: 0\n        mcastport: %s\n    }\n}\nnodelist {\n' "$PORT"
    for ((j = 1; j <= NODES; j++)); do
      printf '    node {\n        nodeid: %s\n        name: node%s\n        ring0_addr: 127.0.0.%s\n    }\n' \
        "$j" "$j" "$j"
    done
    printf '}\nquorum {\n    provider: corosync_votequorum\n}\n'
    printf 'logging {\n    to_syslog: no\n    to_stderr: no\n    to_logfile: yes\n    logfile: %s\n}\n' \
      "$d/cluster.log"
    printf 'system {\n    state_dir: %s\n    run_dir: %s\n}\n' "$d/state" "$d/run"
  } > "$d/corosync.conf"
  "$BIN/membershipd" -c "$d/corosync.conf" > "$d/out" 2>&1 < /dev/null &
  PIDS+=($!)
done
members=$(seq -s ' ' 1 "$NODES")
deadline=$(( $(date +%s) + 60 ))
for ((n = 1; n <= NODES; n++)); do
  until grep -q "new membership: .*members \[$members\]" "$WORK/n$n/cluster.log" 2>/dev/null; do
    [ "$(date +%s)" -ge "$deadline" ] && { echo "node $n did not see all $NODES nodes" >&2; exit 1; }
    sleep 0.1
  done
done
sleep 2  # past the first votequorum exchange

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
wakeups() { awk '/^voluntary_ctxt_switches/ { print $2 }' "/proc/$1/status"; }
tokens() { "$BIN/ha-cfgtool" --run-dir "$WORK/n1/run" -C totem.orf_token_rx 2>/dev/null |
  awk '/^totem.orf_token_rx / { print $NF }'; }
HZ=$(getconf CLK_TCK)
declare -a T0 W0
for i in "${!PIDS[@]}"; do T0[$i]=$(ticks "${PIDS[$i]}"); W0[$i]=$(wakeups "${PIDS[$i]}"); done
tok0=$(tokens)
sleep "$SECONDS_"
tok1=$(tokens)
printf 'membership_idle: %s, %s CPUs, load average %s, %s nodes idle for %s s\n' "$(date -Is)" \
  "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$NODES" "$SECONDS_"
total=0
for i in "${!PIDS[@]}"; do
  t=$(( $(ticks "${PIDS[$i]}") - T0[i] ))
  w=$(( $(wakeups "${PIDS[$i]}") - W0[i] ))
  pct=$(awk -v t="$t" -v hz="$HZ" -v s="$SECONDS_" 'BEGIN { printf "%.2f", 100 * t / hz / s }')
  total=$(awk -v a="$total" -v b="$pct" 'BEGIN { print a + b }')
  printf '  node %s: cpu %s%%  wakeups/s %s\n' "$((i + 1))" "$pct" \
    "$(awk -v w="$w" -v s="$SECONDS_" 'BEGIN { printf "%.0f", w / s }')"
done
printf '  mean cpu per daemon %.2f%%; token visits at node 1: %s/s\n' \
  "$(awk -v t="$total" -v n="$NODES" 'BEGIN { print t / n }')" \
  "$( [ -n "$tok0" ] && [ -n "$tok1" ] && awk -v a="$tok0" -v b="$tok1" -v s="$SECONDS_" \
      'BEGIN { printf "%.0f", (b - a) / s }' || echo '?')"
