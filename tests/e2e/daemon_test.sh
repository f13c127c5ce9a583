#!/usr/bin/env bash
# What every daemon does the same way, on real processes: -t checks a configuration, debug logging
# switches at run time (SIGUSR1 and hactl), the flight recorder is written on request (SIGUSR2,
# hactl dump) and on a crash and read back by hactl, and a second instance refuses to start.
source "$(dirname "$0")/lib.sh"

bad="$HA_LOCAL_ROOT/bad.conf"
mkdir -p "$HA_LOCAL_ROOT"
printf 'totem {\n    version: 2\n    token: fast\n}\nnodelist {\n    node {\n        nodeid: 1\n        ring0_addr: 127.0.0.1\n    }\n}\n' > "$bad"
out=$("$HA_BIN_DIR/membershipd" -t -c "$bad" 2>&1); rc=$?
check "membershipd -t refuses a bad configuration with exit 78" test "$rc" = 78
check "the error names file:line:column and what is wrong" \
  test "$out" = "membershipd: $bad:3:12: bad value 'fast' for 'token': expected a whole number of milliseconds"
out=$("$HA_BIN_DIR/membershipd" -t -c "$HA_LOCAL_ROOT/missing.conf" 2>&1); rc=$?
check "a missing configuration file is named" grep -q "cannot read $HA_LOCAL_ROOT/missing.conf" <<<"$out"

"$LC" up 1 >/dev/null || { not_ok "node 1 starts"; finish; exit 1; }
health() { "$LC" exec 1 hactl health "$1"; }

pid=$(daemon_field 1 lrmd pid)
kill -USR1 "$pid"
check "SIGUSR1 switches all debug logging on" wait_for 5 eval 'health lrmd | grep -q "\[debug: \*\]"'
kill -USR1 "$pid"
check "SIGUSR1 again switches it back off" wait_for 5 eval '! health lrmd | grep -q "\[debug:"'
check "hactl debug switches one subsystem on" grep -q "debug on for: ipc" <("$LC" exec 1 hactl debug lrmd on ipc)
check "hactl debug off switches it off" grep -q "debug on for: nothing" <("$LC" exec 1 hactl debug lrmd off ipc)

bb="$("$LC" path 1)/state/blackbox"
kill -USR2 "$pid"
check "SIGUSR2 writes the flight recorder" wait_for 5 eval "ls $bb/lrmd-$pid-*.bb >/dev/null 2>&1"
dump=$("$LC" exec 1 hactl dump cibd)
check "hactl dump writes the flight recorder and names the file" test -s "$dump"
check "hactl blackbox reads it back, debug lines included" \
  grep -q "serving . socket=.*cibd.sock" <("$LC" exec 1 hactl blackbox "$dump")

# A crash writes the flight recorder, then the supervisor respawns the daemon.
spid=$(daemon_field 1 stonithd pid)
kill -SEGV "$spid"
check "a crash (SIGSEGV) writes the flight recorder" wait_for 5 test -s "$bb/stonithd-$spid-crash.bb"
check "the crash dump is readable" grep -q "stonithd" <("$LC" exec 1 hactl blackbox "$bb/stonithd-$spid-crash.bb")
check "the crashed daemon is respawned" wait_for 10 eval '[ "$(daemon_field 1 stonithd state)" = running ] && [ "$(daemon_field 1 stonithd pid)" != '"$spid"' ]'

# A second instance on the same node refuses to start, with "fatal: do not respawn".
out=$("$HA_BIN_DIR/cibd" -c "$("$LC" path 1)/corosync.conf" 2>&1); rc=$?
check "a second cibd exits 100" test "$rc" = 100
check "and says why" grep -q "another process is already serving on" <<<"$out"
check "the first cibd still serves" grep -q "cibd: serving" <(health cibd)

# HA_DEBUG names a daemon (all its subsystems) or subsystems, from the start.
"$LC" stop 1 >/dev/null
HA_DEBUG=cibd,totem "$LC" start 1 >/dev/null
check "HA_DEBUG=cibd switches all of cibd's debug logging on" grep -q "\[debug: \*\]" <(health cibd)
check "HA_DEBUG=...,totem switches that subsystem on in the others" grep -q "\[debug: .*totem" <(health lrmd)
finish
