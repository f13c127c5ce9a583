#!/usr/bin/env bash
# cibadmin and crm_simulate -L against a real cibd (issue 5): a 1-node local cluster; loads a
# Pacemaker CIB with cibadmin -R, creates, modifies, queries (scope, XPath, node paths), deletes,
# bumps, checks the version rules, Pacemaker's exit codes, ACLs through -U, the digest, and that
# the CIB survives cibd being killed (the supervisor respawns it).
source "$(dirname "$0")/lib.sh"

CASE="$HA_SOURCE_DIR/../shared/scheduler-cases/xml/1484.xml"
out=""
err=""
rc=0
# cib ARGS...: runs cibadmin against node 1; sets $out, $err and $rc.
cib() {
  out=$("$LC" exec 1 cibadmin "$@" 2>"$HA_LOCAL_ROOT/err"); rc=$?
  err=$(cat "$HA_LOCAL_ROOT/err")
}
# epoch: the epoch of the current CIB.
epoch() { "$LC" exec 1 cibadmin -Q -l | sed -n '1s/.* epoch="\([0-9]*\)".*/\1/p'; }

mkdir -p "$HA_LOCAL_ROOT"
out=$("$HA_BIN_DIR/cibadmin" --run-dir "$HA_LOCAL_ROOT/none" -Q 2>&1); rc=$?
check "cibd not running: exit 102 (not connected)" test "$rc" = 102
out=$("$HA_BIN_DIR/cibadmin" 2>&1); rc=$?
check "no command: exit 64" test "$rc" = 64

"$LC" up 1 >/dev/null || { not_ok "node 1 starts"; finish; exit 1; }
ok "node 1 starts"

cib -Q
check "a first start serves the empty CIB at 0.0.0" \
  eval '[ "$rc" = 0 ] && contains "admin_epoch=\"0\" epoch=\"0\" num_updates=\"0\"" "$out" && contains "<resources/>" "$out"'


cib -R -x "$CASE"
check "cibadmin -R loads a Pacemaker CIB" test "$rc" = 0
check "the replaced CIB keeps its (newer) version" test "$(epoch)" = 535
check "and is saved to state/cib/cib.xml" test -s "$("$LC" path 1)/state/cib/cib.xml"

cib -C -o resources -X '<primitive id="e2e" class="ocf" provider="pacemaker" type="Dummy"/>'
check "-C creates a resource and bumps the epoch" eval '[ "$rc" = 0 ] && [ "$(epoch)" = 536 ]'
cib -C -o resources -X '<primitive id="e2e" class="ocf" provider="pacemaker" type="Dummy"/>'
check "-C of an existing id: exit 108" test "$rc" = 108
cib -M -X '<primitive id="e2e" description="made by the e2e test"/>'
check "-M modifies it and bumps the epoch" eval '[ "$rc" = 0 ] && [ "$(epoch)" = 537 ]'
cib -M -X '<primitive id="nope" description="x"/>'
check "-M of a missing object: exit 105" test "$rc" = 105
cib -Q -A "//primitive[@id='e2e']"
check "-Q -A finds it by XPath with the new attribute" \
  eval '[ "$rc" = 0 ] && contains "description=\"made by the e2e test\"" "$out"'
cib -Q -A "//primitive[@id='e2e']" -e
check "-e prints its path" test "$out" = "/cib/configuration/resources/primitive[@id='e2e']"
cib -Q -o constraints
check "-Q -o constraints prints the section" eval '[ "$rc" = 0 ] && contains "<constraints" "$(head -n 1 <<<"$out")"'
cib -Q -o nonsense
check "-o with an unknown section: exit 64" test "$rc" = 64
cib -Q -A "//primitive[@id='missing']"
check "-Q of a missing XPath: exit 105" test "$rc" = 105
cib -C -o resources -X '<primitive id="broken"'
check "XML that does not parse: exit 65" test "$rc" = 65
cib -C -o resources -x /nonexistent.xml
check "an unreadable XML file: exit 66" test "$rc" = 66
cib -D -X '<primitive id="e2e"/>'
check "-D deletes it" eval '[ "$rc" = 0 ] && [ "$(epoch)" = 538 ]'
cib -Q -A "//primitive[@id='e2e']"
check "and it is gone (105)" test "$rc" = 105
cib -B
check "-B bumps the epoch" eval '[ "$rc" = 0 ] && [ "$(epoch)" = 539 ]'
cib -E
check "-E without --force: exit 107 and Pacemaker's warning" \
  eval '[ "$rc" = 107 ] && contains "the --force flag is required" "$err"'
cib -R -x "$CASE"
check "-R of an older whole CIB: exit 103 (older than the CIB)" test "$rc" = 103
cib -M -l -X '<primitive id="x"/>'
check "--local writes are refused (64)" test "$rc" = 64

"$LC" exec 1 cibadmin -Q >"$HA_LOCAL_ROOT/current.xml"
cib --md5-sum
live_sum=$out
cib --md5-sum -x "$HA_LOCAL_ROOT/current.xml"
check "--md5-sum of the live CIB equals that of its query output" \
  eval '[ -n "$live_sum" ] && [ "$live_sum" = "$out" ]'

out=$("$LC" exec 1 crm_simulate -L -S 2>&1); rc=$?
check "crm_simulate -L reads the live CIB through cibd" \
  eval '[ "$rc" = 0 ] && contains "Current cluster status" "$out"'

# ACLs: on, with nobody allowed anything; root acting as another user is checked as that user.
cib -M -c -o crm_config -X '<cluster_property_set id="cib-bootstrap-options"><nvpair id="e2e-acl" name="enable-acl" value="true"/></cluster_property_set>'
check "enable-acl set" test "$rc" = 0
cib -Q -U nosuchuser
check "-U of a user without ACLs: exit 4 (insufficient privileges)" test "$rc" = 4
cib -C -o resources -U nosuchuser -X '<primitive id="acl" class="ocf" provider="pacemaker" type="Dummy"/>'
check "and a write as that user is refused with 4" test "$rc" = 4
cib -Q -U hacluster
check "-U hacluster bypasses ACLs" test "$rc" = 0

# Restart: cibd killed, respawned by the supervisor, serves the same CIB.
before_sum=$live_sum
cib --md5-sum
before_sum=$out
before_epoch=$(epoch)
old=$(daemon_field 1 cibd pid)
kill -KILL "$old"
check "cibd is respawned after SIGKILL" \
  wait_for 15 eval 'p=$(daemon_field 1 cibd pid); [ -n "$p" ] && [ "$p" != "$old" ] && "$LC" exec 1 cibadmin -Q -l >/dev/null 2>&1'
cib --md5-sum
check "the CIB survived: same digest and epoch" \
  eval '[ "$out" = "$before_sum" ] && [ "$(epoch)" = "$before_epoch" ]'

# A large CIB (2,000 resources with their status, above gRPC's default 4 MiB) passes the local
# API both ways.
big=$HA_LOCAL_ROOT/big.xml
python3 "$HA_SOURCE_DIR/bench/gen_large_cib.py" --nodes 4 --resources 2000 "$big.in" >/dev/null
sed '0,/ epoch="[0-9]*"/s// epoch="100000"/' "$big.in" > "$big"
cib -R -x "$big"
check "a CIB of $(($(stat -c %s "$big") / 1024)) KiB loads with -R" test "$rc" = 0
cib -Q
check "and comes back whole with -Q" eval '[ "$rc" = 0 ] && [ "${#out}" -gt 1000000 ]'
finish
