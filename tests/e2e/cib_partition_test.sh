#!/usr/bin/env bash
# CIB replication across a real network partition (issue 5): three nodes on 127.0.0.1-3 through
# tools/ha-localcluster; nftables drops the ring's datagrams between node 3 and nodes 1, 2, so
# the ring splits into {1,2} (quorate) and {3} (no quorum).
#   1. the default rule: a write on node 3 is refused (106, "no quorum"), a write on node 1
#      reaches node 2; healed, the three copies are identical and node 3 has node 1's change
#   2. with no-quorum-policy=ignore in crm_config, both sides write (node 3 twice, node 1 once);
#      healed, the newer copy (node 3's, by epoch) wins everywhere and the merge is logged
#   3. the same with one write on each side (equal versions): the digest two members hold wins
# Firewall rules live only in an nft table of this run, match only this run's UDP port, and are
# removed on exit. Without root or nft the test is skipped (exit 0, "SKIP").
# d1, d3, before: read in the strings that `check ... eval` runs.
# shellcheck disable=SC2034
source "$(dirname "$0")/lib.sh"

cib_at() { "$LC" exec "$1" cibadmin "${@:2}"; }
health() { "$LC" exec "$1" hactl health cibd 2>/dev/null; }
# synced NODE MEMBERS [quorate|without]: the node's cibd holds its group's copy.
synced() { health "$1" | grep -q "synced, $2 member(s)${3:+, $3}"; }
all_synced() { synced 1 3 && synced 2 3 && synced 3 3; }
split() { synced 1 2 quorate && synced 2 2 quorate && synced 3 1 without; }
digest() { cib_at "$1" --md5-sum -l 2>/dev/null; }
same_digest() {
  local first n
  first=$(digest "$1")
  [ -n "$first" ] || return 1
  for n in "${@:2}"; do [ "$(digest "$n")" = "$first" ] || return 1; done
}
# body NODE: the local copy without each node's own cib-last-written.
body() { cib_at "$1" -Q -l | sed 's/ cib-last-written="[^"]*"//'; }
same_body() { [ "$(body 1)" = "$(body 2)" ] && [ "$(body 2)" = "$(body 3)" ]; }
has() { cib_at "$1" -Q -l -A "//primitive[@id=\"$2\"]" >/dev/null 2>&1; }
primitive() { echo "<primitive id=\"$1\" class=\"ocf\" provider=\"pacemaker\" type=\"Dummy\"/>"; }
create() { cib_at "$1" -C -o resources -X "$(primitive "$2")"; }
log_of() { cat "$("$LC" path "$1")/log/cluster.log"; }
merges() { log_of "$1" | grep -c "CIB copies differed in the group; kept the newest"; }

if ! fw_setup; then
  echo "SKIP: cib partitions: $fw_why"
  finish
  exit 0
fi

"$LC" up 3 >/dev/null || { not_ok "three nodes start"; finish; exit 1; }
check "three nodes start and their cibds join one CIB group" wait_for 20 all_synced

# 1. The default rule: no writes without quorum.
partition
check "partitioned {1,2}|{3}: 1 and 2 quorate, 3 alone without quorum" wait_for 15 split
err=$(create 3 minority 2>&1 >/dev/null)
rc=$?
check "a write on node 3 is refused (106)" test "$rc" = 106
check "with a clear error" eval 'echo "$err" | grep -qi "no quorum"'
echo "# cibadmin on node 3: $(echo "$err" | tr '\n' ' ')"
check "a write on node 1 succeeds" create 1 majority
check "and reaches node 2" wait_for 5 eval 'has 2 majority && same_digest 1 2'
heal
check "healed: the three cibds form one group again" wait_for 20 all_synced
check "the three copies have the same digest" wait_for 5 same_digest 1 2 3
check "and the same document" same_body
check "node 3 has the majority's change and not its refused one" \
  eval 'has 3 majority && ! has 3 minority'

# 2. no-quorum-policy=ignore: both sides write; the newer copy wins.
check "no-quorum-policy=ignore is set (quorate)" cib_at 1 -C -o crm_config -X \
  '<cluster_property_set id="nq"><nvpair id="nq-p" name="no-quorum-policy" value="ignore"/></cluster_property_set>'
check "and replicated" wait_for 5 same_digest 1 2 3
before=$(merges 1)
partition
check "partitioned again" wait_for 15 split
check "node 3 without quorum now writes" eval 'create 3 side-b1 && create 3 side-b2'
check "node 1 writes too" create 1 side-a
wait_for 5 same_digest 1 2 >/dev/null
d3=$(digest 3)
heal
check "healed: one group again" wait_for 20 all_synced
check "every node ends identical" eval 'wait_for 5 same_digest 1 2 3 && same_body'
check "node 3's copy won (two writes after the split: the higher epoch)" \
  eval '[ "$(digest 1)" = "$d3" ] && has 1 side-b2 && has 2 side-b1 && ! has 2 side-a'
check "the merge is logged" wait_for 5 eval '[ "$(merges 1)" -gt "$before" ]'
line=$(log_of 1 | grep "CIB copies differed in the group; kept the newest" | tail -n 1)
echo "# node 1's log: $line"

# 3. Equal versions on both sides: the digest most members hold wins.
before=$(merges 3)
partition
check "partitioned a third time" wait_for 15 split
check "one write on each side" eval 'create 3 side-d && create 2 side-c'
wait_for 5 same_digest 1 2 >/dev/null
d1=$(digest 1)
heal
check "healed: one group again" wait_for 20 all_synced
check "every node ends identical" eval 'wait_for 5 same_digest 1 2 3 && same_body'
check "the majority's copy won (same version, the digest two members hold)" \
  eval '[ "$(digest 3)" = "$d1" ] && has 3 side-c && ! has 3 side-d'
check "the merge is logged on node 3" wait_for 5 eval '[ "$(merges 3)" -gt "$before" ]'

fw_remove
check "the nft table is gone" eval '! nft list table inet "$NFT_TABLE" >/dev/null 2>&1'
finish
