#!/usr/bin/env bash
# systemd units run for real through lrmd and crm_resource (issue 7). The host's init is not
# necessarily systemd, so the test boots a systemd of its own: `systemd --system` as PID 1 of a
# private PID, mount and cgroup namespace (unshare), with a private /run holding the test's units,
# a cgroup2 hierarchy rooted at a cgroup of the test's own, and a target that pulls in nothing (so
# no host service is started). lrmd runs inside that namespace (nsenter), crm_resource outside
# (lrmd's socket is in /tmp, shared). Checks that start and stop wait for systemd's job, monitor
# (is-active), a unit that fails, a unit that does not exist, the "service" class resolving to
# systemd, listing and meta-data. Skipped (exit 77) with the reason when that cannot be set up
# (not root, no unshare/nsenter/systemd, no cgroup2).
source "$(dirname "$0")/lib.sh"

bin=$(cd "$HA_BIN_DIR" && pwd)  # absolute: entering a mount namespace changes the folder
CR="$bin/crm_resource"
dir=$HA_LOCAL_ROOT/lrmd-systemd
mkdir -p "$dir/state" "$dir/run" "$dir/log" "$dir/ocf/resource.d" "$dir/init.d" "$dir/marks"
marks=$dir/marks  # what the test units' ExecStartPost/ExecStopPost leave behind

unshare_pid=""
systemd_pid=""
lrmd_pid=""
cgroup=""
on_exit() {
  [ -n "$lrmd_pid" ] && kill -TERM "$lrmd_pid" 2>/dev/null && wait_for 10 eval '! kill -0 '"$lrmd_pid"' 2>/dev/null'
  # SIGKILL to the namespace's PID 1 ends every process of the namespace (units included).
  [ -n "$systemd_pid" ] && kill -KILL "$systemd_pid" 2>/dev/null
  if [ -n "$unshare_pid" ]; then
    kill -KILL "$unshare_pid" 2>/dev/null
    wait "$unshare_pid" 2>/dev/null
  fi
  if [ -n "$cgroup" ] && [ -d "$cgroup" ]; then
    wait_for 10 eval '[ -z "$(find "$cgroup" -name cgroup.procs -exec cat {} + 2>/dev/null)" ]'
    find "$cgroup" -depth -type d -exec rmdir {} \; 2>/dev/null
  fi
  if [ "$failed" -gt 0 ]; then
    for f in "$dir/log/cluster.log" "$dir/log/systemd.out"; do
      [ -f "$f" ] && { echo "--- $f (last 40 lines)"; tail -n 40 "$f"; }
    done
  fi
  cleanup
}
trap on_exit EXIT

skip_all() {
  echo "SKIP: $1"
  exit 77
}

# ---- can a systemd of our own run here? ----
[ "$(id -u)" = 0 ] || skip_all "not root (a private systemd needs namespaces and cgroups)"
for tool in unshare nsenter; do
  command -v "$tool" >/dev/null || skip_all "no $tool (util-linux)"
done
systemd_bin=""
for candidate in /lib/systemd/systemd /usr/lib/systemd/systemd; do
  [ -x "$candidate" ] && { systemd_bin=$candidate; break; }
done
[ -n "$systemd_bin" ] || skip_all "systemd is not installed"
command -v systemctl >/dev/null || skip_all "no systemctl"
cgroup2_root=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
[ -n "$cgroup2_root" ] || skip_all "no cgroup2 hierarchy mounted"
own_cgroup=$(sed -n 's/^0:://p' /proc/self/cgroup)
cgroup=$cgroup2_root${own_cgroup%/}/ha-e2e-systemd-$$
mkdir "$cgroup" 2>/dev/null || { cgroup=""; skip_all "cannot create a cgroup under $cgroup2_root$own_cgroup"; }

# ---- the namespace and its systemd ----
cat > "$dir/inner.sh" <<INNER
set -e
mount --make-rprivate /
mount -t proc proc /proc
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/systemd/system
cat > /run/systemd/system/ha-e2e.target <<'UNIT'
[Unit]
Description=lrmd test target: pulls in nothing
DefaultDependencies=no
UNIT
# A service whose start and stop jobs take a while after the main process is up or gone, and
# leave a mark when they are done.
cat > /run/systemd/system/ha-e2e-sleep.service <<'UNIT'
[Unit]
Description=lrmd test service
DefaultDependencies=no
[Service]
Type=simple
ExecStart=/bin/sleep 100000
ExecStartPost=/bin/sh -c 'sleep 0.5; touch $marks/started'
ExecStopPost=/bin/sh -c 'sleep 0.5; touch $marks/stopped'
UNIT
cat > /run/systemd/system/ha-e2e-fail.service <<'UNIT'
[Unit]
Description=lrmd test service that fails to start
DefaultDependencies=no
[Service]
Type=oneshot
ExecStart=/bin/false
UNIT
cat > /run/systemd/system/ha-e2e-hang.service <<'UNIT'
[Unit]
Description=lrmd test service whose start never ends
DefaultDependencies=no
[Service]
Type=oneshot
ExecStart=/bin/sleep 100000
UNIT
mount -t cgroup2 cgroup2 /sys/fs/cgroup
exec env container=ha-e2e $systemd_bin --system --unit=ha-e2e.target --log-target=console
INNER
(
  echo "$BASHPID" > "$cgroup/cgroup.procs" &&
    exec unshare --pid --mount --cgroup --fork --kill-child bash "$dir/inner.sh"
) >"$dir/log/systemd.out" 2>&1 &
unshare_pid=$!
wait_for 10 eval 'systemd_pid=$(pgrep -P '"$unshare_pid"' -x systemd); [ -n "$systemd_pid" ]' ||
  skip_all "systemd did not start in a private namespace: $(tail -n 3 "$dir/log/systemd.out" | xargs)"
inside() { nsenter --target "$systemd_pid" --mount --pid -- "$@"; }
booted() {
  local state
  state=$(timeout 5 nsenter --target "$systemd_pid" --mount --pid -- systemctl is-system-running 2>/dev/null)
  [ "$state" = running ] || [ "$state" = degraded ]
}
wait_for 20 booted ||
  skip_all "the private systemd did not come up: $(tail -n 3 "$dir/log/systemd.out" | xargs)"
ok "a systemd of our own runs as PID 1 of a private namespace"

# ---- lrmd inside it ----
conf=$dir/corosync.conf
one_node_config "$dir" lrmdsystemd
export HA_CONFIG=$conf
nsenter --target "$systemd_pid" --mount --pid -- env HA_LSB_INIT_DIR="$dir/init.d" \
  OCF_ROOT="$dir/ocf" "$bin/lrmd" -c "$conf" </dev/null >"$dir/log/lrmd.out" 2>&1 &
nsenter_pid=$!
wait_for 10 eval 'lrmd_pid=$(pgrep -P '"$nsenter_pid"' -x lrmd); [ -n "$lrmd_pid" ]'
if ! wait_for 10 eval '"$CR" --list-standards >/dev/null 2>&1'; then
  not_ok "lrmd starts inside the namespace and answers"
  finish
  exit 1
fi
ok "lrmd starts inside the namespace and answers"

run() {
  out=$("$CR" "$@" 2>"$dir/err"); rc=$?
  err=$(cat "$dir/err")
}
has() { grep -qxF -- "$1" <<<"$2"; }
active() { inside systemctl is-active "$1" 2>/dev/null; }
svc=(--class systemd --agent ha-e2e-sleep)

# ---- listing and meta-data ----
run --list-agents systemd
check "--list-agents systemd lists the test's units" \
  eval '[ "$rc" = 0 ] && has ha-e2e-sleep "$out" && has ha-e2e-fail "$out"'
run --show-metadata systemd:ha-e2e-sleep
check "--show-metadata systemd:ha-e2e-sleep" \
  eval '[ "$rc" = 0 ] && contains "<resource-agent name=\"ha-e2e-sleep\"" "$out"'

# ---- start, monitor, stop ----
run --force-check "${svc[@]}"
check "monitor of the inactive unit: 7 (not running)" test "$rc" = 7
run --force-start "${svc[@]}"
check "--force-start systemd:ha-e2e-sleep: 0 (ok)" \
  eval '[ "$rc" = 0 ] && [ "$(head -n 1 <<<"$out")" = "Operation force-start (systemd:ha-e2e-sleep) returned 0 (ok)" ]'
check "start waited for systemd's job: ExecStartPost had finished when it returned" \
  test -e "$marks/started"
check "and the unit is active" test "$(active ha-e2e-sleep)" = active
run --force-check "${svc[@]}"
check "monitor of the active unit: 0 (ok)" test "$rc" = 0
run --force-check --class service --agent ha-e2e-sleep
check "class service resolves to systemd where systemd runs: 0 (ok)" \
  eval '[ "$rc" = 0 ] && contains "(service:ha-e2e-sleep) returned 0 (ok)" "$out"'
main_pid=$(inside systemctl show -p MainPID --value ha-e2e-sleep)
run --force-stop "${svc[@]}"
check "--force-stop systemd:ha-e2e-sleep: 0 (ok)" test "$rc" = 0
check "stop waited for systemd's job: ExecStopPost had finished when it returned" \
  test -e "$marks/stopped"
check "and the unit is inactive" test "$(active ha-e2e-sleep)" = inactive
check "its process is gone" eval '! inside kill -0 '"${main_pid:-0}"' 2>/dev/null'
run --force-check "${svc[@]}"
check "monitor after the stop: 7 (not running)" test "$rc" = 7
run --force-stop "${svc[@]}"
check "stopping the stopped unit: 0 (ok)" test "$rc" = 0

# ---- failures ----
run --force-start --class systemd --agent ha-e2e-fail
check "a unit whose start fails: 1 (error)" \
  eval '[ "$rc" = 1 ] && contains "returned 1 (error)" "$out"'
run --force-start --class systemd --agent ha-e2e-nosuch
check "a unit that does not exist: 5 (not installed)" \
  eval '[ "$rc" = 5 ] && contains "returned 5 (not installed)" "$out"'
run --force-check --class systemd --agent ha-e2e-nosuch
check "monitor of a unit that does not exist: 7 (not running)" test "$rc" = 7
run --force-start --class systemd --agent ha-e2e-hang -T 2s
check "a start job that does not finish: lrmd's timeout, exit 1" \
  eval '[ "$rc" = 1 ] && contains "could not be executed (Timed out" "$err"'
inside systemctl stop --no-block ha-e2e-hang >/dev/null 2>&1
finish
