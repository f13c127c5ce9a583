#!/usr/bin/env bash
# Legacy STONITH plugins (cluster-glue's, issue 8) through a real stonithd on a 1-node local
# cluster: the adapter agents/stonith/fence_legacy_glue runs cluster-glue's `stonith` command.
# A `null` device registered with stonith_admin (-a null -o hostlist=...) lists its targets
# through the plugin (dynamic-list), fences and reboots them, and appears in the history; an
# `external/ssh` device from the CIB lists its targets and reports a failure of an action the
# plugin does not support (off) without ever reaching ssh. Exit 77 (skipped) without
# cluster-glue.
source "$(dirname "$0")/lib.sh"

out=""
err=""
rc=0
# sa ARGS...: runs stonith_admin against node 1; sets $out, $err and $rc.
sa() {
  out=$("$LC" exec 1 stonith_admin "$@" 2>"$HA_LOCAL_ROOT/err"); rc=$?
  err=$(cat "$HA_LOCAL_ROOT/err")
}

if [ ! -x /usr/sbin/stonith ] || [ ! -e /usr/lib/stonith/plugins/stonith2/null.so ] ||
  [ ! -x /usr/lib/stonith/plugins/external/ssh ]; then
  echo "ok - skipped: cluster-glue (stonith, its null and external/ssh plugins) is not installed"
  exit 77
fi

# The node's stonithd runs its agents from a folder of its own (HA_FENCE_AGENT_DIR) holding the
# adapter of the source tree, as the package installs it beside the fence agents.
mkdir -p "$HA_LOCAL_ROOT"
agents_dir="$HA_LOCAL_ROOT/agents"
mkdir -p "$agents_dir"
ln -s "$HA_SOURCE_DIR/agents/stonith/fence_legacy_glue" "$agents_dir/fence_legacy_glue"
export HA_FENCE_AGENT_DIR=$agents_dir

"$LC" up 1 >/dev/null || { not_ok "node 1 starts"; finish; exit 1; }
ok "node 1 starts"

sa -R glue1 -a null -o "hostlist=legacy-a legacy-b"
check "-R registers a device of the null plugin" test "$rc" = 0
sa -R glue2 -a external/not-a-plugin -o hostlist=x
check "-R with a plugin that is not installed: exit 105" \
  eval '[ "$rc" = 105 ] && contains "external/not-a-plugin" "$err"'
sa -R glue3 -a external/a/b
check "-R with a malformed plugin type is refused" test "$rc" != 0
sa -L -v
check "-L -v lists it with its plugin" eval '[ "$rc" = 0 ] && contains "glue1 (null)" "$out"'
sa --list-targets glue1
check "--list-targets asks the plugin (dynamic-list)" \
  eval '[ "$rc" = 0 ] && contains " legacy-a" "$out" && contains " legacy-b" "$out"'
sa -l legacy-b
check "-l TARGET finds the device" eval '[ "$rc" = 0 ] && contains " glue1" "$out"'
sa -l legacy-c
check "-l of a host the plugin does not list: none" \
  eval '[ "$rc" = 0 ] && contains "0 fence devices found" "$out"'
sa -Q glue1
check "-Q runs the plugin's status" eval '[ "$rc" = 0 ] && contains "glue1 (null): ok" "$out"'

sa -B legacy-a -t 30
check "-B reboots a target through the plugin" \
  eval '[ "$rc" = 0 ] && contains "Node legacy-a rebooted by glue1" "$out"'
sa -F legacy-b -t 30
check "-F fences (off) a target through the plugin" \
  eval '[ "$rc" = 0 ] && contains "fenced by glue1" "$out"'
sa -B legacy-c -t 10
check "-B of a host the plugin does not list: exit 105" test "$rc" = 105
sa -H legacy-a
check "-H shows the reboot" \
  eval '[ "$rc" = 0 ] && contains "reboot of legacy-a successful" "$out" && contains "device=glue1" "$out"'
sa -H '*' -v
check "-H '*' -v shows both operations" \
  eval 'contains "reboot of legacy-a successful" "$out" && contains "off of legacy-b successful" "$out"'
check "stonithd ran the adapter with the plugin" \
  eval 'node_log 1 | grep -q "running reboot of legacy-a with glue1"'
sa -D glue1
check "-D deregisters it" test "$rc" = 0

# From the CIB: an external/ssh device. Its list and status need no sshd (status pings the
# hosts: 127.0.0.2 answers at once); its off is refused by the plugin itself (reset only).
"$LC" exec 1 cibadmin -C -o resources -X '<primitive id="cibglue" class="stonith" type="external/ssh">
  <instance_attributes id="cibglue-ia">
    <nvpair id="cibglue-hosts" name="hostlist" value="127.0.0.2"/>
  </instance_attributes></primitive>' >/dev/null
check "an external/ssh primitive is added to the CIB" test "$?" = 0
listed() { sa -L; contains " cibglue" "$out"; }
check "stonithd picks the CIB's plugin device up" wait_for 10 listed
sa --list-targets cibglue
check "--list-targets lists the plugin's hostlist" eval '[ "$rc" = 0 ] && contains " 127.0.0.2" "$out"'
sa -Q cibglue
check "-Q: the plugin's status is ok" eval '[ "$rc" = 0 ] && contains "cibglue (external/ssh): ok" "$out"'
sa -F 127.0.0.2 -t 20
check "-F: the plugin's refusal of off is a failure (exit 1)" test "$rc" = 1
sa -H 127.0.0.2 -v
check "and the history records it failed with the plugin's exit" \
  eval 'contains "off of 127.0.0.2 failed" "$out"'

finish
