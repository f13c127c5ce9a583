#!/usr/bin/env bash
# Process groups over libqb IPC with real processes (issue 3): three nodes through
# tools/ha-localcluster, `ha-cpg join` (testcpg-like, over IPC) on nodes 1 and 2, `ha-cpg bench`
# on node 3:
#   1. both clients see each other join; a line typed on node 1 reaches both, in order
#   2. a killed client leaves (process down) for the other
#   3. a pipelined bench on node 3 gets all its messages back
#   4. a ring change under a busy sender (node 2 killed): no stale group frame is delivered
#   5. a client run as nobody is refused (root only by default)
#   6. cibd still replicates through the same process groups over gRPC (its health detail)
# Nothing here measures speed.
source "$(dirname "$0")/lib.sh"

CPG="$HA_BIN_DIR/ha-cpg"
PIDS=()
extra_cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
}
trap 'extra_cleanup; cleanup' EXIT
trap 'exit 130' INT TERM

"$LC" up 3 >/dev/null 2>&1 || { not_ok "the local cluster did not start"; finish; exit 1; }
for n in 1 2 3; do
  wait_for 60 bash -c "[ \"\$(\"$LC\" exec $n ha-quorumtool -s 2>/dev/null | awk '/^Nodes:/ {print \$2}')\" = 3 ]" ||
    not_ok "node $n did not see 3 nodes"
done

# A client per node, fed through a fifo, its output in a file.
start_client() {  # start_client NODE
  local dir=$HA_LOCAL_ROOT/cpg$1
  mkdir -p "$dir"
  mkfifo "$dir/in"
  "$LC" exec "$1" "$CPG" join e2e < "$dir/in" > "$dir/out" 2>&1 &
  PIDS+=($!)
  exec {fd}> "$dir/in"  # keep the fifo open: the client stays until we close it
  eval "FIFO_$1=$fd"
}
start_client 1
wait_for 30 grep -q "change of e2e" "$HA_LOCAL_ROOT/cpg1/out"
start_client 2
two_members() { grep -qE "change of e2e: members \[[0-9]+/[0-9]+ [0-9]+/[0-9]+\]" "$1"; }
check "node 1's client sees node 2's join" wait_for 30 two_members "$HA_LOCAL_ROOT/cpg1/out"
check "node 2's client joins a group of two" wait_for 30 two_members "$HA_LOCAL_ROOT/cpg2/out"

printf 'first\nsecond\n' >&"$FIFO_1"
got_both() {
  grep -qE "message from 1/[0-9]+ seq 1: first" "$1" &&
    grep -qE "message from 1/[0-9]+ seq 2: second" "$1"
}
check "node 1's lines reach node 1, in order" wait_for 30 got_both "$HA_LOCAL_ROOT/cpg1/out"
check "node 1's lines reach node 2, in order" wait_for 30 got_both "$HA_LOCAL_ROOT/cpg2/out"

kill -KILL "${PIDS[1]}" 2>/dev/null
wait "${PIDS[1]}" 2>/dev/null
left_2() { grep -qE "left \[2/[0-9]+\]" "$HA_LOCAL_ROOT/cpg1/out"; }
check "a killed client on node 2 leaves the group for node 1" wait_for 30 left_2

out=$("$LC" exec 3 "$CPG" bench e2e-bench --size 1024 --count 3000 --window 128 2>&1)
echo "# $out"
check "a pipelined bench on node 3 gets its 3000 messages back" grep -q "received=3000" <<< "$out"

# A ring change under a busy sender: group frames of the old configuration still queued are
# dropped at the change (and resent by the group layer), not sent to be discarded as stale.
counter() { "$LC" exec "$1" ha-cfgtool -C "$2" 2>/dev/null | awk -v k="$2" '$1 == k || $1 == k":" {print $NF}'; }
"$LC" exec 1 "$CPG" bench e2e-busy --size 65536 --count 2000 --window 256 >"$HA_LOCAL_ROOT/busy" 2>&1 &
busy=$!
PIDS+=("$busy")
sleep 0.5
"$LC" kill 2 >/dev/null 2>&1
wait "$busy"
echo "# $(cat "$HA_LOCAL_ROOT/busy")"
check "a bench on node 1 through node 2's death gets its 2000 messages back" \
  grep -q "received=2000" "$HA_LOCAL_ROOT/busy"
echo "# node 1: cpg.stale_frames_dropped=$(counter 1 cpg.stale_frames_dropped) cpg.frames_stale=$(counter 1 cpg.frames_stale)"
check "no stale group frame reached node 1 or node 3" \
  eval '[ "$(counter 1 cpg.frames_stale)" = 0 ] && [ "$(counter 3 cpg.frames_stale)" = 0 ]'
"$LC" start 2 >/dev/null 2>&1

if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  # --run-dir: nobody may not read the configuration; the IPC name comes from the run folder.
  run_dir=$(awk '$1 == "run_dir:" { print $2 }' "$("$LC" path 1)/corosync.conf")
  out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$CPG" --run-dir "$run_dir" \
        join e2e < /dev/null 2>&1)
  echo "# $out"
  check "a client run as nobody is refused" grep -q "cannot connect.*Permission denied" <<< "$out"
else
  echo "# SKIP: the nobody client needs root and setpriv"
fi

cib_synced() { daemon_field 1 cibd detail | grep -q "synced"; }
check "cibd still replicates through the process groups (gRPC)" wait_for 60 cib_synced

exec {FIFO_1}>&-
finish
