#!/usr/bin/env bash
# lrmd killed in the middle of an agent's action (issue 7): no agent process outlives it. The agent
# itself dies with lrmd (parent-death signal); what it started in the background is killed by the
# next lrmd before it serves (found by the owner tag lrmd puts in every agent's environment).
source "$(dirname "$0")/lib.sh"

dir=$HA_LOCAL_ROOT/lrmd-restart
mkdir -p "$dir/state" "$dir/run" "$dir/log" "$dir/ocf/resource.d"
ln -s "$HA_SOURCE_DIR/lrmd/testdata/agents/ha-test" "$dir/ocf/resource.d/ha-test"
conf=$dir/corosync.conf
one_node_config "$dir" lrmdrestart
export HA_CONFIG=$conf
lrmd_pid=""
start_lrmd() {
  OCF_ROOT=$dir/ocf "$HA_BIN_DIR/lrmd" -c "$conf" </dev/null >>"$dir/log/lrmd.out" 2>&1 &
  lrmd_pid=$!
  for _ in $(seq 50); do [ -S "$dir/run/lrmd.sock" ] && break; sleep 0.1; done
}
trap 'kill -TERM $lrmd_pid 2>/dev/null; wait $lrmd_pid 2>/dev/null; cleanup' EXIT
start_lrmd
check "lrmd is serving" test -S "$dir/run/lrmd.sock"

# A start that hangs, leaving a background child; crm_resource waits for it in the background.
"$HA_BIN_DIR/crm_resource" --force-start --class ocf --provider ha-test --agent Hang \
  --option "childpid=$dir/child.pid" -r hang1 >/dev/null 2>&1 &
client=$!
for _ in $(seq 50); do [ -s "$dir/child.pid" ] && break; sleep 0.1; done
child=$(cat "$dir/child.pid" 2>/dev/null)
check "the agent's background child is running" kill -0 "${child:-0}"
agent=$(pgrep -f "ha-test/Hang start" | head -1)
check "the agent is running" test -n "$agent"

kill -KILL "$lrmd_pid"
wait "$lrmd_pid" 2>/dev/null
for _ in $(seq 30); do kill -0 "${agent:-0}" 2>/dev/null || break; sleep 0.1; done
check "the agent died with lrmd" eval "! kill -0 ${agent:-0} 2>/dev/null"
check "its background child was left behind (until the next lrmd)" kill -0 "${child:-0}"
kill "$client" 2>/dev/null
wait "$client" 2>/dev/null
rm -f "$dir/run/lrmd.sock"

start_lrmd
for _ in $(seq 30); do kill -0 "${child:-0}" 2>/dev/null || break; sleep 0.1; done
check "the next lrmd killed what the dead one left running" eval "! kill -0 ${child:-0} 2>/dev/null"
check "and says so in its log" grep -q "left running by a previous lrmd" "$dir/log/cluster.log"
check "and serves" test -S "$dir/run/lrmd.sock"
finish
