#!/usr/bin/env bash
# The local-cluster script: three nodes on 127.0.0.1-3 with separate folders; status, exec, kill,
# start, stop, logs and down.
source "$(dirname "$0")/lib.sh"

"$LC" up 3 > "$HA_LOCAL_ROOT/up.out" 2>&1
check "up 3 starts three nodes" test "$(grep -c 'stack running' "$HA_LOCAL_ROOT/up.out")" = 3
for n in 1 2 3; do
  dir=$("$LC" path $n)
  check "node $n has its own config, state, socket and log folders" \
    test -f "$dir/corosync.conf" -a -d "$dir/state" -a -S "$dir/run/haclusterd.sock" -a -s "$dir/log/cluster.log"
  check "node $n's configuration names it and 127.0.0.$n" \
    grep -q "nodeid: $n" "$dir/corosync.conf"
done
check "the configuration lists only loopback addresses 127.0.0.1-3" \
  test "$(grep -ho 'ring0_addr: .*' "$("$LC" path 1)/corosync.conf" | xargs)" = \
       "ring0_addr: 127.0.0.1 ring0_addr: 127.0.0.2 ring0_addr: 127.0.0.3"
check "exec runs a tool against the chosen node" \
  grep -q "node node2 (id 2)" <("$LC" exec 2 hactl health membershipd)
check "membershipd -t accepts the node's configuration" \
  grep -q "Configuration is correct." <("$LC" exec 1 membershipd -t -c "$("$LC" path 1)/corosync.conf")

# kill takes the node's whole stack at once and nothing else.
sup2=$(cat "$("$LC" path 2)/supervisor.pid")
pids2=$(pgrep -s "$sup2" | xargs)
check "node 2 runs its supervisor and six daemons" test "$(echo "$pids2" | wc -w)" = 7
"$LC" kill 2 >/dev/null
check "kill leaves no process of node 2" test -z "$(pgrep -s "$sup2")"
check "nodes 1 and 3 are untouched" test "$(stack_state 1)/$(stack_state 3)" = running/running
check "status reports node 2 stopped" grep -q "Node node2 (id 2): stopped" <("$LC" status)

"$LC" start 2 >/dev/null
check "start brings node 2 back" test "$(stack_state 2)" = running
"$LC" stop 3 >/dev/null
check "stop stops node 3 cleanly" grep -q "stack stopped; supervisor exiting | exit_code=0" <(node_log 3)
check "logs prints the node's log" grep -q "haclusterd" <("$LC" logs 1)

"$LC" down >/dev/null
check "down stops everything" test -z "$(pgrep -f "$HA_LOCAL_ROOT" | xargs)"
check "down removes the cluster's folders" test ! -e "$HA_LOCAL_ROOT"
finish
