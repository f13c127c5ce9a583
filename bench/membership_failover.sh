#!/usr/bin/env bash
# membership_failover.sh: failure detection time and membership stability of our membershipd,
# side by side with Debian's corosync 3 in the same run. Figures are printed, never asserted.
#
#   bench/membership_failover.sh [--runs K] [--soak SECONDS] [--loss PERCENT] [--modes kill,stop]
#         [--no-corosync] [--no-soak] [--no-detect] [--together] [--no-load] [--keep]
#         [--clusters NAME,...]
#
# 1. Failure detection: 3 nodes; node 3 is killed (SIGKILL: its port closes, so the kernel answers
#    the survivors' packets with ICMP port unreachable) or frozen (SIGSTOP: a hung node, no ICMP,
#    only the token timeout can tell); the time from the signal (date +%s.%N just before it) to the
#    moment both survivors have logged the new membership without node 3 (hires log timestamps,
#    1 ms). K runs (default 10), node 3 restarted and rejoined between runs; min/median/max.
# 2. Stability: the clusters idle for SECONDS (default 600) with every CPU saturated
#    (stress-ng, else `yes`) and PERCENT (default 5) random loss of the ring's UDP datagrams
#    (nftables `numgen random mod 100 < PERCENT` drop on input, in tables of our own): the number
#    of memberships formed (any new ring) and of those where a node was dropped. Our clusters soak
#    first, then corosync's (--together: all at once); so 2 x SOAK seconds by default.
#
# Clusters (name for --clusters; node i's config, state and log under a work folder of its own):
#   ours_lo       membershipd, its defaults (token 200 ms, token_coefficient 10), 127.0.0.1-3
#   ours_lo_ct    membershipd with corosync's timers (token 3000, token_coefficient 650)
#   ours_ns       membershipd, defaults, in network namespaces mfbench-a{1,2,3} (10.213.77.1-3)
#   coro_ns       /usr/sbin/corosync -f, knet, its defaults, in the same namespaces
# and for the stability part only:
#   ours_lo_nort  ours_lo without real-time scheduling (system { sched_rr: no }): with SCHED_RR a
#   coro_ns_nort  CPU hog at normal priority cannot delay either daemon (corosync in mfbench-b*)
#   coro_ns_udpu  corosync with transport udpu instead of knet (mfbench-c*), since knet's own link
#                 heartbeat is what gives way under loss
# Each corosync runs in its own network namespace (its IPC sockets are abstract, hence per
# namespace) and its own mount namespace with a private /run (its lock file is /run/corosync.pid).
# The namespaces hang off a bridge mfbench-br in the root namespace. Corosync rows are skipped,
# with the reason, when corosync, ip netns or root are not available.
#
# Everything this starts is removed on exit (processes, namespaces, bridge, nft tables, CPU hogs);
# --keep keeps the work folder with the logs.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${HA_BIN_DIR:-$here/../build/bin}
COROSYNC=${COROSYNC:-/usr/sbin/corosync}
RUNS=10
SOAK=600
LOSS=5
MODES="kill,stop"
WANT_COROSYNC=1
DO_SOAK=1
DO_DETECT=1
KEEP=0
TOGETHER=0
NO_LOAD=0
ONLY=""  # --clusters: a comma-separated subset of the cluster names below
BASE_PORT=${MFB_PORT:-25405}  # ours on the loopback: 25405, 25415, 25425

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --soak) SOAK=$2; shift 2 ;;
    --loss) LOSS=$2; shift 2 ;;
    --modes) MODES=$2; shift 2 ;;
    --no-corosync) WANT_COROSYNC=0; shift ;;
    --no-soak) DO_SOAK=0; shift ;;
    --no-detect) DO_DETECT=0; shift ;;
    --keep) KEEP=1; shift ;;
    --together) TOGETHER=1; shift ;;
    --no-load) NO_LOAD=1; shift ;;
    --clusters) ONLY=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "unknown argument: $1" >&2; usage 2 >&2 ;;
  esac
done
[[ "$RUNS" =~ ^[0-9]+$ && "$RUNS" -ge 1 ]] || { echo "--runs: a positive number" >&2; exit 2; }
[[ "$SOAK" =~ ^[0-9]+$ && "$SOAK" -ge 1 ]] || { echo "--soak: seconds" >&2; exit 2; }
[[ "$LOSS" =~ ^[0-9]+$ && "$LOSS" -le 100 ]] || { echo "--loss: a percentage" >&2; exit 2; }
[ -x "$BIN/membershipd" ] || { echo "no $BIN/membershipd: build it first" >&2; exit 1; }

WORK=$(mktemp -d /tmp/mfbench.XXXXXX)
NFT_TABLE=mfbench
BRIDGE=mfbench-br
PIDFILES=()    # every daemon we started
LOAD_PIDS=()   # CPU hogs
NFT_MADE=0
# The bridge, the namespaces, corosync.conf, starting corosync, the teardown; CNS_NETNS are the
# namespaces we created.
# shellcheck source=../scripts/lib/corosync_netns.sh
. "$here/../scripts/lib/corosync_netns.sh"

log() { printf '%s %s\n' "$(date +%T.%3N)" "$*" >&2; }

# ---------------------------------------------------------------------------------------- cleanup
stop_load() {
  local p
  for p in "${LOAD_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done  # stress-ng stops its workers
  [ ${#LOAD_PIDS[@]} -gt 0 ] && sleep 0.3
  for p in "${LOAD_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  for p in "${LOAD_PIDS[@]}"; do wait "$p" 2>/dev/null; done
  LOAD_PIDS=()
}

remove_loss() {
  local ns
  if [ "$NFT_MADE" = 1 ]; then nft delete table inet "$NFT_TABLE" 2>/dev/null; NFT_MADE=0; fi
  for ns in "${CNS_NETNS[@]}"; do
    ip netns exec "$ns" nft delete table inet "$NFT_TABLE" 2>/dev/null
  done
}

cleanup() {
  local f pid
  trap - EXIT INT TERM
  stop_load
  for f in "${PIDFILES[@]}"; do
    pid=$(cat "$f" 2>/dev/null) && [ -n "$pid" ] &&
      tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qE 'membershipd|corosync' &&
      kill -KILL "$pid" 2>/dev/null
  done
  for f in "${PIDFILES[@]}"; do
    pid=$(cat "$f" 2>/dev/null) && [ -n "$pid" ] && wait "$pid" 2>/dev/null
  done
  remove_loss
  cns_teardown
  if [ "$KEEP" = 1 ]; then log "logs kept under $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------------------- the clusters
# A cluster: impl (ours|coro), net (lo|a|b), port, timers (def|coro), rt (yes|no), label.
declare -A IMPL NET PORT TIMERS RT LABEL TRANSPORT
def_cluster() { IMPL[$1]=$2; NET[$1]=$3; PORT[$1]=$4; TIMERS[$1]=$5; RT[$1]=$6; LABEL[$1]=$7; }
def_cluster ours_lo      ours lo $BASE_PORT        def  yes "ours, defaults (lo)"
def_cluster ours_lo_ct   ours lo $((BASE_PORT+10)) coro yes "ours, corosync timers (lo)"
def_cluster ours_ns      ours a  5415              def  yes "ours, defaults (netns)"
def_cluster coro_ns      coro a  5405              def  yes "corosync 3 (netns)"
def_cluster ours_lo_nort ours lo $((BASE_PORT+20)) def  no  "ours, defaults, no RT (lo)"
def_cluster coro_ns_nort coro b  5405              def  no  "corosync 3, no RT (netns)"
def_cluster coro_ns_udpu coro c  5405              def  yes "corosync 3, udpu (netns)"
TRANSPORT[coro_ns_udpu]=udpu

SKIP_REASON=""  # why the namespace clusters cannot run, if they cannot
addr() {  # addr CLUSTER NODE
  case "${NET[$1]}" in
    lo) echo "127.0.0.$2" ;;
    a) echo "10.213.77.$2" ;;
    b) echo "10.213.78.$2" ;;
    c) echo "10.213.79.$2" ;;
  esac
}
netns_of() { echo "mfbench-${NET[$1]}$2"; }
PHASE=detect  # detect | soak: each phase has its own folders
node_dir() { echo "$WORK/$PHASE/$1/n$2"; }
log_of() { echo "$WORK/$PHASE/$1/n$2/cluster.log"; }
why_not() {  # why a cluster did not run
  if [ -n "$ONLY" ] && [[ ",$ONLY," != *",$1,"* ]]; then echo "not in --clusters"; else echo "$SKIP_REASON"; fi
}
available() {
  [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]] || return 1
  [ "${NET[$1]}" = lo ] && return 0
  [ -z "$SKIP_REASON" ]
}

setup_netns() {
  if [ "$(id -u)" != 0 ]; then SKIP_REASON="not root"; return; fi
  if [ "$WANT_COROSYNC" = 0 ]; then SKIP_REASON="--no-corosync"; return; fi
  SKIP_REASON=$(cns_unavailable)
  [ -z "$SKIP_REASON" ] || return 0
  if ! cns_bridge_create "$BRIDGE"; then
    SKIP_REASON="cannot create bridge $BRIDGE (already there? another run?)"; return
  fi
  cns_make_nodes mfbench-a mfb-a 10.213.77 3 && cns_make_nodes mfbench-b mfb-b 10.213.78 3 &&
    cns_make_nodes mfbench-c mfb-c 10.213.79 3 || SKIP_REASON=$CNS_ERROR
}

write_config() {  # write_config CLUSTER NODE
  local c=$1 n=$2 dir opts
  dir=$(node_dir "$c" "$n")
  mkdir -p "$dir/state" "$dir/run"
  opts=(-n mfbench -p "${PORT[$c]}" -l "$dir/cluster.log" -s "state_dir: $dir/state")
  if [ "${IMPL[$c]}" = ours ]; then
    opts+=(-t "transport: udpu" -t "nodeid: $n" -s "run_dir: $dir/run")
  else
    opts+=(-t "transport: ${TRANSPORT[$c]:-knet}" -t "crypto_cipher: none" -t "crypto_hash: none")
  fi
  [ "${TIMERS[$c]}" = coro ] && opts+=(-t "token: 3000" -t "token_coefficient: 650")
  [ "${RT[$c]}" = no ] && opts+=(-s "sched_rr: no")
  cns_write_conf "$dir/corosync.conf" "$(addr "$c" 1) $(addr "$c" 2) $(addr "$c" 3)" "${opts[@]}"
}

start_node() {  # start_node CLUSTER NODE
  local c=$1 n=$2 dir pid
  dir=$(node_dir "$c" "$n")
  if [ "${IMPL[$c]}" = ours ]; then
    if [ "${NET[$c]}" = lo ]; then
      setsid "$BIN/membershipd" -c "$dir/corosync.conf" >> "$dir/out" 2>&1 < /dev/null &
    else
      setsid ip netns exec "$(netns_of "$c" "$n")" "$BIN/membershipd" -c "$dir/corosync.conf" \
        >> "$dir/out" 2>&1 < /dev/null &
    fi
    pid=$!
    disown "$pid"  # no "Killed" job reports; bash still reaps it
  else
    cns_start_corosync "$(netns_of "$c" "$n")" "$dir/corosync.conf" "$dir/run" "$dir/out"
    pid=$CNS_PID
  fi
  echo "$pid" > "$dir/pid"
}

node_pid() { cat "$(node_dir "$1" "$2")/pid" 2>/dev/null; }

alive() { [ -d "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

kill_node() {  # kill_node CLUSTER NODE: SIGKILL, wait until it is gone, forget its pid
  local pid
  pid=$(node_pid "$1" "$2")
  [ -n "$pid" ] || return 0
  kill -KILL "$pid" 2>/dev/null
  for _ in $(seq 100); do alive "$pid" || break; sleep 0.05; done
  wait "$pid" 2>/dev/null
  : > "$(node_dir "$1" "$2")/pid"
  return 0
}

# Patterns: a new membership (group 1: its ring id), one without node 3, all three nodes in it.
change_re() { [ "${IMPL[$1]}" = ours ] && echo 'new membership: ring ([0-9a-f.]+)' ||
                echo 'A new membership \(([0-9a-f.]+)\) was formed'; }
left3_re() { [ "${IMPL[$1]}" = ours ] && echo 'new membership: .* left \[([0-9 ]* )?3( [0-9 ]*)?\]' ||
               echo 'A new membership .*Members left: ([0-9 ]* )?3( |$)'; }
full_re() { [ "${IMPL[$1]}" = ours ] && echo 'new membership: .*members \[1 2 3\]' ||
              echo 'Members\[3\]: 1 2 3'; }

size_of() { stat -c %s "$1" 2>/dev/null || echo 0; }

# wait_line FILE OFFSET REGEX TIMEOUT_S: print the first line after byte OFFSET matching REGEX.
wait_line() {
  local f=$1 off=$2 re=$3 deadline line
  deadline=$(( $(date +%s) + $4 ))
  while :; do
    if [ -f "$f" ]; then
      line=$(tail -c +"$((off + 1))" "$f" | grep -m1 -E -- "$re")
      [ -n "$line" ] && { printf '%s\n' "$line"; return 0; }
    fi
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.05
  done
}

# The epoch time (s.ms) of a log line "Nov 23 03:24:06.554 ...".
line_time() { date -d "$(cut -c1-19 <<< "$1")" +%s.%3N; }

start_cluster() {  # start_cluster CLUSTER: start 3 nodes, wait until each has all 3 in its ring
  local c=$1 n off=()
  mkdir -p "$WORK/$PHASE/$c"
  for n in 1 2 3; do
    write_config "$c" "$n"
    off[$n]=$(size_of "$(log_of "$c" "$n")")
    PIDFILES+=("$(node_dir "$c" "$n")/pid")
    start_node "$c" "$n"
  done
  for n in 1 2 3; do
    if ! wait_line "$(log_of "$c" "$n")" "${off[$n]}" "$(full_re "$c")" 90 >/dev/null; then
      log "${LABEL[$c]}: node $n did not see all 3 nodes in 90 s; its log:"
      tail -n 20 "$(log_of "$c" "$n")" "$(node_dir "$c" "$n")/out" >&2 2>/dev/null
      return 1
    fi
  done
}

stop_cluster() {
  local c=$1 n pid
  for n in 1 2 3; do
    pid=$(node_pid "$c" "$n"); [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
  done
  for n in 1 2 3; do
    pid=$(node_pid "$c" "$n"); [ -n "$pid" ] || continue
    for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    kill_node "$c" "$n"
  done
}

# ------------------------------------------------------------------------------ detection
declare -A MED  # MED[cluster,mode] = median ms
declare -A REJOIN_FAILED  # per cluster: node 3 restarted but not back in the ring within 120 s
declare -A DET  # DET[cluster,mode] = "ms ms ms ..."

# One run: signal node 3, time until both survivors log a membership without it; then bring node 3
# back and wait until all three see each other again. Sets DET_MS (-1: not detected).
DET_MS=0
detect_once() {
  local c=$1 mode=$2 n off1 off2 t0 line ts worst=0 pid o1 o2 o3
  off1=$(size_of "$(log_of "$c" 1)"); off2=$(size_of "$(log_of "$c" 2)")
  pid=$(node_pid "$c" 3)
  t0=$(date +%s.%N)
  if [ "$mode" = kill ]; then kill -KILL "$pid"; else kill -STOP "$pid"; fi
  for n in 1 2; do
    [ $n = 1 ] && o1=$off1 || o1=$off2
    line=$(wait_line "$(log_of "$c" $n)" "$o1" "$(left3_re "$c")" 120) || {
      log "${LABEL[$c]} ($mode): node $n saw no membership without node 3 in 120 s"; worst=-1; break; }
    ts=$(line_time "$line")
    worst=$(awk -v a="$worst" -v b="$ts" -v t="$t0" 'BEGIN { d = (b - t) * 1000; print (d > a ? d : a) }')
  done
  kill_node "$c" 3
  o1=$(size_of "$(log_of "$c" 1)"); o2=$(size_of "$(log_of "$c" 2)"); o3=$(size_of "$(log_of "$c" 3)")
  start_node "$c" 3
  if ! { wait_line "$(log_of "$c" 1)" "$o1" "$(full_re "$c")" 120 >/dev/null &&
         wait_line "$(log_of "$c" 2)" "$o2" "$(full_re "$c")" 120 >/dev/null &&
         wait_line "$(log_of "$c" 3)" "$o3" "$(full_re "$c")" 120 >/dev/null; }; then
    REJOIN_FAILED[$c]=$(( ${REJOIN_FAILED[$c]:-0} + 1 ))
    KEEP=1
    log "${LABEL[$c]}: node 3 did not rejoin within 120 s after a $mode run; logs kept under" \
        "$WORK/$PHASE/$c (restarting the cluster)"
    cp -r "$WORK/$PHASE/$c" "$WORK/$PHASE/$c.rejoin-failure.$mode.${REJOIN_FAILED[$c]}"
    stop_cluster "$c"
    start_cluster "$c" || log "${LABEL[$c]}: the cluster did not come back"
  fi
  sleep 1  # let the ring settle before the next run
  DET_MS=$(printf '%.0f' "$worst")
}

stats() {  # min median max of the numbers given (negative = failed run, left out)
  python3 -c '
import statistics, sys
v = sorted(float(x) for x in sys.argv[1:] if float(x) >= 0)
bad = sum(1 for x in sys.argv[1:] if float(x) < 0)
if not v: print("- - - %d" % bad)
else: print("%.0f %.0f %.0f %d" % (v[0], statistics.median(v), v[-1], bad))' "$@"
}

# ---------------------------------------------------------------------------------- main
setup_netns
[ -n "$SKIP_REASON" ] && log "namespace clusters (corosync, ours in netns) skipped: $SKIP_REASON"

printf 'membership_failover: %s, %s CPUs, %s; corosync: %s\n' "$(date -Is)" "$(nproc)" \
  "$(uname -r)" "$( [ -x "$COROSYNC" ] && "$COROSYNC" -v 2>/dev/null | head -1 || echo none)"
printf 'load average before: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"

DETECT_CLUSTERS=(ours_lo ours_lo_ct ours_ns coro_ns)
IFS=, read -r -a MODE_LIST <<< "$MODES"
if [ "$DO_DETECT" = 1 ]; then
  for c in "${DETECT_CLUSTERS[@]}"; do
    available "$c" || continue
    log "detection: ${LABEL[$c]}: starting"
    if ! start_cluster "$c"; then stop_cluster "$c"; continue; fi
    for mode in "${MODE_LIST[@]}"; do
      vals=""
      for ((r = 1; r <= RUNS; r++)); do
        detect_once "$c" "$mode"; v=$DET_MS
        log "detection: ${LABEL[$c]} $mode run $r: $v ms"
        vals="$vals $v"
      done
      DET[$c,$mode]=$vals
    done
    stop_cluster "$c"
  done
fi

declare -A SOAKN SOAKL SOAKX
DROPS=""  # one line per soak group: datagrams seen / dropped
LOADNAME=""

add_loss() {
  local lo_ports="$BASE_PORT, $((BASE_PORT+10)), $((BASE_PORT+20))" ns
  if nft -f - <<EOF; then
table inet $NFT_TABLE {
  chain input {
    type filter hook input priority 0;
    ip saddr 127.0.0.0/8 udp dport { $lo_ports } counter
    ip saddr 127.0.0.0/8 udp dport { $lo_ports } numgen random mod 100 < $LOSS counter drop
  }
}
EOF
    NFT_MADE=1
  else
    log "stability: cannot add nft table inet $NFT_TABLE: no loss on the loopback"
  fi
  for ns in "${CNS_NETNS[@]}"; do
    ip netns exec "$ns" nft -f - <<EOF || log "stability: no loss in $ns"
table inet $NFT_TABLE {
  chain input {
    type filter hook input priority 0;
    udp dport { 5405, 5415 } counter
    udp dport { 5405, 5415 } numgen random mod 100 < $LOSS counter drop
  }
}
EOF
  done
}

# Datagrams seen and dropped by our loss rules (root namespace and every bench namespace).
loss_counts() {
  local ns
  { nft list table inet $NFT_TABLE 2>/dev/null
    for ns in "${CNS_NETNS[@]}"; do ip netns exec "$ns" nft list table inet $NFT_TABLE 2>/dev/null; done
  } | awk '/counter packets/ { for (i = 1; i < NF; i++) if ($i == "packets") v = $(i + 1)
                               if (/drop/) d += v; else a += v }
           END { printf "%d datagrams, %d dropped (%.1f%%)", a, d, a ? 100 * d / a : 0 }'
}

soak_group() {  # soak_group NAME CLUSTER...: start them, SOAK seconds with load and loss, count
  local name=$1 c n i re from started=()
  shift
  log "stability ($name): starting $*"
  for c in "$@"; do
    if start_cluster "$c"; then started+=("$c"); else stop_cluster "$c"; fi
  done
  [ ${#started[@]} -gt 0 ] || return 0
  sleep 3
  add_loss
  declare -A off
  for c in "${started[@]}"; do
    for n in 1 2 3; do off[$c,$n]=$(size_of "$(log_of "$c" "$n")"); done
  done
  if [ "$NO_LOAD" = 1 ]; then
    LOADNAME="no CPU load"
  elif command -v stress-ng >/dev/null; then
    stress-ng --cpu "$(nproc)" --timeout "${SOAK}s" --quiet & LOAD_PIDS+=($!)
    LOADNAME="stress-ng --cpu $(nproc)"
  else
    for ((i = 0; i < $(nproc); i++)); do yes > /dev/null & LOAD_PIDS+=($!); done
    LOADNAME="$(nproc) x yes"
  fi
  from=$(date +%T)
  log "stability ($name): ${SOAK} s with $LOADNAME and ${LOSS}% loss"
  sleep "$SOAK" & wait $!  # (a trapped signal interrupts wait, not a foreground sleep)
  stop_load
  DROPS+="  $name ($from-$(date +%T)): $(loss_counts), load average $(cut -d' ' -f1 /proc/loadavg)"$'\n'
  remove_loss
  for c in "${started[@]}"; do
    re=$(change_re "$c")
    for n in 1 2 3; do tail -c +"$((${off[$c,$n]} + 1))" "$(log_of "$c" "$n")"; done > "$WORK/$PHASE/$c/soak.log"
    SOAKN[$c]=$(grep -oE -- "$re" "$WORK/$PHASE/$c/soak.log" | sed -E "s/$re/\\1/" | sort -u | wc -l)
    if [ "${IMPL[$c]}" = ours ]; then
      SOAKL[$c]=$(grep -E -- 'new membership: .* left \[[0-9]' "$WORK/$PHASE/$c/soak.log" |
                    grep -oE -- "$re" | sort -u | wc -l)
    else
      SOAKL[$c]=$(grep -E -- 'A new membership .*Members left:' "$WORK/$PHASE/$c/soak.log" |
                    grep -oE -- "$re" | sort -u | wc -l)
    fi
    SOAKX[$c]=$(grep -E -- "$re|Members left|entering GATHER|processor failed|Token has not|pause|link: 0 is down" \
                  "$WORK/$PHASE/$c/soak.log" | sort | head -n 8)
  done
  for c in "${started[@]}"; do stop_cluster "$c"; done
}

if [ "$DO_SOAK" = 1 ]; then
  PHASE=soak
  ours_group=() coro_group=()
  for c in ours_lo ours_lo_ct ours_ns ours_lo_nort; do available "$c" && ours_group+=("$c"); done
  for c in coro_ns coro_ns_nort coro_ns_udpu; do available "$c" && coro_group+=("$c"); done
  if [ "$TOGETHER" = 1 ]; then
    soak_group "all together" "${ours_group[@]}" "${coro_group[@]}"
  else
    # One after the other: a daemon busy forming memberships at real-time priority would otherwise
    # disturb the other's ring.
    soak_group ours "${ours_group[@]}"
    [ ${#coro_group[@]} -gt 0 ] && soak_group "corosync 3" "${coro_group[@]}"
  fi
fi

# ---------------------------------------------------------------------------------- report
echo
if [ "$DO_DETECT" = 1 ]; then
  echo "Failure detection: node 3 of 3 signalled, until both survivors installed the membership"
  echo "without it (ms; kill = SIGKILL, ICMP port unreachable follows; stop = SIGSTOP, silent)."
  printf '  %-30s %-5s %7s %7s %7s %s\n' cluster fail min median max "(runs, failed)"
  for c in "${DETECT_CLUSTERS[@]}"; do
    for mode in "${MODE_LIST[@]}"; do
      if ! available "$c"; then
        printf '  %-30s %-5s skipped: %s\n' "${LABEL[$c]}" "$mode" "$(why_not "$c")"; continue
      fi
      [ -n "${DET[$c,$mode]:-}" ] || { printf '  %-30s %-5s did not run\n' "${LABEL[$c]}" "$mode"; continue; }
      read -r mn md mx bad <<< "$(stats ${DET[$c,$mode]})"
      printf '  %-30s %-5s %7s %7s %7s (%d, %d)\n' "${LABEL[$c]}" "$mode" "$mn" "$md" "$mx" "$RUNS" "$bad"
      MED[$c,$mode]=$md
    done
    [ -n "${REJOIN_FAILED[$c]:-}" ] &&
      printf '  %-30s node 3 did not rejoin after %d of its restarts (logs kept)\n' "${LABEL[$c]}" "${REJOIN_FAILED[$c]}"
  done
  echo "  ratios of medians, ours / corosync 3 (below 1: ours detects sooner):"
  for mode in "${MODE_LIST[@]}"; do
    ref=${MED[coro_ns,$mode]:--}
    for c in ours_lo ours_lo_ct ours_ns; do
      v=${MED[$c,$mode]:--}
      if [[ "$ref" =~ ^[0-9]+$ && "$ref" -gt 0 && "$v" =~ ^[0-9]+$ ]]; then
        printf '    %-5s %-30s %6.3f\n' "$mode" "${LABEL[$c]}" "$(awk -v a="$v" -v b="$ref" 'BEGIN { print a / b }')"
      else
        printf '    %-5s %-30s %6s\n' "$mode" "${LABEL[$c]}" "n/a"
      fi
    done
  done
fi
if [ "$DO_SOAK" = 1 ]; then
  echo
  echo "Stability: ${SOAK} s idle with $LOADNAME and ${LOSS}% random loss on input, per group:"
  printf '%s' "$DROPS"
  printf '  %-30s %12s %16s\n' cluster memberships "with a node lost"
  for c in ours_lo ours_lo_ct ours_ns coro_ns ours_lo_nort coro_ns_nort coro_ns_udpu; do
    if ! available "$c"; then printf '  %-30s skipped: %s\n' "${LABEL[$c]}" "$(why_not "$c")"; continue; fi
    [ -n "${SOAKN[$c]:-}" ] || { printf '  %-30s did not start\n' "${LABEL[$c]}"; continue; }
    printf '  %-30s %12s %16s\n' "${LABEL[$c]}" "${SOAKN[$c]}" "${SOAKL[$c]}"
  done
  echo "  ratios, ours / corosync 3 (memberships formed; n/a when corosync formed none):"
  for pair in ours_lo:coro_ns ours_lo_ct:coro_ns ours_ns:coro_ns ours_lo_nort:coro_ns_nort \
              ours_lo:coro_ns_udpu; do
    a=${pair%:*}; b=${pair#*:}
    if [ -n "${SOAKN[$a]:-}" ] && [ -n "${SOAKN[$b]:-}" ] && [ "${SOAKN[$b]}" -gt 0 ]; then
      printf '    %-30s / %-26s %6.3f\n' "${LABEL[$a]}" "${LABEL[$b]}" "$(awk -v x="${SOAKN[$a]}" -v y="${SOAKN[$b]}" 'BEGIN { print x / y }')"
    else
      printf '    %-30s / %-26s %6s (%s vs %s)\n' "${LABEL[$a]}" "${LABEL[$b]}" "n/a" "${SOAKN[$a]:--}" "${SOAKN[$b]:--}"
    fi
  done
  for c in ours_lo ours_lo_ct ours_ns coro_ns ours_lo_nort coro_ns_nort coro_ns_udpu; do
    [ "${SOAKN[$c]:-0}" -gt 0 ] || continue
    echo "  ${LABEL[$c]}: first lines about membership changes during the soak:"
    sed 's/^/    /' <<< "${SOAKX[$c]}"
  done
fi
printf '\nload average after: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
