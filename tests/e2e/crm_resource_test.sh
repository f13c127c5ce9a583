#!/usr/bin/env bash
# crm_resource against a real lrmd started on its own (no supervisor) on a private run folder, with
# an OCF root of its own: Debian's heartbeat and pacemaker agents and the repository's test agents
# (lrmd/testdata/agents/ha-test). Lists standards, providers, agents and meta-data; runs
# start/monitor/stop/validate of ocf:heartbeat:Dummy by hand; checks the wording and exit codes
# (Pacemaker's), and the clear error when lrmd is not running.
source "$(dirname "$0")/lib.sh"

CR="$HA_BIN_DIR/crm_resource"
dir=$HA_LOCAL_ROOT/lrmd-node
mkdir -p "$dir/state" "$dir/run" "$dir/log" "$dir/ocf/resource.d"
for p in heartbeat pacemaker; do
  ln -s "/usr/lib/ocf/resource.d/$p" "$dir/ocf/resource.d/$p"
done
# A copy, not a link: meta-data runs as the cluster user, who may not reach into the source tree.
cp -r "$HA_SOURCE_DIR/lrmd/testdata/agents/ha-test" "$dir/ocf/resource.d/ha-test"
ln -s /usr/lib/ocf/lib "$dir/ocf/lib"
# The OCF root must be reachable by the cluster user, as /usr/lib/ocf is (mktemp made this 0700).
chmod 711 "$HA_LOCAL_ROOT"
conf=$dir/corosync.conf
one_node_config "$dir" crmrsc
export HA_CONFIG=$conf
state=$dir/dummy.state
dummy=(--class ocf --provider heartbeat --agent Dummy --option "state=$state")

lrmd_pid=""
stop_lrmd() {
  if [ -n "$lrmd_pid" ]; then
    kill -TERM "$lrmd_pid" 2>/dev/null
    wait "$lrmd_pid" 2>/dev/null
    lrmd_pid=""
  fi
}
on_exit() {
  stop_lrmd
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

# ---- lrmd not running ----
run --list-standards
check "lrmd down: exit 102 (not connected)" test "$rc" = 102
check "lrmd down: says so and names the socket" \
  contains "Could not connect to lrmd: no socket at $dir/run/lrmd.sock (is lrmd running?)" "$err"
check "lrmd down: Pacemaker's closing line" contains "Error performing operation: Not connected" "$err"
run --force-start "${dummy[@]}"
check "lrmd down: --force-start exits 102 too, without a stack trace" \
  eval '[ "$rc" = 102 ] && [ "$(wc -l <<<"$err")" -eq 2 ]'

# ---- command-line errors (no lrmd needed) ----
run
check "no command: exit 64" eval '[ "$rc" = 64 ] && contains "no command given" "$err"'
run --force-start --agent Dummy
check "--force-start without --class: exit 64" \
  eval '[ "$rc" = 64 ] && contains "needs --class and --agent" "$err"'
run --force-start -r db
check "-r alone: exit 64, there is no CIB to look it up in" \
  eval '[ "$rc" = 64 ] && contains "there is no CIB yet" "$err"'
run --force-start --class ocf --agent Dummy
check "class ocf without --provider: exit 64" eval '[ "$rc" = 64 ]'
run --force-start "${dummy[@]}" --option nonsense
check "--option without '=': exit 64" eval '[ "$rc" = 64 ] && contains "NAME=VALUE" "$err"'
run --list-standards --list-ocf-providers
check "two commands: exit 64" eval '[ "$rc" = 64 ]'
run --force-start "${dummy[@]}" -T soon
check "a bad --timeout: exit 64" eval '[ "$rc" = 64 ]'
run --help
check "--help says that parameters are passed directly (no CIB yet)" \
  eval '[ "$rc" = 0 ] && contains "There is no CIB yet" "$out" && contains "--force-check" "$out"'

# ---- start lrmd ----
OCF_ROOT=$dir/ocf "$HA_BIN_DIR/lrmd" -c "$conf" </dev/null >"$dir/log/lrmd.out" 2>&1 &
lrmd_pid=$!
if ! wait_for 10 eval '"$CR" --list-standards >/dev/null 2>&1'; then
  not_ok "lrmd starts and answers"
  finish
  exit 1
fi
ok "lrmd starts and answers"

# ---- listing ----
run --list-standards
check "--list-standards lists ocf, lsb and service" \
  eval '[ "$rc" = 0 ] && has ocf "$out" && has lsb "$out" && has service "$out"'
run --list-ocf-providers
check "--list-ocf-providers lists heartbeat, pacemaker and ha-test" \
  eval '[ "$rc" = 0 ] && [ "$(xargs <<<"$out")" = "ha-test heartbeat pacemaker" ]'
run --list-ocf-alternatives Dummy
check "--list-ocf-alternatives Dummy: heartbeat and pacemaker" \
  eval '[ "$rc" = 0 ] && [ "$(xargs <<<"$out")" = "heartbeat pacemaker" ]'
run --list-ocf-alternatives NoSuchAgent
check "--list-ocf-alternatives of an unknown agent: exit 105" \
  eval '[ "$rc" = 105 ] && contains "No OCF providers found for NoSuchAgent" "$err"'
run --list-agents ocf:heartbeat
check "--list-agents ocf:heartbeat has Dummy and IPaddr2" \
  eval '[ "$rc" = 0 ] && has Dummy "$out" && has IPaddr2 "$out"'
run --list-agents ocf:pacemaker
check "--list-agents ocf:pacemaker has Dummy and Stateful" \
  eval '[ "$rc" = 0 ] && has Dummy "$out" && has Stateful "$out"'
run --list-agents ocf
check "--list-agents ocf has Dummy from both providers" \
  eval '[ "$rc" = 0 ] && [ "$(grep -cx Dummy <<<"$out")" = 2 ] && has NeedsParam "$out"'
run --list-agents bogus
check "--list-agents of an unknown standard: exit 1 and Pacemaker's words" \
  eval '[ "$rc" = 1 ] && contains "No agents found for standard '"'bogus'"'" "$err"'
run --list-agents ocf:nobody
check "--list-agents of an unknown provider: exit 1" \
  eval '[ "$rc" = 1 ] && contains "No agents found for standard '"'ocf'"' and provider '"'nobody'"'" "$err"'

run --show-metadata ocf:heartbeat:Dummy
check "--show-metadata ocf:heartbeat:Dummy prints its XML" \
  eval '[ "$rc" = 0 ] && contains "<resource-agent name=\"Dummy\"" "$out" && contains "</resource-agent>" "$out"'
run --show-metadata ocf:pacemaker:Dummy
check "--show-metadata ocf:pacemaker:Dummy prints its XML" \
  eval '[ "$rc" = 0 ] && contains "<resource-agent" "$out"'
run --show-metadata ocf:ha-test:WhoAmI
who=$(sed -n 's:.*<shortdesc lang="en">\(uid=[^<]*\)</shortdesc>.*:\1:p' <<<"$out")
check "meta-data runs as the cluster user, not root ($who)" \
  eval '[ "$rc" = 0 ] && [[ "$who" == uid=* ]] && [[ "$who" != uid=0\ * ]]'
if id hacluster >/dev/null 2>&1; then
  check "the cluster user is hacluster, without supplementary groups" \
    test "$who" = "uid=$(id -u hacluster) gid=$(id -g hacluster) groups=$(id -g hacluster)"
fi
run --force-start --class ocf --provider ha-test --agent WhoAmI --option "file=$dir/who"
check "start runs as root" eval '[ "$rc" = 0 ] && grep -q "^uid=0 gid=0 " "$dir/who"'
run --show-metadata ocf:heartbeat:NoSuchAgent
check "--show-metadata of a missing agent: exit 105" \
  eval '[ "$rc" = 105 ] && contains "Metadata query for ocf:heartbeat:NoSuchAgent failed" "$err"'
run --show-metadata Dummy
check "--show-metadata of a bad spec: exit 105" \
  eval '[ "$rc" = 105 ] && contains "'"'Dummy'"' is not a valid agent specification" "$err"'

# ---- start / check / stop by hand ----
run --force-start "${dummy[@]}"
check "--force-start Dummy: exit 0" test "$rc" = 0
check "--force-start Dummy: Pacemaker's result line" \
  test "$out" = "Operation force-start (ocf:heartbeat:Dummy) returned 0 (ok)"
check "the agent got the state parameter" test -f "$state"
run --force-check "${dummy[@]}"
check "--force-check of the started Dummy: 0 (ok)" \
  eval '[ "$rc" = 0 ] && [ "$out" = "Operation force-check (ocf:heartbeat:Dummy) returned 0 (ok)" ]'
run --force-check=10 "${dummy[@]}" -Q
check "--force-check=LEVEL -Q: exit 0, nothing printed" eval '[ "$rc" = 0 ] && [ -z "$out" ]'
run --force-stop "${dummy[@]}" -r dummy1
check "--force-stop -r dummy1: exit 0, names the instance" \
  eval '[ "$rc" = 0 ] && [ "$out" = "Operation force-stop for dummy1 (ocf:heartbeat:Dummy) returned 0 (ok)" ]'
check "the state file is gone" test ! -e "$state"
run --force-check "${dummy[@]}"
check "--force-check of the stopped Dummy: exit 7" test "$rc" = 7
check "--force-check: returned 7 (not running)" \
  test "$out" = "Operation force-check (ocf:heartbeat:Dummy) returned 7 (not running)"
check "and Pacemaker's closing line on stderr" \
  contains "Error performing operation: Not running" "$err"
run --force-promote "${dummy[@]}"
check "--force-promote of Dummy (no promote action): exit 3 (unimplemented feature)" \
  eval '[ "$rc" = 3 ] && contains "returned 3 (unimplemented feature)" "$out"'
run --force-start --run-dir "$dir/run" --class ocf --provider pacemaker --agent Stateful \
  --option "state=$dir/stateful.state" -T 30s
check "--force-start ocf:pacemaker:Stateful through --run-dir: 0" test "$rc" = 0
run --force-promote -c "$conf" --class ocf --provider pacemaker --agent Stateful \
  --option "state=$dir/stateful.state"
check "--force-promote Stateful through -c: 0" test "$rc" = 0
run --force-check --class ocf --provider pacemaker --agent Stateful --option "state=$dir/stateful.state"
check "--force-check of the promoted Stateful: 8 (promoted)" \
  eval '[ "$rc" = 8 ] && contains "returned 8 (promoted)" "$out"'
run --force-demote --class ocf --provider pacemaker --agent Stateful --option "state=$dir/stateful.state"
check "--force-demote Stateful: 0" test "$rc" = 0
run --force-stop --class ocf --provider pacemaker --agent Stateful --option "state=$dir/stateful.state"
check "--force-stop Stateful: 0" test "$rc" = 0

# ---- validate ----
run --validate "${dummy[@]}"
check "--validate Dummy: 0" \
  eval '[ "$rc" = 0 ] && [ "$out" = "Operation validate (ocf:heartbeat:Dummy) returned 0 (ok)" ]'
run --validate --class ocf --provider heartbeat --agent IPaddr2
check "--validate IPaddr2 without its required ip: exit 6 with the agent's reason" \
  eval '[ "$rc" = 6 ] && [ "$out" = "Operation validate (ocf:heartbeat:IPaddr2) returned 6 (not configured: IP address (the ip parameter) is mandatory)" ]'
check "validate's agent output is shown only with -V" \
  eval '[ "$(wc -l <<<"$out")" -eq 1 ]'
run --validate --class ocf --provider heartbeat --agent IPaddr2 -V
check "-V shows the agent's output and lrmd's details" \
  eval '[ "$rc" = 6 ] && contains "ocf-exit-reason:" "$out" && contains "lrmd call" "$err"'
run --force-start --class ocf --provider ha-test --agent NeedsParam
check "NeedsParam started without its required parameter: 6 and its exit reason" \
  eval '[ "$rc" = 6 ] && [ "$(head -n 1 <<<"$out")" = "Operation force-start (ocf:ha-test:NeedsParam) returned 6 (not configured: missing parameter file)" ]'
check "the output of a failed --force-* action follows, as in Pacemaker" \
  has "ocf-exitreason:missing parameter file" "$out"
run --force-start --class ocf --provider ha-test --agent NeedsParam --option file=/x
check "NeedsParam with the parameter: 0" test "$rc" = 0
run --validate --class ocf --provider ha-test --agent NeedsParam
check "--validate of an agent without validate-all: 3 (unimplemented feature)" test "$rc" = 3

# ---- agents that are missing, hang, or share a name ----
run --force-start --class ocf --provider heartbeat --agent NoSuchAgent
check "a missing agent: could not be executed (Not installed), exit 5" \
  eval '[ "$rc" = 5 ] && contains "Operation force-start (ocf:heartbeat:NoSuchAgent) could not be executed (Not installed" "$err"'
"$CR" --force-start --class ocf --provider ha-test --agent Hang -r busy -T 3s \
  >"$dir/hang.out" 2>"$dir/hang.err" &
hang=$!
wait_for 5 pgrep -f "$dir/ocf/resource.d/ha-test/Hang start" >/dev/null
run --force-check "${dummy[@]}" -r busy
check "a name lrmd has for another agent is refused: exit 107" \
  eval '[ "$rc" = 107 ] && contains "lrmd manages a resource of that name with ocf:ha-test:Hang" "$err"'
wait "$hang"; hang_rc=$?
check "a hanging agent is killed after -T: could not be executed (Timed out), exit 1" \
  eval '[ "$hang_rc" = 1 ] && grep -qF "Operation force-start for busy (ocf:ha-test:Hang) could not be executed (Timed out" "$dir/hang.err"'
run --force-check "${dummy[@]}" -r busy
check "the name is free again once the hand-run action is over" test "$rc" = 7

# ---- lrmd goes away ----
stop_lrmd
run --force-check "${dummy[@]}"
check "lrmd stopped: exit 102 with a clear message" \
  eval '[ "$rc" = 102 ] && contains "Could not connect to lrmd" "$err"'
finish
