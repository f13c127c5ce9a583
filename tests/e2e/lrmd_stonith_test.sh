#!/usr/bin/env bash
# The stonith class through lrmd (issue 7): a 1-node local cluster (so a real stonithd and a real
# lrmd); crm_resource runs a fence_dummy device (Debian's fence-agents) as a stonith resource.
# start registers the device with stonithd (stonith_admin -L lists it) and runs the agent's
# monitor; monitor asks stonithd and runs the agent's monitor; stop unregisters it. Also: a
# device whose monitor fails, an agent that is not installed, listing and meta-data.
source "$(dirname "$0")/lib.sh"

if [ ! -x /usr/sbin/fence_dummy ]; then
  echo "SKIP: fence_dummy (fence-agents) is not installed"
  exit 77
fi

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
contains() { grep -qF -- "$1" <<<"$2"; }
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
finish
