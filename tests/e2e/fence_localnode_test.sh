#!/usr/bin/env bash
# The test fence agent tests/agents/fence_localnode (issue 8) through stonithd: three nodes of
# tools/ha-localcluster whose stonithds find the agent in a folder of their own
# (HA_FENCE_AGENT_DIR replaces /usr/sbin). A device of that agent is registered on nodes 1 and 2
# for node1..node3; node 3 fenced (off) from node 1 loses every process of its stack, and the
# histories of nodes 1 and 2 say so; unfencing (on) brings its stack back into the cluster; a
# reboot replaces its stack with a new one. The agent's own actions (metadata, list, status,
# errors) are checked directly too. Skips (77) when not root.
source "$(dirname "$0")/lib.sh"

skip() {
  echo "SKIP: $*"
  exit 77
}
[ "$(id -u)" = 0 ] || skip "needs root (stonithd runs fence agents as root)"
AGENT=$HA_SOURCE_DIR/tests/agents/fence_localnode
[ -x "$AGENT" ] || skip "no executable $AGENT"
command -v flock >/dev/null || skip "no flock (util-linux)"

agents_dir=$(mktemp -d /tmp/ha-fence-agents.XXXXXX)
ln -s "$AGENT" "$agents_dir/fence_localnode"
export HA_FENCE_AGENT_DIR=$agents_dir
trap 'cleanup; rm -rf "$agents_dir"' EXIT

sa() { "$LC" exec "$1" stonith_admin "${@:2}"; }
# grouped NODE MEMBERS: the node's stonithd is in the stonithd group with that many members.
grouped() {
  local health
  health=$("$LC" exec "$1" hactl health stonithd 2>&1)
  grep -qF "stonithd group, $2 member(s)" <<<"$health"
}
# all_grouped MEMBERS NODE...: every NODE's stonithd sees MEMBERS members; when not (after the
# wait), each node's health is shown.
all_grouped() {
  local members=$1 n
  shift
  for n in "$@"; do grouped "$n" "$members" || return 1; done
}
check_grouped() {
  local what=$1
  shift
  if wait_for 20 all_grouped "$@"; then
    ok "$what"
  else
    not_ok "$what"
    for n in 1 2 3; do echo "  node $n: $("$LC" exec "$n" hactl health stonithd 2>&1)"; done
  fi
}
# agent LINE...: runs the agent directly with those stdin lines (as stonithd does: without
# HA_LOCAL_ROOT in its environment); sets $rc and $out.
agent() {
  out=$(printf '%s\n' "$@" | env -u HA_LOCAL_ROOT "$AGENT" 2>&1)
  rc=$?
}
supervisor_of() { cat "$HA_LOCAL_ROOT/node$1/supervisor.pid"; }
session_of() { pgrep -s "$1" 2>/dev/null; }

"$LC" up 3 >/dev/null || {
  not_ok "three nodes start"
  finish
  exit 1
}
check_grouped "three nodes start and their stonithds join one stonithd group" 3 1 2 3

# ---- the agent by itself ----
agent action=metadata
check "metadata: fence-agents' XML with plug, ha_local_root and the actions" \
  eval '[ "$rc" = 0 ] && python3 -c "
import sys, xml.etree.ElementTree as ET
r = ET.fromstring(sys.stdin.read())
params = {p.get(\"name\") for p in r.iter(\"parameter\")}
actions = {a.get(\"name\") for a in r.iter(\"action\")}
assert r.get(\"name\") == \"fence_localnode\"
assert {\"action\", \"plug\", \"port\", \"ha_local_root\"} <= params
assert {\"on\", \"off\", \"reboot\", \"status\", \"list\", \"monitor\", \"metadata\"} <= actions
" <<<"$out"'
root_arg=ha_local_root=$HA_LOCAL_ROOT
agent action=list "$root_arg"
check "list: node1 to node3" eval '[ "$rc" = 0 ] && [ "$(xargs <<<"$out")" = "node1 node2 node3" ]'
agent action=monitor "$root_arg"
check "monitor: 0" test "$rc" = 0
agent action=status plug=node2 "$root_arg"
check "status of node2 (running): 0 (on)" test "$rc" = 0
agent action=status port=2 "$root_arg"
check "status by port and node number: 0" test "$rc" = 0
agent action=status plug=node7 "$root_arg"
check "a node outside the cluster: 1 and an ERROR line" \
  eval '[ "$rc" = 1 ] && contains "ERROR: '"'node7'"' is not a node of the local cluster" "$out"'
agent action=status plug=node2
check "without ha_local_root: 1" eval '[ "$rc" = 1 ] && contains "ha_local_root is required" "$out"'
agent action=off "$root_arg"
check "off without a node: 1" test "$rc" = 1
agent action=dance plug=node2 "$root_arg"
check "an unknown action: 1" test "$rc" = 1

# ---- a device of the agent on nodes 1 and 2 ----
for n in 1 2; do
  check "the device localfence is registered on node $n" \
    sa "$n" -R localfence -a fence_localnode -o pcmk_host_list=node1,node2,node3 \
    -o "ha_local_root=$HA_LOCAL_ROOT" -o "ha_localcluster=$LC" -o "ha_bin_dir=$HA_BIN_DIR"
done
out=$(sa 1 -l node3 2>&1)
check "node 1 lists localfence as able to fence node3" contains localfence "$out"

# ---- off: node 3's whole stack goes ----
sid3=$(supervisor_of 3)
pids3=$(session_of "$sid3")
check "node 3's stack is a session of several processes (supervisor and daemons)" \
  test "$(wc -w <<<"$pids3")" -ge 7
out=$(sa 1 -F node3 -t 60 2>&1)
rc=$?
check "stonith_admin -F node3 on node 1 succeeds" \
  eval '[ "$rc" = 0 ] && contains "fenced by localfence" "$out"'
check "no process of node 3's session is left" test -z "$(session_of "$sid3")"
alive=""
for p in $pids3; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
check "every process node 3 had is gone" test -z "$alive"
agent action=status plug=node3 "$root_arg"
check "the agent's status of node3: 2 (off)" test "$rc" = 2
for n in 1 2; do
  check "node $n's history says node3 was fenced (off) by localfence" \
    wait_for 10 eval 'grep -q "off of node3 successful: delegate=node[12], .*device=localfence" <<<"$(sa '"$n"' -H node3 -v 2>/dev/null)"'
done
check "the histories of nodes 1 and 2 are the same" \
  eval '[ "$(sa 1 -H "*" -v 2>/dev/null)" = "$(sa 2 -H "*" -v 2>/dev/null)" ]'
check_grouped "the stonithd group is down to nodes 1 and 2" 2 1 2

# ---- on (unfence): node 3 comes back ----
out=$(sa 2 -U node3 -t 90 2>&1)
rc=$?
check "stonith_admin -U node3 on node 2 succeeds" \
  eval '[ "$rc" = 0 ] && contains "unfenced by localfence" "$out"'
check "node 3's stack runs again, under a new supervisor" \
  eval '[ "$(stack_state 3)" = running ] && [ "$(supervisor_of 3)" != "$sid3" ]'
check_grouped "node 3's stonithd is back in the group of three" 3 1 2 3
check "node 1's history records the unfencing" \
  eval 'grep -q "on of node3 successful: delegate=node[12], .*device=localfence" <<<"$(sa 1 -H node3 -v 2>/dev/null)"'
env_tag=$(tr '\0' '\n' <"/proc/$(supervisor_of 3)/environ" | grep -c '^HA_LRMD_OWNER=')
check "node 3's new stack does not carry stonithd's agent owner tag" test "$env_tag" = 0

# ---- reboot: a new stack replaces the old one ----
sid3=$(supervisor_of 3)
pids3=$(session_of "$sid3")
out=$(sa 1 -B node3 -t 90 2>&1)
rc=$?
check "stonith_admin -B node3 succeeds" eval '[ "$rc" = 0 ] && contains "rebooted by localfence" "$out"'
alive=""
for p in $pids3; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
check "none of the old stack's processes survived the reboot" test -z "$alive"
check "node 3 runs a new stack" \
  eval '[ "$(stack_state 3)" = running ] && [ "$(supervisor_of 3)" != "$sid3" ]'
check_grouped "and rejoins the stonithd group" 3 1 2 3

finish
