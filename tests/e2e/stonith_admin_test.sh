#!/usr/bin/env bash
# stonith_admin against a real stonithd (issue 8): a 1-node local cluster; registers a fence_dummy
# device (Debian's fence-agents) for a fake target named by pcmk_host_list, lists it, fences and
# reboots the target, reads the history, checks Pacemaker's exit codes, confirms a node by hand
# (logged loudly), and fences with a device configured in the CIB (read by stonithd from cibd).
# Then device monitoring (-L -v, -Q, a failed device skipped), unfencing through the devices that
# provide it, and stonith-enabled=false from the CIB.
source "$(dirname "$0")/lib.sh"

out=""
err=""
rc=0
# sa ARGS...: runs stonith_admin against node 1; sets $out, $err and $rc.
sa() {
  out=$("$LC" exec 1 stonith_admin "$@" 2>"$HA_LOCAL_ROOT/err"); rc=$?
  err=$(cat "$HA_LOCAL_ROOT/err")
}

if [ ! -x /usr/sbin/fence_dummy ]; then
  echo "ok - skipped: fence_dummy (fence-agents) is not installed"
  exit 0
fi

mkdir -p "$HA_LOCAL_ROOT"
out=$("$HA_BIN_DIR/stonith_admin" --run-dir "$HA_LOCAL_ROOT/none" -L 2>&1); rc=$?
check "stonithd not running: exit 102 (not connected)" test "$rc" = 102
out=$("$HA_BIN_DIR/stonith_admin" 2>&1); rc=$?
check "no command: exit 64" test "$rc" = 64

# The node's stonithd runs its agents from a folder of its own (HA_FENCE_AGENT_DIR): fence_dummy
# and the test agent fence_flaky, whose monitor fails while a file exists.
agents_dir="$HA_LOCAL_ROOT/agents"
mkdir -p "$agents_dir"
ln -s /usr/sbin/fence_dummy "$agents_dir/fence_dummy"
ln -s "$HA_SOURCE_DIR/stonithd/testdata/fence_flaky" "$agents_dir/fence_flaky"
export HA_FENCE_AGENT_DIR=$agents_dir

"$LC" up 1 >/dev/null || { not_ok "node 1 starts"; finish; exit 1; }
ok "node 1 starts"
STATUS="$HA_LOCAL_ROOT/dummy.status"

sa -R fence1 -a fence_dummy -o pcmk_host_list=fake-node-7 -o "status_file=$STATUS"
check "-R registers a fence_dummy device" test "$rc" = 0
sa -R fence2 -a fence_not_installed
check "-R with an agent that is not installed: exit 105" test "$rc" = 105
sa -L
check "-L lists it" eval '[ "$rc" = 0 ] && contains " fence1" "$out" && contains "1 fence device found" "$out"'
sa -l fake-node-7
check "-l TARGET lists the device that can fence it" eval '[ "$rc" = 0 ] && contains " fence1" "$out"'
sa -l other-node
check "-l of a node no device can fence: none" eval '[ "$rc" = 0 ] && contains "0 fence devices found" "$out"'
sa --list-targets fence1
check "--list-targets shows pcmk_host_list" eval '[ "$rc" = 0 ] && contains " fake-node-7" "$out"'

sa -B fake-node-7 -t 30
check "-B reboots the target" eval '[ "$rc" = 0 ] && contains "Node fake-node-7 rebooted by fence1" "$out"'
sa -F fake-node-7
check "-F fences (off) the target" eval '[ "$rc" = 0 ] && contains "fenced by fence1" "$out"'
sa -U fake-node-7
check "-U unfences (on) the target" eval '[ "$rc" = 0 ] && contains "unfenced by fence1" "$out"'
sa -B other-node
check "-B of a node no device can fence: exit 105" \
  eval '[ "$rc" = 105 ] && contains "No fence device" "$err"'

sa -H fake-node-7
check "-H shows the last successful fencing" \
  eval '[ "$rc" = 0 ] && [ "$(wc -l <<<"$out")" = 1 ] && contains "on of fake-node-7 successful" "$out" && contains "device=fence1" "$out"'
sa -H '*' -v
check "-H '*' -v shows every operation" \
  eval 'contains "reboot of fake-node-7 successful" "$out" && contains "off of fake-node-7 successful" "$out" && contains "reboot of other-node failed" "$out"'

sa -C fake-node-8
check "--confirm records the node as down" eval '[ "$rc" = 0 ] && contains "WARNING" "$err"'
sa -H fake-node-8
check "and the history shows the manual ack" \
  eval 'contains "off of fake-node-8 successful" "$out" && contains "device=manual ack" "$out"'
check "the confirmation is logged loudly" eval 'node_log 1 | grep -q "MANUAL FENCING CONFIRMATION: fake-node-8"'

sa -D fence1
check "-D deregisters the device" test "$rc" = 0
sa -D fence1
check "-D of an unknown device: exit 105" test "$rc" = 105

"$LC" exec 1 cibadmin -C -o resources -X "<primitive id=\"cibfence\" class=\"stonith\" type=\"fence_dummy\">
  <instance_attributes id=\"cibfence-ia\">
    <nvpair id=\"cibfence-hosts\" name=\"pcmk_host_list\" value=\"cib-node\"/>
    <nvpair id=\"cibfence-status\" name=\"status_file\" value=\"$STATUS\"/>
  </instance_attributes></primitive>" >/dev/null
check "a stonith primitive is added to the CIB" test "$?" = 0
listed() { sa -L; contains " cibfence" "$out"; }
check "stonithd picks the CIB's device up" wait_for 10 listed
sa -B cib-node
check "and fences with it" eval '[ "$rc" = 0 ] && contains "rebooted by cibfence" "$out"'
sa -R cibfence -a fence_dummy
check "-R of a CIB device's id is refused" test "$rc" != 0

# Device monitoring: every device's monitor runs at once, then every 60 s; -L -v shows the last
# result, -Q runs it now. a-flaky (first by name) is not used while its monitor fails.
BROKEN="$HA_LOCAL_ROOT/switch-broken"
touch "$BROKEN"
sa -R a-flaky -a fence_flaky -o pcmk_host_list=fake-node-9 -o "fail_file=$BROKEN"
check "-R registers a device whose monitor fails" test "$rc" = 0
sa -R fence9 -a fence_dummy -o pcmk_host_list=fake-node-9 -o "status_file=$STATUS"
monitored() { sa -L -v; contains "a-flaky (fence_flaky): failed" "$out" && contains "fence9 (fence_dummy): ok" "$out"; }
check "-L -v shows each device's last monitor" wait_for 10 monitored
check "with the agent's reason" contains "Unable to connect" "$out"
sa -Q a-flaky
check "-Q of the failing device: exit 1, failed" eval '[ "$rc" = 1 ] && contains ": failed" "$out"'
sa -Q fence9
check "-Q of a healthy device: exit 0, ok" eval '[ "$rc" = 0 ] && contains "fence9 (fence_dummy): ok" "$out"'
sa -Q no-such-device
check "-Q of an unknown device: exit 105" test "$rc" = 105
sa -B fake-node-9 -t 30
check "fencing skips the failed device for the healthy one" \
  eval '[ "$rc" = 0 ] && contains "rebooted by fence9" "$out"'
check "the failure was logged" eval 'node_log 1 | grep -q "fence device a-flaky failed its monitor"'
rm -f "$BROKEN"
sa -Q a-flaky
check "repaired, -Q finds it healthy" eval '[ "$rc" = 0 ] && contains ": ok" "$out"'
sa -F fake-node-9 -t 30
check "and it is used first again" eval '[ "$rc" = 0 ] && contains "fenced by a-flaky" "$out"'

# Unfencing: "on" through every device that provides unfencing (meta or parameter provides).
sa -R unf1 -a fence_dummy -o pcmk_host_list=fake-unf -o "status_file=$STATUS" -o provides=unfencing
sa -R unf2 -a fence_dummy -o pcmk_host_list=fake-unf -o "status_file=$STATUS" -o provides=unfencing
sa -R unf0 -a fence_dummy -o pcmk_host_list=fake-unf -o "status_file=$STATUS"
sa -U fake-unf -t 30
check "-U unfences through the devices providing unfencing" eval '[ "$rc" = 0 ] && contains "unfenced by" "$out"'
check "both of them ran on" \
  eval 'node_log 1 | grep -q "running on of fake-unf with unf1" && node_log 1 | grep -q "running on of fake-unf with unf2"'
check "and not the one that does not provide it" eval '! node_log 1 | grep -q "running on of fake-unf with unf0"'

# Cluster options from the CIB: stonith-enabled=false refuses fencing (logged); stonith-action
# is used when a request names no action.
"$LC" exec 1 cibadmin -C -o crm_config -X '<cluster_property_set id="fencing-opts">
  <nvpair id="fencing-opts-enabled" name="stonith-enabled" value="false"/></cluster_property_set>' >/dev/null
refused() { sa -F fake-node-9 -t 10; [ "$rc" = 1 ] && contains "stonith-enabled=false" "$err"; }
check "stonith-enabled=false: -F is refused with a clear error" wait_for 10 refused
check "and the refusal is logged" eval 'node_log 1 | grep -q "refusing to off fake-node-9: fencing is disabled"'
"$LC" exec 1 cibadmin -D -o crm_config -X '<cluster_property_set id="fencing-opts"/>' >/dev/null
allowed() { sa -F fake-node-9 -t 30; [ "$rc" = 0 ]; }
check "enabled again: -F works" wait_for 10 allowed

finish
