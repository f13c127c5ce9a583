#!/usr/bin/env bash
# The supervisor with the real daemons: start order, respawn of a killed daemon, SIGTERM stopping
# everything in reverse order, and a crash loop stopping the stack.
source "$(dirname "$0")/lib.sh"

extra=$(mktemp)
cat > "$extra" <<'CONF'
supervisor {
    respawn_limit: 2
    respawn_window: 60000
    respawn_backoff_initial: 100
    respawn_backoff_max: 400
}
CONF
export HA_LOCAL_EXTRA_CONFIG=$extra
order="membershipd cibd stonithd lrmd pengine crmd"
reverse="crmd pengine lrmd stonithd cibd membershipd"

# The order in which the node's daemons wrote "<daemon> <word>" lines (started/exiting).
daemon_order() {
  node_log 1 | grep -oE "\[main\] (membershipd|cibd|stonithd|lrmd|pengine|crmd) $1" | awk '{print $2}' | xargs
}
# The order in which the supervisor saw them ready.
ready_order() {
  node_log 1 | grep -oE "\[main\] (membershipd|cibd|stonithd|lrmd|pengine|crmd) \(pid [0-9]+\) is ready" | awk '{print $2}' | xargs
}

"$LC" up 1 >/dev/null || { not_ok "node 1 starts"; finish; exit 1; }
ok "node 1 starts and its stack reaches running"
check "daemons became ready in dependency order" test "$(ready_order)" = "$order"

# A daemon killed with SIGKILL is respawned, alone, and the stack stays running.
old_pid=$(daemon_field 1 cibd pid)
other_pid=$(daemon_field 1 lrmd pid)
kill -KILL "$old_pid"
respawned() { [ "$(daemon_field 1 cibd restarts)" = 1 ] && [ "$(daemon_field 1 cibd state)" = running ]; }
check "a SIGKILLed cibd is respawned and running again" wait_for 10 respawned
new_pid=$(daemon_field 1 cibd pid)
check "the respawned cibd is a new process" test -n "$new_pid" -a "$new_pid" != "$old_pid" -a -d "/proc/$new_pid"
check "the other daemons were left alone" test "$(daemon_field 1 lrmd pid)" = "$other_pid"
check "the status names how cibd ended" test "$(daemon_field 1 cibd last_exit)" = "signal 9 (Killed)"
check "the stack stayed running" test "$(stack_state 1)" = running

# SIGTERM to the supervisor stops every daemon, one at a time, in reverse start order.
sup=$(cat "$("$LC" path 1)/supervisor.pid")
kill -TERM "$sup"
check "the supervisor exits after SIGTERM" wait_for 30 test ! -d "/proc/$sup"
check "every daemon stopped in reverse order" test "$(daemon_order exiting)" = "$reverse"
check "no process of the node is left" test -z "$(pgrep -s "$sup")"
check "the supervisor exited with status 0" grep -q "supervisor exiting | exit_code=0" <(node_log 1)

# A crash loop: past respawn_limit (2 in 60 s) the stack is stopped cleanly, with status 100.
"$LC" start 1 >/dev/null || not_ok "node 1 restarts"
sup=$(cat "$("$LC" path 1)/supervisor.pid")
for round in 1 2; do
  kill -KILL "$(daemon_field 1 pengine pid)"
  wait_for 10 eval '[ "$(daemon_field 1 pengine restarts)" = '"$round"' ] && [ "$(daemon_field 1 pengine state)" = running ]' ||
    not_ok "pengine respawn $round"
done
kill -KILL "$(daemon_field 1 pengine pid)"
check "a third crash within the window stops the stack" wait_for 30 test ! -d "/proc/$sup"
check "the supervisor says why" grep -q "pengine exceeded its respawn limit" <(node_log 1)
check "the supervisor exited with status 100 (fatal, do not respawn)" grep -q "supervisor exiting | exit_code=100" <(node_log 1)
check "no process of the node is left after the crash loop" test -z "$(pgrep -s "$sup")"

rm -f "$extra"
finish
