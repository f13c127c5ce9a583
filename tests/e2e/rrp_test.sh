#!/usr/bin/env bash
# Redundant rings with real processes (issue 4): three nodes through tools/ha-localcluster with two
# rings each (ring 0 on 127.0.0.1-3, ring 1 on 127.0.1.1-3, rrp_mode active), observed with
# ha-cfgtool, ha-quorumtool and the logs. Each scenario ends with a PASS, FAIL or SKIP line:
#   1. both rings active with no faults; per-ring counters are exported
#   2. ring 1's traffic dropped (nftables): ring 1 FAULTY on every node after the threshold, with
#      the log's problem counter lines, and no membership change; restored: back in service
#      automatically                                                              (root, nft)
#   3. automatic recovery off (rrp_autorecovery_check_timeout: 0): ring 1 stays FAULTY after the
#      traffic is restored until `ha-cfgtool -r` on one node re-enables it everywhere (root, nft)
#   4. both rings dropped between node 3 and the others: membership change      (root, nft)
#   5. rrp_mode passive: ring 1 dropped: FAULTY (the token lag), no membership change; restored:
#      back in service automatically                                              (root, nft)
# Firewall rules live only in an nft table of this run, match only this run's UDP port, and are
# removed on exit. Without root or nft, scenarios 2-4 are skipped.
source "$(dirname "$0")/lib.sh"

CFG="$HA_BIN_DIR/ha-cfgtool"
QT="$HA_BIN_DIR/ha-quorumtool"
NFT_TABLE="ha_e2e_rrp_$$$RANDOM"
FIREWALL=""
export HA_LOCAL_RINGS=2 HA_LOCAL_RRP_MODE=active

fw_remove() {
  [ "$FIREWALL" = nft ] && nft delete table inet "$NFT_TABLE" 2> /dev/null
  FIREWALL=""
}
trap 'fw_remove; cleanup' EXIT
trap 'exit 130' INT TERM

now_ms() { date +%s%3N; }
# until_ms BOUND_MS COMMAND...: polls every 50 ms until the command succeeds; sets elapsed_ms.
until_ms() {
  local bound=$1 t0
  shift
  t0=$(now_ms)
  while true; do
    if "$@"; then
      elapsed_ms=$(($(now_ms) - t0))
      return 0
    fi
    elapsed_ms=$(($(now_ms) - t0))
    [ "$elapsed_ms" -gt "$bound" ] && return 1
    sleep 0.05
  done
}
rundir() { echo "$HA_LOCAL_ROOT/node$1/run"; }
logfile() { echo "$HA_LOCAL_ROOT/node$1/log/cluster.log"; }
view_at() {
  "$CFG" --run-dir "$(rundir "$1")" -n 2> /dev/null |
    sed -n 's/^Cluster .*, ring \(.*\), members: \(.*\)$/\1|\2/p'
}
members_at() { view_at "$1" | cut -d'|' -f2; }
sees() { [ "$(members_at "$1")" = "$2" ]; }
all_see() {
  local want=$1 n
  shift
  for n in "$@"; do sees "$n" "$want" || return 1; done
}
# ring_line NODE RING: ha-cfgtool -s's status line of that ring (-s exits 1 when a ring is
# FAULTY: the output is what counts here).
ring_line() {
  local out
  out=$("$CFG" --run-dir "$(rundir "$1")" -s 2> /dev/null)
  echo "$out" | awk -v r="RING ID $2" '$0 == r { getline; getline; sub(/^\tstatus\t= /, ""); print; exit }'
}
ring_faulty() { [[ "$(ring_line "$1" "$2")" == *FAULTY* ]]; }
ring_active() { [[ "$(ring_line "$1" "$2")" == *"active with no faults"* ]]; }
all_faulty() {
  local n
  for n in 1 2 3; do ring_faulty "$n" "$1" || return 1; done
}
all_active() {
  local n r
  for n in 1 2 3; do for r in 0 1; do ring_active "$n" "$r" || return 1; done; done
}
counter() {
  local v
  v=$("$CFG" --run-dir "$(rundir "$1")" -C "$2" 2> /dev/null | sed -n "s/^$2 (u64) = //p")
  echo "${v:-0}"
}
membership_lines() {
  local n total=0 c
  for n in 1 2 3; do
    c=$(grep -c "new membership" "$(logfile "$n")" 2> /dev/null)
    total=$((total + ${c:-0}))
  done
  echo "$total"
}
quorum_exit() {
  "$QT" --run-dir "$(rundir "$1")" -s > /dev/null 2>&1
  echo $?
}
scenario() {
  scen_name=$1
  scen_failed=$failed
  echo "# scenario $scen_name"
}
scenario_end() {
  if [ "$failed" -gt "$scen_failed" ]; then
    echo "FAIL: $scen_name${1:+ ($1)}"
  else
    echo "PASS: $scen_name${1:+ ($1)}"
  fi
}
skip() { echo "SKIP: $1: $2"; }

fw_setup() {
  [ "$(id -u)" = 0 ] || { fw_why="not root"; return 1; }
  command -v nft > /dev/null || { fw_why="no nft"; return 1; }
  nft add table inet "$NFT_TABLE" 2> /dev/null || { fw_why="nft does not work here"; return 1; }
  FIREWALL=nft
  nft add chain inet "$NFT_TABLE" input '{ type filter hook input priority -5; policy accept; }'
}
fw_flush() { nft flush chain inet "$NFT_TABLE" input; }
# fw_drop_ring1: every datagram of this run to a ring 1 address.
fw_drop_ring1() {
  nft add rule inet "$NFT_TABLE" input ip daddr 127.0.1.1-127.0.1.3 udp dport "$HA_LOCAL_PORT" \
    counter drop
}
# fw_isolate3: both rings between node 3 and nodes 1, 2, both ways.
fw_isolate3() {
  local r
  for r in 0 1; do
    nft add rule inet "$NFT_TABLE" input ip saddr "127.0.$r.3" ip daddr "{ 127.0.$r.1, 127.0.$r.2 }" \
      udp dport "$HA_LOCAL_PORT" counter drop
    nft add rule inet "$NFT_TABLE" input ip saddr "{ 127.0.$r.1, 127.0.$r.2 }" ip daddr "127.0.$r.3" \
      udp dport "$HA_LOCAL_PORT" counter drop
  done
}

# up [TOTEM OPTIONS]: a fresh three-node cluster with two rings; false when it does not start.
up() {
  "$LC" down > /dev/null 2>&1
  if ! HA_LOCAL_TOTEM_OPTIONS="${1:-}" "$LC" up 3 > "$HA_LOCAL_ROOT.up.out" 2>&1; then
    tail -n 20 "$HA_LOCAL_ROOT.up.out"
    rm -f "$HA_LOCAL_ROOT.up.out"
    return 1
  fi
  rm -f "$HA_LOCAL_ROOT.up.out"
  until_ms 10000 all_see "1 2 3" 1 2 3
}

# The problem counter reaches the threshold after threshold * rrp_token_expired_timeout (about
# 10 * 20 ms here); allow generously for a loaded machine.
FAULTY_BOUND_MS=10000
RECOVER_BOUND_MS=15000

if ! up; then
  not_ok "up 3 with two rings starts the local cluster"
  echo "FAIL: the local cluster did not start: no scenario can run"
  finish
  exit
fi

# ---- 1
scenario "1 two rings, both active"
check "ha-cfgtool -s lists ring 0 on 127.0.0.1 and ring 1 on 127.0.1.1" \
  test "$("$CFG" --run-dir "$(rundir 1)" -s | grep -c 'id	= 127.0.[01].1')" = 2
check "every node: both rings active with no faults" until_ms 5000 all_active
check "ha-cfgtool -s exits 0" "$CFG" --run-dir "$(rundir 2)" -s > /dev/null
check "the log names the redundant rings" grep -q "rrp_mode=active rings=2" "$(logfile 1)"
check "ring 1 carries traffic (ring.1.rx_datagrams > 0)" test "$(counter 1 ring.1.rx_datagrams)" -gt 0
check "ring 1 problem counter exported (0)" test "$(counter 1 ring.1.problem_counter)" = 0
check "duplicates of ring 0 are dropped on ring 1 (ring.*.rx_duplicates > 0)" \
  test "$(($(counter 1 ring.0.rx_duplicates) + $(counter 1 ring.1.rx_duplicates)))" -gt 0
scenario_end

if fw_setup; then
  # ---- 2
  scenario "2 ring 1 dropped: FAULTY, no membership change; restored: back automatically"
  seen=$(membership_lines)
  note=""
  fw_drop_ring1
  if until_ms "$FAULTY_BOUND_MS" all_faulty 1; then
    ok "ring 1 FAULTY on every node after ${elapsed_ms} ms"
    note="FAULTY in ${elapsed_ms} ms"
  else
    not_ok "ring 1 FAULTY on every node (node 1: $(ring_line 1 1))"
  fi
  check "ring 0 stays active on every node" \
    eval 'ring_active 1 0 && ring_active 2 0 && ring_active 3 0'
  check "the log counts problems: 'Incrementing problem counter for seqid ... iface 127.0.1.1 to [N of 10]'" \
    grep -q "Incrementing problem counter for seqid [0-9]* iface 127.0.1.1 to \[[0-9]* of 10\]" "$(logfile 1)"
  check "the log says 'Marking ringid 1 interface 127.0.1.1 FAULTY'" \
    grep -q "Marking ringid 1 interface 127.0.1.1 FAULTY" "$(logfile 1)"
  check "ha-cfgtool -s exits 1 with a FAULTY ring" \
    test "$("$CFG" --run-dir "$(rundir 1)" -s > /dev/null 2>&1; echo $?)" = 1
  check "ring.1.faulty = 1 in the counters" test "$(counter 2 ring.1.faulty)" = 1
  sleep 2
  check "no membership change while ring 0 works ($(membership_lines) lines, $seen before)" \
    test "$(membership_lines)" = "$seen"
  check "all three nodes still in one membership" all_see "1 2 3" 1 2 3
  check "node 3 still quorate" test "$(quorum_exit 3)" = 0
  fw_flush
  if until_ms "$RECOVER_BOUND_MS" all_active; then
    ok "traffic restored: every ring of every node active again after ${elapsed_ms} ms"
    note="$note, recovered in ${elapsed_ms} ms"
  else
    not_ok "traffic restored: back in service automatically (node 1: $(ring_line 1 1))"
  fi
  check "the log says 'Automatically recovered ring 1 interface ...'" \
    grep -q "Automatically recovered ring 1 interface 127.0.1" \
    <(cat "$(logfile 1)" "$(logfile 2)" "$(logfile 3)")
  check "still no membership change" test "$(membership_lines)" = "$seen"
  scenario_end "${note:-}"

  # ---- 3
  scenario "3 automatic recovery off: ha-cfgtool -r"
  fw_remove
  if up "rrp_autorecovery_check_timeout: 0" && fw_setup; then
    seen=$(membership_lines)
    fw_drop_ring1
    if until_ms "$FAULTY_BOUND_MS" all_faulty 1; then
      ok "ring 1 FAULTY on every node after ${elapsed_ms} ms"
    else
      not_ok "ring 1 FAULTY on every node (node 1: $(ring_line 1 1))"
    fi
    fw_flush
    sleep 3
    check "traffic restored, autorecovery off: ring 1 still FAULTY after 3 s" all_faulty 1
    check "ha-cfgtool -r on node 2" eval '"$CFG" --run-dir "$(rundir 2)" -r > /dev/null'
    if until_ms 5000 all_active; then
      ok "every ring of every node active after ${elapsed_ms} ms"
    else
      not_ok "re-enabled everywhere (node 1: $(ring_line 1 1), node 3: $(ring_line 3 1))"
    fi
    check "the log says 're-enabled by the administrator' (node 2)" \
      grep -q "ring 1 interface 127.0.1.2 re-enabled by the administrator" "$(logfile 2)"
    check "the log says 're-enabled by node 2' (node 1)" \
      grep -q "ring 1 interface 127.0.1.1 re-enabled by node 2" "$(logfile 1)"
    sleep 1
    check "ring 1 stays active once it works" all_active
    check "no membership change" test "$(membership_lines)" = "$seen"
    scenario_end

    # ---- 4
    scenario "4 both rings dropped between node 3 and the others: membership change"
    fw_isolate3
    if until_ms 10000 all_see "1 2" 1 2; then
      ok "nodes 1, 2 see [1 2] after ${elapsed_ms} ms"
    else
      not_ok "nodes 1, 2 see [1 2] (views: $(view_at 1) / $(view_at 2))"
    fi
    check "node 3 sees [3]" until_ms 10000 sees 3 "3"
    check "node 3 is not quorate" until_ms 5000 eval 'test "$(quorum_exit 3)" = 2'
    check "nodes 1, 2 keep both rings active (they still hear each other)" \
      eval 'ring_active 1 0 && ring_active 1 1 && ring_active 2 0 && ring_active 2 1'
    fw_flush
    check "healed: one membership of 1 2 3" until_ms 10000 all_see "1 2 3" 1 2 3
    scenario_end
  else
    not_ok "the cluster with autorecovery off starts"
  fi

  # ---- 5
  scenario "5 passive mode: ring 1 dropped and restored"
  fw_remove
  if HA_LOCAL_RRP_MODE=passive up && fw_setup; then
    check "the log says rrp_mode=passive" grep -q "rrp_mode=passive rings=2" "$(logfile 1)"
    check "every node: both rings active with no faults" until_ms 5000 all_active
    seen=$(membership_lines)
    fw_drop_ring1
    if until_ms "$FAULTY_BOUND_MS" all_faulty 1; then
      ok "ring 1 FAULTY on every node after ${elapsed_ms} ms"
    else
      not_ok "ring 1 FAULTY on every node (node 1: $(ring_line 1 1))"
    fi
    sleep 1
    check "no membership change while ring 0 works" test "$(membership_lines)" = "$seen"
    fw_flush
    if until_ms "$RECOVER_BOUND_MS" all_active; then
      ok "traffic restored: every ring active again after ${elapsed_ms} ms"
    else
      not_ok "traffic restored: back in service automatically (node 1: $(ring_line 1 1))"
    fi
    check "still no membership change" test "$(membership_lines)" = "$seen"
    scenario_end
  else
    not_ok "the passive-mode cluster starts"
  fi
else
  skip "2 ring 1 dropped" "$fw_why"
  skip "3 ha-cfgtool -r" "$fw_why"
  skip "4 both rings dropped" "$fw_why"
  skip "5 passive mode" "$fw_why"
fi

finish
