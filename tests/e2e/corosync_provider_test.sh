#!/usr/bin/env bash
# The stack on a real Corosync 3 instead of membershipd (`system { membership_provider:
# corosync }`, common/corosync_group_channel.h): three nodes, each a network namespace on one
# bridge running Debian's corosync (knet) and our supervisor with the same corosync.conf.
#   1. the supervisor does not start membershipd; every cibd joins the CPG group "cib", every
#      stonithd the group "stonithd" (a fencing request on node 1 runs on node 2's device)
#   2. a write on one node reaches all three; concurrent writes from all three end identical
#   3. node 3 cut off (its link down): corosync takes its quorum, its cibd refuses writes while
#      the other two go on; the link back, node 3 is brought forward
#   4. corosync killed under node 2's cibd: it refuses writes, reconnects when corosync is back,
#      and catches up
# Needs root, ip netns, a bridge and /usr/sbin/corosync; skips (77) with the reason otherwise.
source "$(dirname "$0")/lib.sh"
# shellcheck source=../../scripts/lib/corosync_netns.sh
source "$(dirname "$0")/../../scripts/lib/corosync_netns.sh"

skip() {
  echo "SKIP: $*"
  exit 77
}
why=$(cns_unavailable)
[ -z "$why" ] || skip "$why"

TAG=$((RANDOM % 1000))
NET="10.214.$((RANDOM % 200 + 20))"
WORK="$HA_LOCAL_ROOT/corosync"
declare -A CORO_PID SUP_PID

extra_cleanup() {
  local n
  cns_teardown  # every process in the namespaces (corosyncs and our stacks), then the network
  if [ "$failed" -gt 0 ]; then
    [ -n "${HA_E2E_KEEP:-}" ] && rm -rf "$HA_E2E_KEEP" && cp -a "$WORK" "$HA_E2E_KEEP"
    for n in 1 2 3; do
      [ -f "$WORK/n$n/cluster.log" ] && { echo "--- node $n log (last 30)"; tail -n 30 "$WORK/n$n/cluster.log"; }
      [ -f "$WORK/n$n/corosync.log" ] && { echo "--- node $n corosync (last 10)"; tail -n 10 "$WORK/n$n/corosync.log"; }
      [ -s "$WORK/n$n/corosync.out" ] && { echo "--- node $n corosync's output"; tail -n 10 "$WORK/n$n/corosync.out"; }
    done
  fi
  cleanup
}
trap extra_cleanup EXIT

cns_bridge_create "hacp$TAG" && cns_make_nodes "hacp$TAG-" "hacp$TAG-h" "$NET" 3 || skip "$CNS_ERROR"

# Node N's corosync.conf (ours: logs to cluster.log, corosync as the provider) and the same
# cluster for corosync alone (its own log).
write_config() {  # write_config NODE
  local n=$1 dir=$WORK/n$1
  local common=(-n e2e-corosync -L -t 'transport: knet' -t 'crypto_cipher: none'
    -t 'crypto_hash: none' -t 'token: 1000')
  mkdir -p "$dir/state" "$dir/run" "$dir/corosync-run"
  cns_write_conf "$dir/corosync.conf" "$NET.1 $NET.2 $NET.3" "${common[@]}" -l "$dir/cluster.log" \
    -s "state_dir: $dir/state" -s "run_dir: $dir/run" -s "membership_provider: corosync"
  cns_write_conf "$dir/corosync-only.conf" "$NET.1 $NET.2 $NET.3" "${common[@]}" \
    -l "$dir/corosync.log"
}

# Corosync in the node's namespace, with a private /run (its pid file is /run/corosync.pid).
start_corosync() {
  local n=$1 dir=$WORK/n$1
  cns_start_corosync "hacp$TAG-$n" "$dir/corosync-only.conf" "$dir/corosync-run" "$dir/corosync.out"
  CORO_PID[$n]=$CNS_PID
}
start_stack() {
  local n=$1 dir=$WORK/n$1
  HA_DAEMON_DIR="$HA_BIN_DIR" setsid ip netns exec "hacp$TAG-$n" \
    "$HA_BIN_DIR/haclusterd" -c "$dir/corosync.conf" >>"$dir/stack.out" 2>&1 </dev/null &
  SUP_PID[$n]=$!
  disown $!
}
at() { HA_CONFIG="$WORK/n$1/corosync.conf" "$HA_BIN_DIR/$2" "${@:3}"; }
synced() { at "$1" hactl health cibd 2>/dev/null | grep -q "synced, $2 member(s)"; }
all_synced() {
  local n
  for n in 1 2 3; do synced "$n" 3 || return 1; done
}
digest() { at "$1" cibadmin --md5-sum -l 2>/dev/null; }
same_digest() {
  local first n
  first=$(digest "$1")
  [ -n "$first" ] || return 1
  for n in "${@:2}"; do [ "$(digest "$n")" = "$first" ] || return 1; done
}
has() { at "$1" cibadmin -Q -l -A "//primitive[@id=\"$2\"]" >/dev/null 2>&1; }
primitive() { echo "<primitive id=\"$1\" class=\"ocf\" provider=\"pacemaker\" type=\"Dummy\"/>"; }
quorate() { ip netns exec "hacp$TAG-$1" corosync-quorumtool -s 2>/dev/null | grep -q "^Quorate:.*Yes"; }

for n in 1 2 3; do write_config "$n"; done
for n in 1 2 3; do start_corosync "$n"; done
check "three corosyncs form a quorate cluster" wait_for 30 eval 'quorate 1 && quorate 2 && quorate 3'
for n in 1 2 3; do start_stack "$n"; done
check "the three cibds join one CPG group through corosync" wait_for 30 all_synced
check "the supervisor did not start membershipd" \
  eval '! pgrep -s "${SUP_PID[1]}" -x membershipd >/dev/null'

# crm_node asks the provider too (in the node's namespace: corosync's IPC is per namespace).
crm() { ip netns exec "hacp$TAG-$1" "$HA_BIN_DIR/crm_node" -c "$WORK/n$1/corosync.conf" "${@:2}"; }
check "crm_node -p on node 1 lists the ring corosync reports" test "$(crm 1 -p)" = "node1 node2 node3"
check "crm_node -i on node 2 is corosync's node id" test "$(crm 2 -i)" = 2
check "crm_node -q on node 3 is 1" test "$(crm 3 -q)" = 1

# stonithd's group rides on corosync too: a request on node 1 runs on node 2's device.
grouped() { at "$1" hactl health stonithd 2>/dev/null | grep -q "stonithd group, 3 member(s)"; }
check "the three stonithds join their CPG group" wait_for 20 eval 'grouped 1 && grouped 2 && grouped 3'
check "a fence_dummy device is registered on node 2" \
  at 2 stonith_admin -R fence2 -a fence_dummy -o pcmk_host_list=fake-target -o "status_file=$WORK/dummy.status"
out=$(at 1 stonith_admin -B fake-target -t 30 2>&1)
check "-B fake-target on node 1 is carried out by node 2" grep -q "rebooted by fence2" <<<"$out"
check "and node 3 has it in its history" \
  eval 'at 3 stonith_admin -H fake-target 2>/dev/null | grep -q "reboot of fake-target successful"'

# 2. Writes.
check "a write on node 1 succeeds" at 1 cibadmin -C -o resources -X "$(primitive one)"
check "and reaches nodes 2 and 3" wait_for 10 eval 'has 2 one && has 3 one'
errors="$WORK/errors"
: >"$errors"
for n in 1 2 3; do
  (
    for k in 1 2 3 4; do
      at "$n" cibadmin -C -o resources -X "$(primitive "r$n-$k")" || echo "create $n $k" >>"$errors"
    done
  ) &
done
wait
check "12 concurrent writes from three nodes all succeed" test ! -s "$errors"
check "the three copies end with the same digest" wait_for 10 same_digest 1 2 3

# 3. Node 3 cut off.
# nft drops in node 3's namespace (a link taken down makes knet wait long for it afterwards).
ip netns exec "hacp$TAG-3" nft -f - <<EOF || not_ok "nft rules in node 3's namespace"
table inet hacp_cut {
  chain in { type filter hook input priority 0; iifname "eth0" drop; }
  chain out { type filter hook output priority 0; oifname "eth0" drop; }
}
EOF
check "node 3 cut off loses quorum" wait_for 30 eval '! quorate 3'
check "its cibd refuses a configuration write" eval '! at 3 cibadmin -C -o resources -X "$(primitive alone)" 2>/dev/null'
check "nodes 1 and 2 keep quorum and write" \
  wait_for 30 eval 'quorate 1 && at 1 cibadmin -C -o resources -X "$(primitive majority)" 2>/dev/null'
check "crm_node -l on node 1 has node 3 lost" \
  grep -qx "3 node3 lost" <(crm 1 -l)
check "crm_node on node 3: partition node3 alone, quorum 0" \
  eval 'test "$(crm 3 -p)/$(crm 3 -q)" = "node3/0"'
ip netns exec "hacp$TAG-3" nft delete table inet hacp_cut
check "the link back, the three rejoin" wait_for 40 all_synced
check "crm_node -p on node 3 lists the three again" test "$(crm 3 -p)" = "node1 node2 node3"
check "node 3 is brought forward" wait_for 10 eval 'has 3 majority && same_digest 1 2 3'
check "and holds nothing of its refused write" eval '! has 1 alone && ! has 3 alone'

# 4. Corosync killed under node 2.
pkill -KILL -s "${CORO_PID[2]}"
check "with corosync gone, node 2's cibd refuses writes" \
  wait_for 10 eval '! at 2 cibadmin -C -o resources -X "$(primitive lost)" 2>/dev/null'
check "node 1 writes meanwhile" wait_for 30 eval 'at 1 cibadmin -C -o resources -X "$(primitive meanwhile)" 2>/dev/null'
start_corosync 2
check "corosync back, node 2's cibd rejoins" wait_for 40 all_synced
check "and catches up" wait_for 10 eval 'has 2 meanwhile && same_digest 1 2 3'
check "node 2 writes again" at 2 cibadmin -C -o resources -X "$(primitive again)"
check "and the write reaches all" wait_for 10 eval 'has 1 again && has 3 again && same_digest 1 2 3'

finish
