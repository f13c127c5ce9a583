#!/usr/bin/env bash
# LSB init scripts run for real through a running lrmd and crm_resource (issue 7): lrmd started on
# its own with a test-only init.d folder (HA_LSB_INIT_DIR) holding the repository's test scripts
# (lrmd/testdata/init.d). Lists them; starts, checks and stops lsb:ha-lsbtest (a background
# service with a pid file and a lock file) and checks that every LSB status code is mapped as
# Pacemaker maps it (0 ok; 1, 2, 3 not running; 4 error); a start that fails; a script that hangs
# in start (the timeout kills its whole process group); a missing script.
source "$(dirname "$0")/lib.sh"

CR="$HA_BIN_DIR/crm_resource"
dir=$HA_LOCAL_ROOT/lrmd-lsb
mkdir -p "$dir/state" "$dir/run" "$dir/log" "$dir/init.d" "$dir/ocf/resource.d"
for script in ha-lsbtest ha-lsbhang ha-lsbnoexec; do
  ln -s "$HA_SOURCE_DIR/lrmd/testdata/init.d/$script" "$dir/init.d/$script"
done
state=$dir/lsb-state  # where the test scripts keep their pid, lock and marker files
conf=$dir/corosync.conf
one_node_config "$dir" lrmdlsb
export HA_CONFIG=$conf
svc=(--class lsb --agent ha-lsbtest)

lrmd_pid=""
on_exit() {
  if [ -n "$lrmd_pid" ]; then
    kill -TERM "$lrmd_pid" 2>/dev/null
    wait "$lrmd_pid" 2>/dev/null
  fi
  # Whatever a failed check left running.
  for f in "$state/ha-lsbtest.pid" "$state/ha-lsbhang.child"; do
    [ -s "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null
  done
  if [ "$failed" -gt 0 ] && [ -f "$dir/log/cluster.log" ]; then
    echo "--- lrmd's log (last 40 lines)"
    tail -n 40 "$dir/log/cluster.log"
  fi
  cleanup
}
trap on_exit EXIT

# run ARGS...: runs crm_resource; sets $out (stdout), $err (stderr) and $rc.
run() {
  out=$("$CR" "$@" 2>"$dir/err"); rc=$?
  err=$(cat "$dir/err")
}
has() { grep -qxF -- "$1" <<<"$2"; }        # has LINE TEXT: TEXT has the line LINE
service_pid() { cat "$state/ha-lsbtest.pid" 2>/dev/null; }

HA_LSB_INIT_DIR=$dir/init.d OCF_ROOT=$dir/ocf "$HA_BIN_DIR/lrmd" -c "$conf" \
  </dev/null >"$dir/log/lrmd.out" 2>&1 &
lrmd_pid=$!
if ! wait_for 10 eval '"$CR" --list-standards >/dev/null 2>&1'; then
  not_ok "lrmd starts and answers"
  finish
  exit 1
fi
ok "lrmd starts and answers"
check "lrmd logs the init script folder it uses" \
  grep -qF "LSB init scripts from $dir/init.d" "$dir/log/cluster.log"

# ---- listing and meta-data ----
run --list-agents lsb
check "--list-agents lsb lists the executable scripts of the init.d folder, nothing else" \
  eval '[ "$rc" = 0 ] && [ "$(xargs <<<"$out")" = "ha-lsbhang ha-lsbtest" ]'
run --list-agents service
check "--list-agents service lists them too" \
  eval '[ "$rc" = 0 ] && has ha-lsbtest "$out" && has ha-lsbhang "$out"'
run --show-metadata lsb:ha-lsbtest
check "--show-metadata lsb:ha-lsbtest: the LSB meta-data with its actions" \
  eval '[ "$rc" = 0 ] && contains "<resource-agent name=\"ha-lsbtest\"" "$out" && contains "name=\"status\"" "$out"'
check "--show-metadata lsb:ha-lsbtest: the descriptions come from the script's INIT INFO" \
  eval 'contains "lrmd'"'"'s LSB test service" "$out" && contains "started and stopped as an LSB init script does" "$out"'

# ---- start, status, stop ----
run --force-check "${svc[@]}"
check "status of the stopped service (LSB 3): 7 (not running)" \
  eval '[ "$rc" = 7 ] && [ "$(head -n 1 <<<"$out")" = "Operation force-check (lsb:ha-lsbtest) returned 7 (not running)" ]'
run --force-start "${svc[@]}"
check "--force-start lsb:ha-lsbtest: 0 (ok)" \
  eval '[ "$rc" = 0 ] && [ "$(head -n 1 <<<"$out")" = "Operation force-start (lsb:ha-lsbtest) returned 0 (ok)" ]'
check "the script's output follows" has "Starting ha-lsbtest: ok" "$out"
pid=$(service_pid)
check "the service runs, with its pid file" kill -0 "${pid:-0}"
run --force-check "${svc[@]}"
check "status of the running service (LSB 0): 0 (ok)" test "$rc" = 0
run --force-start "${svc[@]}"
check "starting it again: 0, the same process" eval '[ "$rc" = 0 ] && [ "$(service_pid)" = "$pid" ]'

kill -KILL "$pid" 2>/dev/null
wait_for 5 eval '! kill -0 '"${pid:-0}"' 2>/dev/null'
run --force-check "${svc[@]}" -V
check "dead with its pid file left (LSB 1): 7 (not running)" \
  eval '[ "$rc" = 7 ] && contains "raw exit code 1," "$err"'
rm -f "$state/ha-lsbtest.pid"
run --force-check "${svc[@]}" -V
check "dead with its lock file left (LSB 2): 7 (not running)" \
  eval '[ "$rc" = 7 ] && contains "raw exit code 2," "$err"'
touch "$state/status-unknown"
run --force-check "${svc[@]}" -V
check "status unknown (LSB 4): 1 (error)" \
  eval '[ "$rc" = 1 ] && contains "raw exit code 4," "$err" && contains "returned 1 (error)" "$out"'
rm -f "$state/status-unknown" "$state/ha-lsbtest.lock"
run --force-check "${svc[@]}" -V
check "not running (LSB 3): 7 (not running)" \
  eval '[ "$rc" = 7 ] && contains "raw exit code 3," "$err"'
run --force-stop "${svc[@]}"
check "--force-stop of the stopped service: 0" test "$rc" = 0
if [ ! -d /run/systemd/system ]; then  # else class service means systemd
  run --force-start --class service --agent ha-lsbtest
  check "class service runs the LSB script where systemd is not the init: 0" \
    eval '[ "$rc" = 0 ] && contains "(service:ha-lsbtest) returned 0 (ok)" "$out" && [ -n "$(service_pid)" ]'
  run --force-stop --class service --agent ha-lsbtest
  check "and stops it: 0" eval '[ "$rc" = 0 ] && [ -z "$(service_pid)" ]'
fi

run --force-start "${svc[@]}" -r web
pid=$(service_pid)
check "--force-start -r web: 0, running" eval '[ "$rc" = 0 ] && kill -0 '"${pid:-0}"
run --force-stop "${svc[@]}" -r web
check "--force-stop -r web: 0 (ok)" \
  eval '[ "$rc" = 0 ] && [ "$(head -n 1 <<<"$out")" = "Operation force-stop for web (lsb:ha-lsbtest) returned 0 (ok)" ]'
check "the service is gone with its pid and lock files" \
  eval '! kill -0 '"${pid:-0}"' 2>/dev/null && [ ! -e "$state/ha-lsbtest.pid" ] && [ ! -e "$state/ha-lsbtest.lock" ]'
run --force-check "${svc[@]}"
check "and its status says so: 7" test "$rc" = 7

# ---- failures ----
touch "$state/start-fails"
run --force-start "${svc[@]}"
check "a start that fails (LSB 1): 1 (error) with the script's words" \
  eval '[ "$rc" = 1 ] && contains "returned 1 (error)" "$out" && contains "start refused" "$out"'
rm -f "$state/start-fails"
run --force-promote "${svc[@]}"
check "an action the script does not know (LSB 3): 3 (unimplemented feature)" \
  eval '[ "$rc" = 3 ] && contains "returned 3 (unimplemented feature)" "$out"'
run --force-start --class lsb --agent ha-lsbnoexec
check "a script that is not executable: 5 (not installed)" \
  eval '[ "$rc" = 5 ] && contains "could not be executed (Not installed" "$err"'
run --force-start --class lsb --agent no-such-script
check "a missing script: 5 (not installed)" \
  eval '[ "$rc" = 5 ] && contains "could not be executed (Not installed" "$err"'
run --force-start --class lsb --agent ../init.d/ha-lsbtest
check "a name leaving the init.d folder is refused" test "$rc" != 0

run --force-start --class lsb --agent ha-lsbhang -T 2s
check "a start that hangs is killed after -T: could not be executed (Timed out), exit 1" \
  eval '[ "$rc" = 1 ] && contains "Operation force-start (lsb:ha-lsbhang) could not be executed (Timed out" "$err"'
child=$(cat "$state/ha-lsbhang.child" 2>/dev/null)
check "the hanging script's background child was started" test -n "$child"
wait_for 5 eval '! kill -0 '"${child:-0}"' 2>/dev/null'
check "and was killed with the script's process group" eval '! kill -0 '"${child:-0}"' 2>/dev/null'
check "no process of the hanging script is left" eval '! pgrep -f "$dir/init.d/ha-lsbhang" >/dev/null'
finish
