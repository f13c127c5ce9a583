#!/usr/bin/env bash
# stonith_admin against a real stonithd (issue 8): a 1-node local cluster; registers a fence_dummy
# device (Debian's fence-agents) for a fake target named by pcmk_host_list, lists it, fences and
# reboots the target, reads the history, checks Pacemaker's exit codes, confirms a node by hand
# (logged loudly), and fences with a device configured in the CIB (read by stonithd from cibd).
source "$(dirname "$0")/lib.sh"

out=""
err=""
rc=0
# sa ARGS...: runs stonith_admin against node 1; sets $out, $err and $rc.
sa() {
  out=$("$LC" exec 1 stonith_admin "$@" 2>"$HA_LOCAL_ROOT/err"); rc=$?
  err=$(cat "$HA_LOCAL_ROOT/err")
}
contains() { grep -qF -- "$1" <<<"$2"; }

if [ ! -x /usr/sbin/fence_dummy ]; then
  echo "ok - skipped: fence_dummy (fence-agents) is not installed"
  exit 0
fi

mkdir -p "$HA_LOCAL_ROOT"
out=$("$HA_BIN_DIR/stonith_admin" --run-dir "$HA_LOCAL_ROOT/none" -L 2>&1); rc=$?
check "stonithd not running: exit 102 (not connected)" test "$rc" = 102
out=$("$HA_BIN_DIR/stonith_admin" 2>&1); rc=$?
check "no command: exit 64" test "$rc" = 64

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

finish
