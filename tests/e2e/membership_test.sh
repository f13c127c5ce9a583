#!/usr/bin/env bash
# membershipd with real processes (issue 3): three nodes on 127.0.0.1-3 through tools/ha-localcluster,
# observed with ha-cfgtool and ha-quorumtool. Each scenario ends with a PASS, FAIL or SKIP line:
#   1. three nodes form one ring, quorate
#   2. a killed node leaves the membership and rejoins when restarted; a killed (respawned)
#      membershipd leaves and rejoins
#   3. a SIGSTOP'ed membershipd is dropped, and rejoins cleanly after SIGCONT
#   4. a firewall partition {1,2} | {3}: {1,2} quorate, {3} not; healed: one ring   (root)
#   5. 5% random loss on all membership traffic for 20 s: no membership change     (root)
#   6. HA_TOTEM_FAULTS (duplicates, delays) on one node: the ring stays stable
#   7. three nodes in network namespaces joined by a bridge: a cut link and a kill  (root)
# Bounds come from the configuration (token and consensus as membershipd logs them), with a
# generous margin: nothing here measures speed; the timings are printed for the record.
# Firewall rules live only in a table (nft) or chain (iptables) of this run, match only
# 127.0.0.1-3 and this run's UDP port, and are removed on exit, as are the namespaces.
source "$(dirname "$0")/lib.sh"

CFG="$HA_BIN_DIR/ha-cfgtool"
QT="$HA_BIN_DIR/ha-quorumtool"
RUN_ID="$$$RANDOM"
NFT_TABLE="ha_e2e_$RUN_ID"
IPT_CHAIN="HA_E2E_$RUN_ID"
FIREWALL=""   # nft or iptables, once set up
NETNS_LIST=()
STOPPED_PID=""

extra_cleanup() {
  [ -n "$STOPPED_PID" ] && kill -CONT "$STOPPED_PID" 2>/dev/null
  fw_remove
  local ns
  for ns in "${NETNS_LIST[@]}"; do
    # shellcheck disable=SC2046
    kill -KILL $(ip netns pids "$ns" 2>/dev/null) 2>/dev/null
    ip netns del "$ns" 2>/dev/null
  done
}
trap 'extra_cleanup; cleanup' EXIT
trap 'exit 130' INT TERM

now_ms() { date +%s%3N; }
# nap SECONDS: a sleep that an INT or TERM interrupts at once (so the cleanup runs without delay).
nap() {
  sleep "$1" &
  wait $!
}

# until_ms BOUND_MS COMMAND...: polls every 50 ms until the command succeeds; sets elapsed_ms;
# false when the bound passed first.
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

# view_at RUNDIR: "<ring id>|<members>" from ha-cfgtool -n's second line.
view_at() {
  "$CFG" --run-dir "$1" -n 2>/dev/null | sed -n 's/^Cluster .*, ring \(.*\), members: \(.*\)$/\1|\2/p'
}
members_at() { view_at "$1" | cut -d'|' -f2; }

# same_ring MEMBERS RUNDIR...: every node sees exactly MEMBERS ("1 2 3"), in one ring id.
same_ring() {
  local want=$1 dir view first=""
  shift
  for dir in "$@"; do
    view=$(view_at "$dir")
    [ "${view#*|}" = "$want" ] || return 1
    [ -z "$first" ] && first=${view%|*}
    [ "${view%|*}" = "$first" ] || return 1
  done
}
# sees NODE MEMBERS: node NODE of the local cluster sees exactly MEMBERS.
sees() { [ "$(members_at "$(rundir "$1")")" = "$2" ]; }
ring_of() { view_at "$(rundir "$1")" | cut -d'|' -f1; }

# quorate_exit NODE: ha-quorumtool -s's exit code on NODE.
quorum_exit() {
  "$QT" --run-dir "$(rundir "$1")" -s > /dev/null 2>&1
  echo $?
}
quorum_exit_is() { [ "$(quorum_exit "$1")" = "$2" ]; }

# counter RUNDIR NAME: one runtime counter (0 when membershipd does not report it).
counter() {
  local v
  v=$("$CFG" --run-dir "$1" -C "$2" 2>/dev/null | sed -n "s/^$2 (u64) = //p")
  echo "${v:-0}"
}

membership_lines() {
  local n total=0 c
  for n in "$@"; do
    c=$(grep -c "new membership" "$HA_LOCAL_ROOT/node$n/log/cluster.log" 2>/dev/null)
    total=$((total + ${c:-0}))
  done
  echo "$total"
}

# membership_lines_since NODE COUNT: NODE's new-membership log lines after its first COUNT.
membership_lines_since() {
  grep "new membership" "$HA_LOCAL_ROOT/node$1/log/cluster.log" | tail -n +$(($2 + 1))
}

# log_ms NODE PATTERN: the time (epoch ms) of NODE's last log line matching PATTERN.
log_ms() {
  local line
  line=$(grep -- "$2" "$HA_LOCAL_ROOT/node$1/log/cluster.log" | tail -n 1)
  [ -n "$line" ] && date -d "$(echo "$line" | cut -d' ' -f1-3)" +%s%3N
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

# ---- the firewall: nft if it works, else iptables (HA_E2E_FIREWALL=iptables forces it); rules
# on 127.0.0.1-3 and our port only.
fw_setup() {
  [ "$(id -u)" = 0 ] || { fw_why="not root"; return 1; }
  if [ "${HA_E2E_FIREWALL:-nft}" = nft ] && command -v nft > /dev/null &&
    nft add table inet "$NFT_TABLE" 2> /dev/null; then
    FIREWALL=nft
    nft add chain inet "$NFT_TABLE" input '{ type filter hook input priority -5; policy accept; }'
    return 0
  fi
  if command -v iptables > /dev/null && iptables -N "$IPT_CHAIN" 2> /dev/null; then
    FIREWALL=iptables
    iptables -I INPUT -j "$IPT_CHAIN"
    return 0
  fi
  fw_why="neither nft nor iptables works here (scripts/setup-deps.sh installs them)"
  return 1
}
fw_remove() {
  case "$FIREWALL" in
    nft) nft delete table inet "$NFT_TABLE" 2> /dev/null ;;
    iptables)
      iptables -D INPUT -j "$IPT_CHAIN" 2> /dev/null
      iptables -F "$IPT_CHAIN" 2> /dev/null
      iptables -X "$IPT_CHAIN" 2> /dev/null
      ;;
  esac
  FIREWALL=""
}
fw_flush() {
  case "$FIREWALL" in
    nft) nft flush chain inet "$NFT_TABLE" input ;;
    iptables) iptables -F "$IPT_CHAIN" ;;
  esac
}
# fw_partition: drops between 127.0.0.3 and 127.0.0.1-2, both ways.
fw_partition() {
  case "$FIREWALL" in
    nft)
      nft add rule inet "$NFT_TABLE" input ip saddr 127.0.0.3 ip daddr '{ 127.0.0.1, 127.0.0.2 }' \
        udp dport "$HA_LOCAL_PORT" counter drop
      nft add rule inet "$NFT_TABLE" input ip saddr '{ 127.0.0.1, 127.0.0.2 }' ip daddr 127.0.0.3 \
        udp dport "$HA_LOCAL_PORT" counter drop
      ;;
    iptables)
      local a
      for a in 127.0.0.1 127.0.0.2; do
        iptables -A "$IPT_CHAIN" -s 127.0.0.3 -d "$a" -p udp --dport "$HA_LOCAL_PORT" -j DROP
        iptables -A "$IPT_CHAIN" -s "$a" -d 127.0.0.3 -p udp --dport "$HA_LOCAL_PORT" -j DROP
      done
      ;;
  esac
}
# fw_loss PERCENT: drops PERCENT% of the datagrams between 127.0.0.1-3 at random; a first rule
# counts them all.
fw_loss() {
  case "$FIREWALL" in
    nft)
      nft add rule inet "$NFT_TABLE" input ip saddr 127.0.0.1-127.0.0.3 ip daddr 127.0.0.1-127.0.0.3 \
        udp dport "$HA_LOCAL_PORT" counter
      nft add rule inet "$NFT_TABLE" input ip saddr 127.0.0.1-127.0.0.3 ip daddr 127.0.0.1-127.0.0.3 \
        udp dport "$HA_LOCAL_PORT" numgen random mod 100 '<' "$1" counter drop
      ;;
    iptables)
      local match=(-m iprange --src-range 127.0.0.1-127.0.0.3 --dst-range 127.0.0.1-127.0.0.3
        -p udp --dport "$HA_LOCAL_PORT")
      iptables -A "$IPT_CHAIN" "${match[@]}"
      iptables -A "$IPT_CHAIN" "${match[@]}" -m statistic --mode random \
        --probability "$(printf '0.%02d' "$1")" -j DROP
      ;;
  esac
}
# fw_counts: "<seen> <dropped>" datagrams of fw_loss's two rules.
fw_counts() {
  case "$FIREWALL" in
    nft)
      nft list chain inet "$NFT_TABLE" input | sed -n 's/.*counter packets \([0-9]*\).*/\1/p' | xargs
      ;;
    iptables) iptables -L "$IPT_CHAIN" -v -x -n | awk 'NR > 2 { print $1 }' | xargs ;;
  esac
}

# ---- the bounds, from the configuration membershipd runs with.
if ! "$LC" up 3 > "$HA_LOCAL_ROOT/up.out" 2>&1; then
  tail -n 20 "$HA_LOCAL_ROOT/up.out"
  not_ok "up 3 starts the local cluster"
  echo "FAIL: the local cluster did not start: no scenario can run"
  finish
  exit
fi
timers=$(grep -h "totem timers" "$HA_LOCAL_ROOT/node1/log/cluster.log" | tail -n 1)
token_ms=$(echo "$timers" | sed -n 's/.* token=\([0-9]*\)ms.*/\1/p')
consensus_ms=$(echo "$timers" | sed -n 's/.*consensus=\([0-9]*\)ms.*/\1/p')
: "${token_ms:=3000}" "${consensus_ms:=3600}"
# A failure is detected after token + consensus (+ join); allow that twice over plus 2 s.
BOUND_MS=$((2 * (token_ms + consensus_ms) + 2000))
echo "# token ${token_ms} ms, consensus ${consensus_ms} ms: bound ${BOUND_MS} ms"
D1=$(rundir 1) D2=$(rundir 2) D3=$(rundir 3)

# ---- 1
scenario "1 three nodes form one ring"
if until_ms "$BOUND_MS" same_ring "1 2 3" "$D1" "$D2" "$D3"; then
  ok "all three nodes see members 1 2 3 in ring $(ring_of 1)"
else
  not_ok "one ring of 1 2 3 (node views: $(view_at "$D1") / $(view_at "$D2") / $(view_at "$D3"))"
fi
for n in 1 2 3; do
  check "node $n is quorate (ha-quorumtool -s exits 0)" until_ms "$BOUND_MS" quorum_exit_is $n 0
done
check "ha-quorumtool -s reads as corosync-quorumtool's" \
  grep -q "^Quorate:          Yes" <("$QT" --run-dir "$D1" -s)
check "ha-quorumtool -l lists the three members" \
  test "$("$QT" --run-dir "$D2" -l | grep -c ' node[123]')" = 3
check "ha-cfgtool -s: ring 0 active with no faults" \
  grep -q "status	= ring 0 active with no faults" <("$CFG" --run-dir "$D3" -s)
CRM_NODE="$HA_BIN_DIR/crm_node"
crm() { "$CRM_NODE" -c "$HA_LOCAL_ROOT/node$1/corosync.conf" "${@:2}"; }
check "crm_node -p lists the partition's names" test "$(crm 2 -p)" = "node1 node2 node3"
check "crm_node -i and -n on node 3" test "$(crm 3 -i)/$(crm 3 -n)" = "3/node3"
check "crm_node -q on node 1 is 1" test "$(crm 1 -q)" = 1
scenario_end

# ---- 2
scenario "2 kill and restart"
t0=$(now_ms)
"$LC" kill 3 > /dev/null
if until_ms "$BOUND_MS" same_ring "1 2" "$D1" "$D2"; then
  left_ms=$(($(log_ms 1 "left \[3\]") - t0))
  ok "node 3 killed: nodes 1, 2 see [1 2] (polled ${elapsed_ms} ms, node 1's log ${left_ms} ms)"
  kill_note="kill seen in ${left_ms} ms"
else
  not_ok "node 3 killed: nodes 1, 2 see [1 2] within ${BOUND_MS} ms (saw $(members_at "$D1"))"
fi
check "nodes 1 and 2 stay quorate" quorum_exit_is 1 0
check "crm_node -l on node 2 has node 3 lost" \
  test "$(crm 2 -l | tr '\n' ,)" = "1 node1 member,2 node2 member,3 node3 lost,"
t0=$(now_ms)
"$LC" start 3 > /dev/null
start_ms=$(($(now_ms) - t0))
if until_ms "$BOUND_MS" same_ring "1 2 3" "$D1" "$D2" "$D3"; then
  ok "node 3 restarted: one ring of 1 2 3 (start took ${start_ms} ms, then ${elapsed_ms} ms)"
else
  not_ok "node 3 restarted: one ring of 1 2 3 (views: $(view_at "$D1") / $(view_at "$D3"))"
fi
# membershipd alone killed: the supervisor respawns it, and the ring takes it back.
old_pid=$(daemon_field 3 membershipd pid)
old_ring=$(ring_of 1)
t0=$(now_ms)
kill -KILL "$old_pid"
respawned() { local p; p=$(daemon_field 3 membershipd pid); [ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$old_pid" ]; }
if until_ms $((BOUND_MS + 10000)) respawned &&
  until_ms "$BOUND_MS" same_ring "1 2 3" "$D1" "$D2" "$D3" && [ "$(ring_of 1)" != "$old_ring" ]; then
  ok "membershipd of node 3 killed and respawned: back in a new ring $(ring_of 1) ($(($(now_ms) - t0)) ms)"
else
  not_ok "membershipd of node 3 killed: respawned and back in the ring (views: $(view_at "$D1") / $(view_at "$D3"))"
fi
scenario_end "${kill_note:-}"

# ---- 3
scenario "3 SIGSTOP for 2 s, SIGCONT"
pid2=$(daemon_field 2 membershipd pid)
restarts2=$(daemon_field 2 membershipd restarts)
t0=$(now_ms)
STOPPED_PID=$pid2
kill -STOP "$pid2"
if until_ms 2000 same_ring "1 3" "$D1" "$D3"; then
  left_ms=$(($(log_ms 1 "left \[2\]") - t0))
  ok "node 2 stopped: nodes 1, 3 see [1 3] (polled ${elapsed_ms} ms, node 1's log ${left_ms} ms)"
  stop_note="dropped in ${left_ms} ms"
else
  not_ok "node 2 stopped: nodes 1, 3 see [1 3] within 2 s (saw $(members_at "$D1"))"
fi
rest=$((2000 - ($(now_ms) - t0)))
[ "$rest" -gt 0 ] && nap "$(printf '%d.%03d' $((rest / 1000)) $((rest % 1000)))"
seen1=$(membership_lines 1)
seen3=$(membership_lines 3)
kill -CONT "$pid2"
STOPPED_PID=""
if until_ms "$BOUND_MS" same_ring "1 2 3" "$D1" "$D2" "$D3"; then
  ok "node 2 resumed: one ring of 1 2 3 after ${elapsed_ms} ms"
  stop_note="$stop_note, rejoined in ${elapsed_ms} ms"
else
  not_ok "node 2 resumed: one ring of 1 2 3 (views: $(view_at "$D1") / $(view_at "$D2") / $(view_at "$D3"))"
fi
# Cleanly: the resumed node merges into the ring of 1 and 3, which carries on undisturbed (one
# configuration change, perhaps two), rather than everyone breaking up and forming again.
nap 1
after1=$(membership_lines_since 1 "$seen1")
after3=$(membership_lines_since 3 "$seen3")
changes1=$(echo -n "$after1" | grep -c .)
changes3=$(echo -n "$after3" | grep -c .)
lost1=$(echo -n "$after1" | grep -vc 'members \[[^]]*3[^]]*\]')
lost3=$(echo -n "$after3" | grep -vc 'members \[[^]]*1[^]]*\]')
stop_note="$stop_note, $changes1 configurations on node 1 after SIGCONT"
check "after SIGCONT nodes 1 and 3 stayed together (configurations without the other: $lost1 on node 1, $lost3 on node 3)" \
  test "$((lost1 + lost3))" = 0
check "after SIGCONT the rejoin took at most 2 configurations (node 1: $changes1, node 3: $changes3)" \
  test "$changes1" -le 2 -a "$changes3" -le 2
check "node 2's membershipd was not restarted" \
  test "$(daemon_field 2 membershipd pid)/$(daemon_field 2 membershipd restarts)" = "$pid2/$restarts2"
check "node 2's last membership is [1 2 3]" \
  grep -q "members \[1 2 3\]" <(grep "new membership" "$HA_LOCAL_ROOT/node2/log/cluster.log" | tail -n 1)
scenario_end "${stop_note:-}"

# ---- 4 and 5 need the firewall
if fw_setup; then
  scenario "4 partition {1,2} | {3}"
  t0=$(now_ms)
  fw_partition
  if until_ms "$BOUND_MS" same_ring "1 2" "$D1" "$D2" && until_ms "$BOUND_MS" sees 3 "3"; then
    left_ms=$(($(log_ms 1 "left \[3\]") - t0))
    ok "partitioned: nodes 1, 2 see [1 2], node 3 sees [3] (polled $(($(now_ms) - t0)) ms, node 1's log ${left_ms} ms)"
    part_note="split seen in ${left_ms} ms"
  else
    not_ok "partitioned: [1 2] and [3] (views: $(view_at "$D1") / $(view_at "$D3"))"
  fi
  check "node 1 is quorate" until_ms "$BOUND_MS" quorum_exit_is 1 0
  check "node 2 is quorate" until_ms "$BOUND_MS" quorum_exit_is 2 0
  check "node 3 is not quorate (ha-quorumtool -s exits 2)" until_ms "$BOUND_MS" quorum_exit_is 3 2
  check "node 3 says: Activity blocked" grep -q "Activity blocked" <("$QT" --run-dir "$D3" -s)
  t0=$(now_ms)
  fw_flush
  if until_ms "$BOUND_MS" same_ring "1 2 3" "$D1" "$D2" "$D3"; then
    ok "healed: one ring of 1 2 3 after ${elapsed_ms} ms"
    part_note="$part_note, merged in ${elapsed_ms} ms"
  else
    not_ok "healed: one ring of 1 2 3 (views: $(view_at "$D1") / $(view_at "$D2") / $(view_at "$D3"))"
  fi
  check "node 3 is quorate again" until_ms "$BOUND_MS" quorum_exit_is 3 0
  scenario_end "${part_note:-} [$FIREWALL]"

  scenario "5 5% random loss for 20 s"
  before=$(membership_lines 1 2 3)
  ring_before=$(ring_of 1)
  retx_before=$(($(counter "$D1" totem.orf_token_retx) + $(counter "$D1" totem.mcast_retx)))
  fw_loss 5
  nap 20
  read -r seen dropped <<< "$(fw_counts)"
  fw_flush
  after=$(membership_lines 1 2 3)
  retx=$(($(counter "$D1" totem.orf_token_retx) + $(counter "$D1" totem.mcast_retx) - retx_before))
  loss_note="$dropped of $seen datagrams dropped, node 1 retransmitted $retx, $((after - before)) membership changes"
  echo "# $loss_note"
  check "the firewall dropped some datagrams" test "${dropped:-0}" -gt 0
  check "no membership change under 5% loss ($((after - before)) new-membership log lines)" \
    test "$after" = "$before"
  check "the ring is the same ($ring_before)" same_ring "1 2 3" "$D1" "$D2" "$D3"
  check "and its id did not move" test "$(ring_of 1)" = "$ring_before"
  scenario_end "$loss_note [$FIREWALL]"
  fw_remove
else
  skip "4 partition" "$fw_why"
  skip "5 5% random loss" "$fw_why"
fi

# ---- 6
scenario "6 HA_TOTEM_FAULTS duplicates and delays on node 3"
"$LC" stop 3 > /dev/null
HA_TOTEM_FAULTS="dup=0.2,delay=0-5" "$LC" start 3 > /dev/null
check "node 3's membershipd runs with the fault layer" \
  grep -q "fault injection is on (HA_TOTEM_FAULTS=dup=0.2,delay=0-5)" "$HA_LOCAL_ROOT/node3/log/cluster.log"
if until_ms "$BOUND_MS" same_ring "1 2 3" "$D1" "$D2" "$D3"; then
  ok "node 3 with faults joins: one ring of 1 2 3"
else
  not_ok "node 3 with faults joins (views: $(view_at "$D1") / $(view_at "$D3"))"
fi
before=$(membership_lines 1 2 3)
ring_before=$(ring_of 1)
nap 10
after=$(membership_lines 1 2 3)
dup=$(counter "$D3" faults.duplicated)
delayed=$(counter "$D3" faults.delayed)
fault_note="10 s: ${dup:-?} duplicated, ${delayed:-?} delayed, $((after - before)) membership changes"
echo "# $fault_note"
check "the ring stayed stable for 10 s ($((after - before)) changes)" test "$after" = "$before"
check "the ring id did not move" test "$(ring_of 1)" = "$ring_before"
check "faults.duplicated > 0 on node 3" test "${dup:-0}" -gt 0
check "faults.delayed > 0 on node 3" test "${delayed:-0}" -gt 0
scenario_end "$fault_note"

# ---- 7: namespaces
netns_scenario() {
  if [ "$(id -u)" != 0 ]; then
    skip "7 network namespaces" "not root"
    return
  fi
  if ! command -v ip > /dev/null; then
    skip "7 network namespaces" "no ip command (iproute2)"
    return
  fi
  local suffix sw i ns dir err
  suffix=$(printf '%04x' $((RANDOM % 65536)))
  sw="hae2e${suffix}sw"
  if ! err=$(ip netns add "$sw" 2>&1); then
    skip "7 network namespaces" "ip netns add failed: $err"
    return
  fi
  NETNS_LIST+=("$sw")
  # The network first: where bridges or veth links are not allowed, the scenario is skipped.
  if ! err=$({ ip -n "$sw" link add br0 type bridge && ip -n "$sw" link set br0 up; } 2>&1); then
    skip "7 network namespaces" "no bridge in a namespace: $err"
    return
  fi
  for i in 1 2 3; do
    ns="hae2e${suffix}n$i"
    if ! err=$(ip netns add "$ns" 2>&1); then
      skip "7 network namespaces" "ip netns add failed: $err"
      return
    fi
    NETNS_LIST+=("$ns")
    if ! err=$({ ip -n "$ns" link set lo up &&
      ip link add eth0 netns "$ns" type veth peer name "p$i" netns "$sw" &&
      ip -n "$ns" addr add "10.213.0.$i/24" dev eth0 &&
      ip -n "$ns" link set eth0 up &&
      ip -n "$sw" link set "p$i" master br0 up; } 2>&1); then
      skip "7 network namespaces" "no veth link from namespace $ns to the bridge: $err"
      return
    fi
  done
  scenario "7 network namespaces joined by a bridge"
  # The local cluster's three stacks are no longer needed: give the CPUs to the namespaced ones.
  "$LC" down --keep > /dev/null
  for i in 1 2 3; do
    # Node i's configuration, moved to its namespace's address and folders of its own.
    dir="$HA_LOCAL_ROOT/netns/node$i"
    mkdir -p "$dir/run" "$dir/state" "$dir/log"
    sed -e 's/127\.0\.0\./10.213.0./' -e "s#$HA_LOCAL_ROOT/node$i/#$dir/#g" \
      "$HA_LOCAL_ROOT/node$i/corosync.conf" > "$dir/corosync.conf"
    ip netns exec "hae2e${suffix}n$i" setsid "$HA_BIN_DIR/haclusterd" -c "$dir/corosync.conf" \
      >> "$dir/log/haclusterd.out" 2>&1 < /dev/null &
    disown $!  # its SIGKILL below is expected: no job report for it
  done
  N1="$HA_LOCAL_ROOT/netns/node1/run" N2="$HA_LOCAL_ROOT/netns/node2/run" N3="$HA_LOCAL_ROOT/netns/node3/run"
  if until_ms 60000 same_ring "1 2 3" "$N1" "$N2" "$N3"; then
    ok "three namespaced nodes form one ring over the bridge (${elapsed_ms} ms from start)"
  else
    not_ok "three namespaced nodes form one ring (views: $(view_at "$N1") / $(view_at "$N2") / $(view_at "$N3"))"
    for i in 1 2 3; do tail -n 20 "$HA_LOCAL_ROOT/netns/node$i/log/cluster.log" 2> /dev/null; done
  fi
  # A cut cable: no ICMP, the token loss alone tells.
  ip -n "$sw" link set p2 down
  if until_ms "$BOUND_MS" same_ring "1 3" "$N1" "$N3"; then
    ok "node 2's link down: nodes 1, 3 see [1 3] after ${elapsed_ms} ms"
    ns_note="link cut seen in ${elapsed_ms} ms"
  else
    not_ok "node 2's link down: [1 3] (views: $(view_at "$N1") / $(view_at "$N3"))"
  fi
  ip -n "$sw" link set p2 up
  if until_ms "$BOUND_MS" same_ring "1 2 3" "$N1" "$N2" "$N3"; then
    ok "node 2's link up: one ring of 1 2 3 after ${elapsed_ms} ms"
  else
    not_ok "node 2's link up: one ring (views: $(view_at "$N1") / $(view_at "$N2") / $(view_at "$N3"))"
  fi
  # A killed node: every process of namespace 3.
  # shellcheck disable=SC2046
  kill -KILL $(ip netns pids "hae2e${suffix}n3")
  if until_ms "$BOUND_MS" same_ring "1 2" "$N1" "$N2"; then
    ok "node 3 killed: nodes 1, 2 see [1 2] after ${elapsed_ms} ms"
    ns_note="$ns_note, kill seen in ${elapsed_ms} ms"
  else
    not_ok "node 3 killed: [1 2] (views: $(view_at "$N1") / $(view_at "$N2"))"
  fi
  scenario_end "${ns_note:-}"
}
netns_scenario

finish
