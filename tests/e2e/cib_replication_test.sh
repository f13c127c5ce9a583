#!/usr/bin/env bash
# CIB replication with real processes (issue 5): three nodes on 127.0.0.1-3 through
# tools/ha-localcluster, each cibd in the process group "cib" of its membershipd.
#   1. writes from all three nodes at once (creates and racing modifies of one nvpair) all
#      succeed, and the three local copies end identical (--md5-sum -l, the document itself)
#   2. a stopped node misses a write; restarted, it is brought forward
#   3. a node restarted with an older CIB on disk (put back while it was stopped) catches up
#   4. a restarted membershipd: cibd refuses writes meanwhile (102), rejoins, writes again
#   5. a node alone has no quorum: configuration writes are refused (106) unless forced; its
#      forced copy with a newer admin_epoch wins when the other two come back
source "$(dirname "$0")/lib.sh"

cib_at() { "$LC" exec "$1" cibadmin "${@:2}"; }
# synced NODE MEMBERS: the node's cibd has joined the group and holds its copy.
synced() { "$LC" exec "$1" hactl health cibd 2>/dev/null | grep -q "synced, $2 member(s)"; }
all_synced() {
  local n
  for n in "$@"; do synced "$n" "$#" || return 1; done
}
digest() { cib_at "$1" --md5-sum -l 2>/dev/null; }
# same_digest NODE...: every node's local copy has the same digest.
same_digest() {
  local first n
  first=$(digest "$1")
  [ -n "$first" ] || return 1
  for n in "${@:2}"; do [ "$(digest "$n")" = "$first" ] || return 1; done
}
# body NODE: the local copy without each node's own cib-last-written.
body() { cib_at "$1" -Q -l | sed 's/ cib-last-written="[^"]*"//'; }
count() { cib_at "$1" -Q -l | grep -c "$2"; }
header() { cib_at "$1" -Q -l | head -n 1; }
primitive() {
  echo "<primitive id=\"$1\" class=\"ocf\" provider=\"pacemaker\" type=\"Dummy\"/>"
}
cibdir() { echo "$("$LC" path "$1")/state/cib"; }

"$LC" up 3 >/dev/null || { not_ok "three nodes start"; finish; exit 1; }
check "three nodes start and their cibds join one CIB group" wait_for 15 all_synced 1 2 3

# 1. Concurrent writes.
cib_at 1 -C -o crm_config \
  -X '<cluster_property_set id="e2e"><nvpair id="e2e-x" name="x" value="0"/></cluster_property_set>'
errors="$HA_LOCAL_ROOT/errors"
: >"$errors"
for n in 1 2 3; do
  (
    for k in $(seq 1 8); do
      cib_at "$n" -C -o resources -X "$(primitive "r$n-$k")" || echo "create $n $k" >>"$errors"
      cib_at "$n" -M -X "<nvpair id=\"e2e-x\" name=\"x\" value=\"$n-$k\"/>" ||
        echo "modify $n $k" >>"$errors"
    done
  ) &
done
wait
check "48 concurrent writes from three nodes all succeed" test ! -s "$errors"
check "the three copies have the same digest" wait_for 5 same_digest 1 2 3
check "and the same document" eval '[ "$(body 1)" = "$(body 2)" ] && [ "$(body 2)" = "$(body 3)" ]'
check "holding all 24 resources" eval '[ "$(count 1 "<primitive")" = 24 ] && [ "$(count 3 "<primitive")" = 24 ]'
check "at epoch 49 (one per write)" eval 'header 2 | grep -q " epoch=\"49\""'

# 2. A stopped node is brought forward.
"$LC" stop 3 >/dev/null
old="$HA_LOCAL_ROOT/old-cib"
cp -a "$(cibdir 3)" "$old"
check "with node 3 stopped, node 1 still writes (quorate)" cib_at 1 -C -o resources -X "$(primitive missed)"
"$LC" start 3 >/dev/null
check "node 3 restarted rejoins" wait_for 15 all_synced 1 2 3
check "and is brought forward to the write it missed" \
  eval 'same_digest 1 2 3 && cib_at 3 -Q -l -A "//primitive[@id=\"missed\"]" >/dev/null'

# 3. A node restarted with an older CIB catches up.
cib_at 2 -C -o resources -X "$(primitive later)" >/dev/null
"$LC" stop 3 >/dev/null
rm -rf "$(cibdir 3)"
cp -a "$old" "$(cibdir 3)"
"$LC" start 3 >/dev/null
check "node 3 restarted with its older CIB rejoins" wait_for 15 all_synced 1 2 3
check "and catches up" eval 'same_digest 1 2 3 && [ "$(count 3 "<primitive")" = 26 ]'

# 4. membershipd restarts under cibd.
mpid=$("$LC" exec 2 hactl health membershipd | sed -n 's/.*pid \([0-9]*\),.*/\1/p')
kill -KILL "$mpid"
sleep 0.2
cib_at 2 -C -o resources -X "$(primitive early)" >/dev/null 2>&1
rc=$?
check "while node 2's membershipd is down, its cibd refuses writes (102)" test "$rc" = 102
check "node 2's cibd rejoins once membershipd is back" wait_for 15 all_synced 1 2 3
check "and writes again" cib_at 2 -C -o resources -X "$(primitive rejoined)"
check "the copies agree" wait_for 5 same_digest 1 2 3

# 5. No quorum alone; a newer admin_epoch wins.
"$LC" stop 1 >/dev/null
"$LC" stop 2 >/dev/null
wait_for 10 synced 3 1
cib_at 3 -C -o resources -X "$(primitive alone)" >/dev/null 2>&1
rc=$?
check "node 3 alone has no quorum: a configuration write is refused (106)" test "$rc" = 106
cib_at 3 -Q -l | sed '1s/admin_epoch="0"/admin_epoch="1"/' >"$HA_LOCAL_ROOT/newer.xml"
check "it is applied with --force (a whole CIB with admin_epoch 1)" \
  cib_at 3 -R --force -x "$HA_LOCAL_ROOT/newer.xml"
"$LC" start 1 >/dev/null
"$LC" start 2 >/dev/null
check "nodes 1 and 2 come back" wait_for 20 all_synced 1 2 3
check "and take node 3's newer copy" \
  eval 'same_digest 1 2 3 && header 1 | grep -q "admin_epoch=\"1\""'

finish
