#!/usr/bin/env bash
# Fencing across the cluster (issue 8): three nodes on 127.0.0.1-3 through tools/ha-localcluster,
# each stonithd in the process group "stonithd" of its membershipd. A fence_dummy device
# (Debian's fence-agents) is registered on node 2 only; a reboot requested on node 1 is executed
# by node 2, and the fencing history is the same on all three nodes. A target no device can fence
# fails the same way everywhere; a manual confirmation on node 3 is recorded by every node. Node 3,
# stopped and started again, receives the history it missed. A topology level whose devices are on
# two nodes runs each device on its node.
source "$(dirname "$0")/lib.sh"

if [ ! -x /usr/sbin/fence_dummy ]; then
  echo "ok - skipped: fence_dummy (fence-agents) is not installed"
  exit 0
fi

sa() { "$LC" exec "$1" stonith_admin "${@:2}"; }
# grouped NODE MEMBERS: the node's stonithd is in the group with that many members.
grouped() { "$LC" exec "$1" hactl health stonithd 2>/dev/null | grep -q "stonithd group, $2 member(s)"; }
all_grouped() { grouped 1 3 && grouped 2 3 && grouped 3 3; }
history() { sa "$1" -H '*' -v 2>/dev/null; }
same_history() {
  local h1
  h1=$(history 1)
  [ -n "$h1" ] && [ "$h1" = "$(history 2)" ] && [ "$h1" = "$(history 3)" ]
}

"$LC" up 3 >/dev/null || { not_ok "three nodes start"; finish; exit 1; }
check "three nodes start and their stonithds join one stonithd group" wait_for 20 all_grouped

STATUS="$HA_LOCAL_ROOT/dummy.status"
check "a fence_dummy device is registered on node 2 only" \
  sa 2 -R fence2 -a fence_dummy -o pcmk_host_list=fake-target -o "status_file=$STATUS"
check "node 1 holds no device" eval 'sa 1 -L | grep -q "0 fence devices found"'

out=$(sa 1 -B fake-target -t 30 2>&1)
rc=$?
check "-B fake-target on node 1 succeeds" eval '[ "$rc" = 0 ] && contains "rebooted by fence2" "$out"'
check "it was executed on node 2" eval 'node_log 2 | grep -q "running reboot of fake-target with fence2"'
check "and not on node 1 or node 3" \
  eval '! node_log 1 | grep -q "running reboot of fake-target" && ! node_log 3 | grep -q "running reboot of fake-target"'

h=$(history 3)
check "node 3's history shows the reboot by node 2, asked by node 1" \
  eval 'contains "reboot of fake-target successful: delegate=node2" "$h" && contains "origin=node1" "$h" && contains "device=fence2" "$h"'
check "the history is the same on all three nodes" wait_for 5 same_history

out=$(sa 3 -F nobody -t 10 2>&1)
rc=$?
check "-F of a target no node can fence fails (105)" eval '[ "$rc" = 105 ] && contains "No fence device" "$out"'
check "the failure is in every node's history" \
  eval 'same_history && history 1 | grep -q "off of nobody failed"'

sa 3 -C fake-confirmed >/dev/null 2>&1
check "a manual confirmation on node 3 is recorded by node 1" \
  eval 'history 1 | grep -q "off of fake-confirmed successful: delegate=node3.*device=manual ack"'
check "and logged loudly on every node" \
  eval 'node_log 1 | grep -q "MANUAL FENCING CONFIRMATION: fake-confirmed" && node_log 2 | grep -q "MANUAL FENCING CONFIRMATION: fake-confirmed"'
check "the histories still agree" wait_for 5 same_history

# A node that joins later receives the whole history (issue 8).
"$LC" stop 3 >/dev/null
two_grouped() { grouped 1 2 && grouped 2 2; }
check "node 3 stopped: nodes 1 and 2 are a group of two" wait_for 20 two_grouped
out=$(sa 1 -F fake-target -t 30 2>&1)
check "-F fake-target on node 1 while node 3 is down succeeds" contains "fake-target" "$out"
"$LC" start 3 >/dev/null
check "node 3 is back in the stonithd group" wait_for 30 all_grouped
check "node 3's history has what happened before it came back" \
  wait_for 10 eval 'history 3 | grep -q "off of fake-target successful: delegate=node2" && history 3 | grep -q "off of fake-confirmed successful"'
check "and is the same as the others', line for line" wait_for 5 same_history
check "node 3 logged that it received the group's state" \
  eval 'node_log 3 | grep -q "received the stonithd group.s state"'

# A topology level spread over two nodes: fa only on node 1, fb only on node 2, both needed.
sa 1 -R fa -a fence_dummy -o pcmk_host_list=fake-spread -o "status_file=$STATUS" >/dev/null
sa 2 -R fb -a fence_dummy -o pcmk_host_list=fake-spread -o "status_file=$STATUS" >/dev/null
"$LC" exec 1 cibadmin -C -o fencing-topology \
  -X '<fencing-level id="fl-spread" target="fake-spread" index="1" devices="fa,fb"/>' >/dev/null
check "a fencing level fa,fb is added to the CIB" test "$?" = 0
levels() { node_log "$1" | grep -q "CIB .*, 1 topology levels"; }
check "every stonithd has the level" wait_for 10 eval 'levels 1 && levels 2 && levels 3'
out=$(sa 3 -B fake-spread -t 60 2>&1)
rc=$?
check "-B of its target on node 3 succeeds" eval '[ "$rc" = 0 ] && contains "rebooted by fa,fb" "$out"'
check "fa ran off then on on node 1, fb on node 2" \
  eval 'node_log 1 | grep -q "running off of fake-spread with fa" && node_log 2 | grep -q "running off of fake-spread with fb" && node_log 1 | grep -q "running on of fake-spread with fa" && node_log 2 | grep -q "running on of fake-spread with fb"'
check "the history names both nodes, the same everywhere" \
  eval 'history 3 | grep -q "reboot of fake-spread successful: delegate=node1,node2" && same_history'

finish
