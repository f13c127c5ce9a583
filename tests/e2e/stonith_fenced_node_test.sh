#!/usr/bin/env bash
# A node that survives its own fencing stops its stack for good (issue 8): three nodes through
# tools/ha-localcluster; a fence_dummy device on node 1 (it "fences" without killing anything)
# lists node3. `stonith_admin -F node3` on node 1 succeeds, node 3's stonithd learns that it was
# fenced while still running, logs it and exits fatally (100), and node 3's supervisor stops every
# daemon and does not respawn them. `ha-localcluster start 3` brings up a new stack, whose stonithd
# (a new incarnation) is accepted in the stonithd group again.
# Then, with nftables (root): node 3 is cut off, fenced from node 1 without knowing it, and the
# partition heals with its old stack: nodes 1 and 2 refuse that stonithd (a fenced incarnation)
# and tell it, so node 3's stack stops the same way. Without nft that part is skipped.
source "$(dirname "$0")/lib.sh"

if [ ! -x /usr/sbin/fence_dummy ]; then
  echo "ok - skipped: fence_dummy (fence-agents) is not installed"
  exit 0
fi

sa() { "$LC" exec "$1" stonith_admin "${@:2}"; }
# grouped NODE MEMBERS: the node's stonithd is in the group with that many members.
grouped() { "$LC" exec "$1" hactl health stonithd 2>/dev/null | grep -q "stonithd group, $2 member(s)"; }
all_grouped() { grouped 1 3 && grouped 2 3 && grouped 3 3; }
two_grouped() { grouped 1 2 && grouped 2 2; }
sid_of() { cat "$("$LC" path "$1")/supervisor.pid"; }
session_of() { pgrep -s "$1" 2>/dev/null; }
stonithd_of() { pgrep -s "$1" -x stonithd 2>/dev/null; }

"$LC" up 3 >/dev/null || { not_ok "three nodes start"; finish; exit 1; }
check "three nodes start and their stonithds join one stonithd group" wait_for 20 all_grouped

STATUS="$HA_LOCAL_ROOT/dummy.status"
check "a fence_dummy device for node3 is registered on node 1" \
  sa 1 -R fence1 -a fence_dummy -o pcmk_host_list=node3,fake-x -o "status_file=$STATUS"

sid3=$(sid_of 3)
old3=$(stonithd_of "$sid3")
check "node 3's stack runs in its own session, stonithd included" \
  eval '[ -n "$sid3" ] && [ -n "$old3" ] && [ "$(session_of "$sid3" | wc -l)" -ge 3 ]'

out=$(sa 1 -F node3 -t 30 2>&1)
rc=$?
check "-F node3 on node 1 succeeds (the device did nothing)" \
  eval '[ "$rc" = 0 ] && contains "fence1" "$out"'
check "node 3 logs that it was fenced while running" \
  wait_for 10 eval 'node_log 3 | grep -q "We were allegedly just fenced by node1"'
check "node 3's whole stack stops: no process of its session is left" \
  wait_for 30 eval 'test -z "$(session_of "$sid3")"'
check "its stonithd exited fatally and the supervisor did not respawn it" \
  eval 'node_log 3 | grep -q "stonithd exited (exit 100): fatal error: respawning cannot help, stopping the stack"'
check "node 3's supervisor stopped every daemon and exited 100; the node is stopped" \
  eval 'node_log 3 | grep -q "supervisor exiting | exit_code=100" && "$LC" status | grep -q "Node node3 (id 3): stopped"'
check "nodes 1 and 2 go on as a stonithd group of two" wait_for 20 two_grouped
check "node 1's history has the off of node3 by node 1" \
  eval 'sa 1 -H node3 -v 2>/dev/null | grep -q "off of node3 successful: delegate=node1"'

# A new stack on node 3 (a new stonithd) is accepted.
"$LC" start 3 >/dev/null
check "a new stack on node 3 joins the stonithd group of three" wait_for 30 all_grouped
new3=$(stonithd_of "$(sid_of 3)")
check "with a new stonithd" eval '[ -n "$new3" ] && [ "$new3" != "$old3" ]'
check "which received the history, its own fencing included, and keeps running" \
  wait_for 10 eval 'sa 3 -H node3 -v 2>/dev/null | grep -q "off of node3 successful: delegate=node1"'
out=$(sa 3 -F fake-x -t 30 2>&1)
rc=$?
check "a request made on the new node 3 runs (on node 1)" \
  eval '[ "$rc" = 0 ] && contains "fence1" "$out"'
check "node 3 logged its fencing once only" \
  eval '[ "$(node_log 3 | grep -c "We were allegedly just fenced")" = 1 ] && all_grouped'

# The old stack of a fenced node, back after a partition heals, is refused and told.
if ! fw_setup; then
  echo "ok - skipped: the partition part (needs root and nft)"
  finish
  exit $?
fi
sid3=$(sid_of 3)
alone3() { grouped 3 1 && two_grouped; }
partition
check "partitioned {1,2}|{3}: node 3's stonithd is alone" wait_for 20 alone3
out=$(sa 1 -F node3 -t 30 2>&1)
rc=$?
check "-F node3 on node 1 succeeds while node 3 is cut off" eval '[ "$rc" = 0 ]'
check "node 3 knows nothing of it and runs on" \
  eval '[ "$(node_log 3 | grep -c "We were allegedly just fenced")" = 1 ] && [ -n "$(stonithd_of "$sid3")" ]'
heal
check "healed: node 1 refuses node 3's old stonithd as a fenced incarnation" \
  wait_for 30 eval 'node_log 1 | grep -q "refusing node3.s stonithd .* was fenced"'
check "node 3 is told, logs it and its whole stack stops" \
  wait_for 30 eval 'node_log 3 | grep -q "says this node.s stonithd .* was fenced" && test -z "$(session_of "$sid3")"'
check "nodes 1 and 2 stay a group of two" wait_for 20 two_grouped
"$LC" start 3 >/dev/null
check "a new stack on node 3 is accepted again" wait_for 30 all_grouped

finish
