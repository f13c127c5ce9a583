#!/usr/bin/env bash
# The stonith class through lrmd (issue 7): a 1-node local cluster (so a real stonithd and a real
# lrmd); crm_resource runs a fence_dummy device (Debian's fence-agents) as a stonith resource.
# As in Pacemaker, start registers the device with stonithd (stonith_admin -L lists it) and asks
# stonithd to monitor it; monitor asks stonithd (not registered: not running; else its
# MonitorDevice, whose failure and reason lrmd reports); stop unregisters it. Also: a device
# whose monitor fails, an agent that is not installed, listing and meta-data; and, with
# cluster-glue, legacy plugins (null, external/ssh) run through stonithd's adapter.
source "$(dirname "$0")/lib.sh"

if [ ! -x /usr/sbin/fence_dummy ]; then
  echo "SKIP: fence_dummy (fence-agents) is not installed"
  exit 77
fi

# lrmd and stonithd find their agents in a folder of their own (HA_FENCE_AGENT_DIR): fence_dummy
# and the legacy plugin adapter of the source tree, as the package installs it beside it.
agents_dir="$HA_LOCAL_ROOT/agents"
mkdir -p "$agents_dir"
ln -s /usr/sbin/fence_dummy "$agents_dir/fence_dummy"
ln -s "$HA_SOURCE_DIR/agents/stonith/fence_legacy_glue" "$agents_dir/fence_legacy_glue"
export HA_FENCE_AGENT_DIR=$agents_dir

out=""
err=""
rc=0
# cr ARGS... / sa ARGS...: crm_resource / stonith_admin against node 1; set $out, $err, $rc.
cr() {
  out=$("$LC" exec 1 crm_resource "$@" 2>"$HA_LOCAL_ROOT/err"); rc=$?
  err=$(cat "$HA_LOCAL_ROOT/err")
}
sa() {
  out=$("$LC" exec 1 stonith_admin "$@" 2>"$HA_LOCAL_ROOT/err"); rc=$?
  err=$(cat "$HA_LOCAL_ROOT/err")
}
has() { grep -qxF -- "$1" <<<"$2"; }

"$LC" up 1 >/dev/null || { not_ok "node 1 starts"; finish; exit 1; }
ok "node 1 starts"
STATUS="$HA_LOCAL_ROOT/dummy.status"
dev=(--class stonith --agent fence_dummy -r lrmd-fence --option pcmk_host_list=fake-node-9
     --option "status_file=$STATUS")

cr --list-standards
check "--list-standards includes stonith" eval '[ "$rc" = 0 ] && has stonith "$out"'
cr --list-agents stonith
check "--list-agents stonith lists the fence agents" \
  eval '[ "$rc" = 0 ] && has fence_dummy "$out" && ! has fence_not_there "$out"'
cr --show-metadata stonith:fence_dummy
check "--show-metadata stonith:fence_dummy: the agent's XML" \
  eval '[ "$rc" = 0 ] && contains "<resource-agent name=\"fence_dummy\"" "$out"'

cr --force-check "${dev[@]}"
check "monitor of a device stonithd does not hold: 7 (not running)" test "$rc" = 7
cr --force-start "${dev[@]}"
check "--force-start registers the device: 0 (ok)" \
  eval '[ "$rc" = 0 ] && [ "$(head -n 1 <<<"$out")" = "Operation force-start for lrmd-fence (stonith:fence_dummy) returned 0 (ok)" ]'
sa -L
check "stonith_admin -L lists it" eval '[ "$rc" = 0 ] && contains " lrmd-fence" "$out"'
sa -l fake-node-9
check "with its pcmk_host_list: it can fence fake-node-9" \
  eval '[ "$rc" = 0 ] && contains " lrmd-fence" "$out"'
cr --force-check "${dev[@]}"
check "monitor of the registered device: 0 (ok)" test "$rc" = 0
sa -B fake-node-9 -t 30
check "stonithd fences with the device lrmd registered" \
  eval '[ "$rc" = 0 ] && contains "rebooted by lrmd-fence" "$out"'

# The monitor is stonithd's: a status file fence_dummy cannot read breaks the device for
# stonithd, and lrmd reports stonithd's verdict and reason; fixed, both agree it is fine again.
echo broken >"$STATUS"
cr --force-check "${dev[@]}"
check "monitor of a device failing in stonithd: 1 (error) with stonithd's reason" \
  eval '[ "$rc" = 1 ] && contains "Unable to obtain correct plug status" "$err"'
sa -L -v
check "stonith_admin -L -v shows the same failure" \
  eval 'contains "lrmd-fence (fence_dummy): failed" "$out" && contains "Unable to obtain correct plug status" "$out"'
printf on >"$STATUS"  # as fence_dummy writes it: no newline
cr --force-check "${dev[@]}"
check "monitor once the device works again: 0 (ok)" test "$rc" = 0
sa -L -v
check "and stonithd's status is ok again" contains "lrmd-fence (fence_dummy): ok" "$out"
cr --force-stop "${dev[@]}"
check "--force-stop unregisters it: 0 (ok)" test "$rc" = 0
sa -L
check "stonith_admin -L no longer lists it" eval '! contains " lrmd-fence" "$out"'
cr --force-check "${dev[@]}"
check "monitor after the stop: 7 (not running)" test "$rc" = 7
cr --force-stop "${dev[@]}"
check "stopping the stopped device: 0 (ok)" test "$rc" = 0

cr --force-start --class stonith --agent fence_dummy -r bad-fence --option random_sleep_range=x
check "a device whose monitor fails: start returns 1 (error)" test "$rc" = 1
cr --force-stop --class stonith --agent fence_dummy -r bad-fence
cr --force-start --class stonith --agent fence_not_installed -r gone-fence
check "an agent that is not installed: 5 (not installed)" \
  eval '[ "$rc" = 5 ] && contains "(Not installed" "$err"'
sa -L
check "neither failed device is left registered" \
  eval '! contains " bad-fence" "$out" && ! contains " gone-fence" "$out"'

# Legacy cluster-glue plugins, as stonithd runs them: through the adapter.
if [ ! -x /usr/sbin/stonith ] || [ ! -e /usr/lib/stonith/plugins/stonith2/null.so ] ||
  [ ! -x /usr/lib/stonith/plugins/external/ssh ]; then
  ok "skipped: legacy plugins: cluster-glue (stonith, its null and external/ssh plugins) is not installed"
  finish
  exit
fi
glue=(--class stonith --agent null -r lrmd-glue --option "hostlist=legacy-a legacy-b")
cr --list-agents stonith
check "--list-agents stonith has the legacy plugins too (null, external/ssh)" \
  eval '[ "$rc" = 0 ] && grep -qx "null" <<<"$out" && grep -qx "external/ssh" <<<"$out"'
cr --show-metadata stonith:null
check "--show-metadata stonith:null: the plugin's parameters through the adapter" \
  eval '[ "$rc" = 0 ] && contains "<resource-agent name=\"null\"" "$out" && contains "hostlist" "$out"'
cr --validate "${glue[@]}"
check "--validate of a null device with its hostlist: 0 (ok)" test "$rc" = 0
cr --validate -V --class stonith --agent null -r lrmd-glue-bad
check "--validate without the hostlist null needs: refused ($rc)" \
  eval '[ "$rc" != 0 ] && contains "needs the parameter(s) hostlist" "$out$err"'
cr --validate --class stonith --agent external/nosuch -r lrmd-glue-none
check "--validate of a plugin that does not exist: refused ($rc)" test "$rc" != 0
cr --force-check "${glue[@]}"
check "monitor of a null device stonithd does not hold: 7 (not running)" test "$rc" = 7
cr --force-start "${glue[@]}"
check "--force-start of a null device: 0 (ok)" test "$rc" = 0
sa -L -v
check "stonithd holds it, monitored through the plugin" \
  eval 'contains "lrmd-glue (null): ok" "$out"'
sa -l legacy-b
check "it fences the plugin's hosts (dynamic-list)" \
  eval '[ "$rc" = 0 ] && contains " lrmd-glue" "$out"'
cr --force-check "${glue[@]}"
check "monitor of the null device: 0 (ok)" test "$rc" = 0
cr --force-stop "${glue[@]}"
check "--force-stop of the null device: 0 (ok)" test "$rc" = 0
sa -L
check "stonith_admin -L no longer lists it" eval '! contains " lrmd-glue" "$out"'
cr --force-check "${glue[@]}"
check "monitor after its stop: 7 (not running)" test "$rc" = 7

# external/ssh: a type with a '/'. Its status pings the hosts (127.0.0.2 answers); no sshd.
ssh=(--class stonith --agent external/ssh -r lrmd-ssh --option hostlist=127.0.0.2)
cr --force-start "${ssh[@]}"
check "--force-start of an external/ssh device: 0 (ok)" test "$rc" = 0
cr --force-check "${ssh[@]}"
check "its monitor: 0 (ok)" test "$rc" = 0
cr --force-stop "${ssh[@]}"
check "its stop: 0 (ok)" test "$rc" = 0
cr --force-start --class stonith --agent external/not-a-plugin -r lrmd-none
check "a plugin that is not installed: 5 (not installed)" test "$rc" = 5
finish
