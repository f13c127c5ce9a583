#!/usr/bin/env bash
# Shared-disk exclusion with Debian's ocf:heartbeat:sfex through lrmd (issue 8). A file-backed
# loop device stands for the shared disk (sfex_init -n 1); two "nodes" each run a real lrmd in
# namespaces of their own:
#  - UTS: sfex_daemon names the lock holder by uname's node name (it has -n, but the agent never
#    passes it), so each node has its own host name;
#  - PID (with its own /proc): the agent's monitor looks for its sfex_daemon with pgrep by the
#    resource's name, which is the same on every node, so each node sees only its own processes;
#  - mount: sfex_daemon's reboot trigger is sandboxed there (below).
# Node A starts the lock and holds it (sfex_stat names A), B's start is refused while A renews
# it, A stops (the lock is released), then B's start succeeds; monitors agree at each step.
# Last, A takes the lock again and it is taken from under it (sfex_init rewrites the disk): A's
# sfex_daemon then "reboots" its node, which must land in A's sandboxed trigger and nowhere else.
#
# The reboot trigger, the only thing sandboxed. sfex_daemon opens /proc/sysrq-trigger for writing
# when it starts (it exits when it cannot: kernels without CONFIG_MAGIC_SYSRQ, as here) and writes
# "b" (reboot now) into it when it finds its lock lost. The lock itself is real: Debian's agent and
# Debian's sfex_daemon binary take it on the (loop) disk. In each node's mount namespace the
# daemon's path (/usr/libexec/heartbeat/sfex_daemon, the agent's $HA_BIN) is bound to a small
# script that gives the daemon a mount namespace of its own, where /proc is a tmpfs holding one
# plain file, sysrq-trigger, bound to the node's $dir/<node>/sysrq; it then removes its own bind
# and execs the real binary at its real path with the agent's argv unchanged, so the agent's
# pgrep -f finds it as usual. Only the daemon gets that /proc: the agent's pgrep needs the
# node's real procfs (/proc/<pid>), and procfs can neither hold a plain file nor be an overlay's
# lower layer. The daemon needs nothing else from /proc (strace: it opens only sysrq-trigger).
# lrmd gives agents a clean environment, so LD_PRELOAD-style redirections would not reach it.
# Where the host has a real /proc/sysrq-trigger, the node's own is also bound to the plain file.
#
# It skips (77, saying why) when not root or without loop devices, namespaces, sfex, or the
# mounts the sandbox needs. The loop device and the namespaces are always removed.
source "$(dirname "$0")/lib.sh"

skip() {
  echo "SKIP: $*"
  exit 77
}
SFEX_AGENT=/usr/lib/ocf/resource.d/heartbeat/sfex
# Where the agent runs it from: ocf-directories' default $HA_BIN (lrmd's clean environment for
# agents never sets HA_BIN).
SFEX_DAEMON=/usr/libexec/heartbeat/sfex_daemon
[ "$(id -u)" = 0 ] || skip "needs root (loop devices, namespaces)"
[ -x "$SFEX_AGENT" ] && [ -x "$SFEX_DAEMON" ] && command -v sfex_init >/dev/null &&
  command -v sfex_stat >/dev/null ||
  skip "Debian's resource-agents (sfex, sfex_daemon, sfex_init, sfex_stat) is not installed"
command -v losetup >/dev/null && command -v unshare >/dev/null || skip "no losetup or unshare"
[ -e /dev/loop-control ] || skip "no loop device support (/dev/loop-control)"
unshare --uts --pid --mount --fork --mount-proc true 2>/dev/null ||
  skip "cannot create UTS, PID and mount namespaces"
# The sandbox of the reboot trigger, tried once (nothing is written to the trigger): a tmpfs over
# /proc in a private mount namespace, a plain file bound at its sysrq-trigger.
probe=$HA_LOCAL_ROOT/sysrq-probe
: >"$probe"
unshare --mount --propagation private sh -c '
  mount -t tmpfs -o size=16k,mode=755 sfex-proc /proc && [ "$(stat -f -c %T /proc)" = tmpfs ] &&
    : >/proc/sysrq-trigger && mount --bind "$1" /proc/sysrq-trigger &&
    [ /proc/sysrq-trigger -ef "$1" ]' sysrq-probe "$probe" 2>/dev/null ||
  skip "cannot sandbox sfex_daemon's reboot trigger (tmpfs over /proc in a mount namespace)"
rm -f "$probe"

CR="$HA_BIN_DIR/crm_resource"
dir=$HA_LOCAL_ROOT/sfex
# lrmd runs meta-data as the hacluster user: it must reach the OCF root under the test's folder.
chmod 755 "$HA_LOCAL_ROOT"
mkdir -p "$dir/ocf/resource.d"
ln -s /usr/lib/ocf/resource.d/heartbeat "$dir/ocf/resource.d/heartbeat"
ln -s /usr/lib/ocf/lib "$dir/ocf/lib"
loopdev=""
declare -A node_pid=()

# stop_node NODE: lrmd is the init of the node's PID namespace; when it exits, the kernel kills
# whatever is left in the namespace (an sfex_daemon still running). SIGKILL after 10 s.
stop_node() {
  local pid=${node_pid[$1]:-}
  [ -n "$pid" ] || return 0
  local init
  init=$(pgrep -P "$pid" 2>/dev/null | head -n 1)
  [ -n "$init" ] && kill -TERM "$init" 2>/dev/null
  local deadline=$((SECONDS + 10))
  while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  # unshare --kill-child: killing it kills the namespace's init, and so the namespace.
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  node_pid[$1]=""
}
on_exit() {
  stop_node A
  stop_node B
  if [ -n "$loopdev" ]; then
    losetup -d "$loopdev" 2>/dev/null
  fi
  if [ "$failed" -gt 0 ]; then
    for n in A B; do
      [ -f "$dir/$n/log/cluster.log" ] && { echo "--- node $n's lrmd log (last 20 lines)"; tail -n 20 "$dir/$n/log/cluster.log"; }
      [ -f "$dir/$n/log/sfex_daemon.log" ] && { echo "--- node $n's sfex_daemon log (last 20 lines)"; grep . "$dir/$n/log/sfex_daemon.log" | tail -n 20; }
    done
  fi
  cleanup
}
trap on_exit EXIT

# ---- the shared disk ----
truncate -s 4M "$dir/shared.img"
loopdev=$(losetup -f --show "$dir/shared.img" 2>/dev/null) || {
  loopdev=""
  skip "cannot attach a loop device"
}
check "a loop device is attached to a 4 MiB image ($loopdev)" test -b "$loopdev"
check "sfex_init -n 1 writes sfex's control data" sfex_init -n 1 "$loopdev"
# holder: the node name sfex_stat shows for lock 1 when it is locked, else empty.
holder() {
  sfex_stat -i 1 "$loopdev" 2>/dev/null | awk '
    /status:/ { locked = ($2 == "lock") }
    /nodename:/ { name = $2 }
    END { if (locked) print name }'
}
check "the lock is free" test -z "$(holder)"

# ---- two nodes, each an lrmd in its own UTS, PID and mount namespaces ----
# write_sandbox NODE: the script bound at $SFEX_DAEMON in NODE's mount namespace (see the top).
# The agent runs it as "$SFEX_DAEMON" ARGS...; it never execs the real daemon unless /proc is the
# private tmpfs and sysrq-trigger there is the node's plain file, so the host is never rebooted.
write_sandbox() {
  local d=$dir/$1
  {
    echo '#!/bin/bash'
    printf 'sysrq=%q\n' "$d/sysrq"
    # cluster-glue's logging, which sfex_daemon inherits: a file (else /dev/log, or the console).
    printf 'export HA_logfile=%q HA_logfacility=none\n' "$d/log/sfex_daemon.log"
    cat <<'SANDBOX'
# Debian's sfex_daemon with a /proc of its own whose sysrq-trigger is this node's plain file.
exec unshare --mount --propagation private /bin/bash -c '
  sysrq=$1 daemon=$2
  shift 2
  umount "$daemon" || exit 1  # this script is gone: the real binary is back at its path
  mount -t tmpfs -o size=16k,mode=755 sfex-proc /proc || exit 1
  : >/proc/sysrq-trigger && mount --bind "$sysrq" /proc/sysrq-trigger || exit 1
  [ "$(stat -f -c %T /proc)" = tmpfs ] && [ /proc/sysrq-trigger -ef "$sysrq" ] || exit 1
  exec "$daemon" "$@"' sfex-sandbox "$sysrq" "$0" "$@"
SANDBOX
  } >"$d/sfex_daemon"
  chmod 755 "$d/sfex_daemon"
}
start_node() {
  local n=$1 host=$2 d=$dir/$1
  mkdir -p "$d/state" "$d/run" "$d/log"
  : >"$d/sysrq"
  write_sandbox "$n"
  cat >"$d/corosync.conf" <<CONF
totem {
    version: 2
    cluster_name: sfex
    nodeid: 1
}
nodelist {
    node {
        nodeid: 1
        name: $host
        ring0_addr: 127.0.0.1
    }
}
logging {
    to_syslog: no
    to_stderr: no
    to_logfile: yes
    logfile: $d/log/cluster.log
}
system {
    state_dir: $d/state
    run_dir: $d/run
}
CONF
  # Both binds must succeed, or lrmd never runs (and so neither does any sfex_daemon).
  OCF_ROOT=$dir/ocf unshare --uts --pid --mount --propagation private --fork --kill-child \
    --mount-proc sh -c '
    hostname "$1" || exit 1
    if [ -e /proc/sysrq-trigger ]; then mount --bind "$2" /proc/sysrq-trigger || exit 1; fi
    mount --bind "$3" "$4" || exit 1
    exec "$5" -c "$6"' sfex-node "$host" "$d/sysrq" "$d/sfex_daemon" "$SFEX_DAEMON" \
    "$HA_BIN_DIR/lrmd" "$d/corosync.conf" </dev/null >"$d/log/lrmd.out" 2>&1 &
  node_pid[$n]=$!
  wait_for 10 eval '"$CR" --run-dir "$d/run" --list-standards >/dev/null 2>&1'
}
HOST_A=sfex-a-$$
HOST_B=sfex-b-$$
check "node A's lrmd starts in its namespaces (host name $HOST_A)" start_node A "$HOST_A"
check "node B's lrmd starts in its namespaces (host name $HOST_B)" start_node B "$HOST_B"

# sfex NODE ACTION [ARGS...]: crm_resource --force-ACTION of the sfex resource "shared-lock" on
# NODE's lrmd; sets $rc and $out. lock_timeout 5 s with renewals every second: a refused start
# waits 5 s (lock_timeout) and sees the holder's count move.
sfex() {
  local n=$1 action=$2
  shift 2
  out=$("$CR" --run-dir "$dir/$n/run" "--force-$action" --class ocf --provider heartbeat \
    --agent sfex -r shared-lock -T 40s --option "device=$loopdev" --option index=1 \
    --option collision_timeout=1 --option monitor_interval=1 --option lock_timeout=5 "$@" 2>&1)
  rc=$?
}

out=$("$CR" --run-dir "$dir/A/run" --show-metadata ocf:heartbeat:sfex 2>&1)
check "lrmd shows sfex's meta-data (device, index, lock_timeout)" \
  eval 'grep -q "<resource-agent name=\"sfex\"" <<<"$out" && grep -q "parameter name=\"lock_timeout\"" <<<"$out"'
out=$("$CR" --run-dir "$dir/A/run" --validate --class ocf --provider heartbeat --agent sfex \
  --option "device=$loopdev" 2>&1)
check "validate-all with the loop device: 0" test $? = 0

# ---- A takes the lock ----
sfex A start
check "A: start -> 0" test "$rc" = 0
check "the lock is held by A ($HOST_A)" test "$(holder)" = "$HOST_A"
sfex A check
check "A: monitor -> 0" test "$rc" = 0
sfex B check
check "B: monitor -> 7 (B runs no sfex_daemon of its own)" test "$rc" = 7

# ---- B is refused while A renews the lock ----
sfex B start
check "B: start -> 1, refused while A holds the lock" test "$rc" = 1
check "B's sfex_daemon ran and saw the lock taken (its log)" \
  grep -q "can't acquire lock: the lock's already hold by some other node" "$dir/B/log/sfex_daemon.log"
sfex B check
check "B: monitor -> 7" test "$rc" = 7
check "the lock is still held by A" test "$(holder)" = "$HOST_A"
sfex A check
check "A: monitor -> 0, A still holds it" test "$rc" = 0

# ---- A lets go, B takes it ----
sfex A stop
check "A: stop -> 0" test "$rc" = 0
check "the lock is released" test -z "$(holder)"
sfex A check
check "A: monitor -> 7" test "$rc" = 7
sfex B start
check "B: start -> 0 once A has stopped" test "$rc" = 0
check "the lock is held by B ($HOST_B)" test "$(holder)" = "$HOST_B"
sfex B check
check "B: monitor -> 0" test "$rc" = 0
sfex B stop
check "B: stop -> 0" test "$rc" = 0
check "the lock is free" test -z "$(holder)"
check "no sfex_daemon asked for a reboot (nothing written to either node's sysrq trigger)" \
  eval '[ ! -s "$dir/A/sysrq" ] && [ ! -s "$dir/B/sysrq" ]'

# ---- A's lock is taken from under it: A's sfex_daemon reboots A (into A's plain file) ----
sfex A start
check "A: start -> 0 again" test "$rc" = 0
check "the lock is held by A again" test "$(holder)" = "$HOST_A"
# sfex_init rewrites the disk with the lock free; A's daemon finds that at its next check (every
# second), writes "b" into its trigger and exits. Should the daemon's renewal land between
# sfex_init's read and write (a few microseconds in a second), it is simply done again.
take_lock_from_A() {
  local try
  for try in 1 2 3; do
    sfex_init -n 1 "$loopdev" >/dev/null 2>&1 || return 1
    wait_for 5 eval 'sfex A check; [ "$rc" = 7 ]' && return 0
  done
  return 1
}
check "sfex_init frees the lock under A: A's sfex_daemon exits (A: monitor -> 7)" take_lock_from_A
check "A's sfex_daemon asked for a reboot: \"b\" is in A's sandboxed sysrq trigger" \
  test "$(cat "$dir/A/sysrq")" = b
check "and says so in its log" grep -q "Force reboot" "$dir/A/log/sfex_daemon.log"
check "nothing is in B's" test ! -s "$dir/B/sysrq"
sfex A stop
check "A: stop -> 0 (nothing left to stop)" test "$rc" = 0
check "the lock is free at the end" test -z "$(holder)"

stop_node A
stop_node B
dev=$loopdev
losetup -d "$loopdev" && loopdev=""
check "the loop device is detached" eval '! losetup "$dev" >/dev/null 2>&1'
finish
