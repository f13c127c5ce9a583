#!/usr/bin/env bash
# ocf:hacluster:VIPcheck (agents/ocf/VIPcheck, issue 8): two network namespaces joined by a veth
# pair, namespace A holding 10.213.77.1 and namespace B 10.213.77.2 (addresses that exist only
# inside them). The agent runs in namespace B, through a real lrmd started there (crm_resource
# --force-*) and directly with OCF environment variables: an address A answers on is refused with
# an exit reason (arping and ping), a free one starts, monitors 0, stops and monitors 7; its own
# address is no conflict; validate-all without ip is OCF_ERR_CONFIGURED. Then the group it is
# meant for: B runs VIPcheck and Debian's IPaddr2 through lrmd, and A's VIPcheck of the same
# address is refused until B's IPaddr2 stops. Skips (77) when not root or without network
# namespaces, arping or ping.
source "$(dirname "$0")/lib.sh"

skip() {
  echo "SKIP: $*"
  exit 77
}
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
command -v ip >/dev/null || skip "no ip (iproute2)"
command -v arping >/dev/null && [[ "$(arping -V 2>&1)" == *iputils* ]] || skip "no iputils arping"
command -v ping >/dev/null || skip "no ping (iputils-ping)"

AGENT=$HA_SOURCE_DIR/agents/ocf/VIPcheck
CR="$HA_BIN_DIR/crm_resource"
NSA=ha-vipA-$$
NSB=ha-vipB-$$
IFA=hvA$$
IFB=hvB$$
NET=10.213.77
dir=$HA_LOCAL_ROOT/vipcheck
# lrmd runs meta-data as the hacluster user: it must reach the OCF root under the test's folder.
chmod 755 "$HA_LOCAL_ROOT"
mkdir -p "$dir/state" "$dir/run" "$dir/log" "$dir/ocf/resource.d" "$dir/rsctmp"

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
  # Deleting a namespace deletes the veth end in it, and with it its peer.
  ip netns del "$NSA" 2>/dev/null
  ip netns del "$NSB" 2>/dev/null
  if [ "$failed" -gt 0 ] && [ -f "$dir/log/cluster.log" ]; then
    echo "--- lrmd's log (last 30 lines)"
    tail -n 30 "$dir/log/cluster.log"
  fi
  cleanup
}
trap on_exit EXIT

ip netns add "$NSA" 2>/dev/null || skip "cannot create network namespaces"
ip netns add "$NSB" || skip "cannot create a second network namespace"
if ! ip link add "$IFA" netns "$NSA" type veth peer name "$IFB" netns "$NSB"; then
  skip "cannot create a veth pair"
fi
ip -n "$NSA" link set lo up && ip -n "$NSB" link set lo up &&
  ip -n "$NSA" addr add "$NET.1/24" dev "$IFA" && ip -n "$NSB" addr add "$NET.2/24" dev "$IFB" &&
  ip -n "$NSA" link set "$IFA" up && ip -n "$NSB" link set "$IFB" up
check "two namespaces joined by a veth pair, A on $NET.1 and B on $NET.2" test $? = 0
# The veth link is up once B reaches A (bounded: a few pings of 1 s).
check "B reaches A" wait_for 10 ip netns exec "$NSB" ping -n -q -c 1 -W 1 "$NET.1" >/dev/null

# ---- directly, with OCF environment variables (in namespace B) ----
# agent ACTION [NAME=VALUE...]: runs the agent in B with those OCF_RESKEY_ parameters; sets $rc,
# $out and $err.
agent() { agent_in "$NSB" "$@"; }
# agent_in NAMESPACE ACTION [NAME=VALUE...]: the same in another namespace.
agent_in() {
  local ns=$1 action=$2 kv
  shift 2
  local env=(OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE=vip-check OCF_RA_VERSION_MAJOR=1
    OCF_RA_VERSION_MINOR=1 HA_RSCTMP="$dir/rsctmp")
  for kv in "$@"; do env+=("OCF_RESKEY_$kv"); done
  out=$(ip netns exec "$ns" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "${env[@]}" \
    "$AGENT" "$action" 2>"$dir/agent.err")
  rc=$?
  err=$(cat "$dir/agent.err")
}

agent meta-data
check "meta-data: exit 0 and well-formed XML naming its parameters and actions" \
  eval '[ "$rc" = 0 ] && python3 -c "
import sys, xml.etree.ElementTree as ET
r = ET.fromstring(sys.stdin.read())
params = {p.get(\"name\"): p.get(\"required\") for p in r.iter(\"parameter\")}
actions = {a.get(\"name\") for a in r.iter(\"action\")}
assert r.get(\"name\") == \"VIPcheck\" and r.findtext(\"version\") == \"1.1\"
assert params[\"ip\"] == \"1\" and {\"interface\", \"method\", \"count\", \"wait\"} <= set(params)
assert {\"start\", \"stop\", \"monitor\", \"validate-all\", \"meta-data\"} <= actions
" <<<"$out"'

agent validate-all
check "validate-all without ip: 6 (OCF_ERR_CONFIGURED) and an exit reason" \
  eval '[ "$rc" = 6 ] && contains "ocf-exit-reason:the ip parameter is mandatory" "$err"'
agent validate-all ip=10.213.77.300
check "validate-all with a bad address: 6" test "$rc" = 6
agent validate-all ip="$NET.9" count=1000
check "validate-all with an unbounded count: 6" test "$rc" = 6
agent validate-all ip="$NET.9" method=nmap
check "validate-all with an unknown method: 6" test "$rc" = 6
agent validate-all ip="$NET.9" interface=nosuchif0
check "validate-all with an interface this node lacks: 5 (OCF_ERR_INSTALLED)" test "$rc" = 5
agent validate-all ip="$NET.9"
check "validate-all with a good ip: 0" test "$rc" = 0

agent start ip="$NET.1" count=2 wait=2
check "start on the address A answers on (arping): refused, 1 (OCF_ERR_GENERIC)" test "$rc" = 1
check "with an exit reason that names the address and the answering host" \
  eval 'contains "ocf-exit-reason:another host (" "$err" && contains "answers on $NET.1 (arping on $IFB)" "$err"'
agent monitor ip="$NET.1"
check "monitor after the refused start: 7 (not running)" test "$rc" = 7
agent start ip="$NET.1" method=ping count=2 wait=2
check "start on the address A answers on (ping): refused, 1" \
  eval '[ "$rc" = 1 ] && contains "ocf-exit-reason:another host answers on $NET.1 (ping)" "$err"'

agent start ip="$NET.9" interface="$IFB" count=2 wait=2
check "start on a free address (arping, interface given): 0" test "$rc" = 0
check "the state file is under HA_RSCTMP" test -e "$dir/rsctmp/VIPcheck-vip-check.state"
agent monitor ip="$NET.9"
check "monitor: 0 (running)" test "$rc" = 0
agent start ip="$NET.9"
check "start again: 0 (already started)" test "$rc" = 0
agent stop ip="$NET.9"
check "stop: 0" test "$rc" = 0
agent monitor ip="$NET.9"
check "monitor after stop: 7 (not running)" test "$rc" = 7
agent stop ip="$NET.9"
check "stop of a stopped check: 0" test "$rc" = 0
agent start ip="$NET.9" method=ping count=1 wait=1
check "start on a free address (ping): 0" test "$rc" = 0
agent stop ip="$NET.9"
agent start ip="$NET.2" count=1 wait=1
check "start on B's own address (arping): 0, this node is no other host" test "$rc" = 0
agent stop ip="$NET.2"

# ---- through lrmd (started in namespace B) and crm_resource ----
ln -s "$HA_SOURCE_DIR/agents/ocf" "$dir/ocf/resource.d/hacluster"
ln -s /usr/lib/ocf/resource.d/heartbeat "$dir/ocf/resource.d/heartbeat"
ln -s /usr/lib/ocf/lib "$dir/ocf/lib"
conf=$dir/corosync.conf
one_node_config "$dir" vipcheck
export HA_CONFIG=$conf
OCF_ROOT=$dir/ocf ip netns exec "$NSB" "$HA_BIN_DIR/lrmd" -c "$conf" </dev/null \
  >"$dir/log/lrmd.out" 2>&1 &
lrmd_pid=$!
if ! wait_for 10 eval '"$CR" --list-standards >/dev/null 2>&1'; then
  not_ok "lrmd starts in namespace B and answers"
  finish
  exit 1
fi
ok "lrmd starts in namespace B and answers"

# cr ARGS...: crm_resource on ocf:hacluster:VIPcheck; sets $out, $err and $rc.
cr() {
  out=$("$CR" "$@" 2>"$dir/cr.err")
  rc=$?
  err=$(cat "$dir/cr.err")
}
vip=(--class ocf --provider hacluster --agent VIPcheck -r vip-check -T 20s)
cr --list-agents ocf:hacluster
check "--list-agents ocf:hacluster lists VIPcheck" eval '[ "$rc" = 0 ] && grep -qx VIPcheck <<<"$out"'
cr --show-metadata ocf:hacluster:VIPcheck
check "--show-metadata ocf:hacluster:VIPcheck prints its XML" \
  eval '[ "$rc" = 0 ] && contains "<resource-agent name=\"VIPcheck\"" "$out"'
cr --validate "${vip[@]}"
check "--validate without ip: 6 with the agent's reason" \
  eval '[ "$rc" = 6 ] && contains "returned 6 (not configured: the ip parameter is mandatory)" "$out"'
cr --force-start "${vip[@]}" --option "ip=$NET.1" --option "state=$dir/lrmd-vip.state"
check "--force-start on the address A answers on: refused (1) with the reason" \
  eval '[ "$rc" = 1 ] && contains "returned 1 (error: another host (" "$out" && contains "answers on $NET.1 (arping on $IFB))" "$out"'
check "no state file was written" test ! -e "$dir/lrmd-vip.state"
cr --force-start "${vip[@]}" --option "ip=$NET.9" --option "state=$dir/lrmd-vip.state"
check "--force-start on a free address: 0" \
  eval '[ "$rc" = 0 ] && [ "$(head -n 1 <<<"$out")" = "Operation force-start for vip-check (ocf:hacluster:VIPcheck) returned 0 (ok)" ]'
cr --force-check "${vip[@]}" --option "ip=$NET.9" --option "state=$dir/lrmd-vip.state"
check "--force-check: 0 (ok)" test "$rc" = 0
cr --force-stop "${vip[@]}" --option "ip=$NET.9" --option "state=$dir/lrmd-vip.state"
check "--force-stop: 0" test "$rc" = 0
cr --force-check "${vip[@]}" --option "ip=$NET.9" --option "state=$dir/lrmd-vip.state"
check "--force-check after stop: 7 (not running)" \
  eval '[ "$rc" = 7 ] && contains "returned 7 (not running)" "$out"'
cr --force-start "${vip[@]}" --option "ip=$NET.1" --option method=ping \
  --option "state=$dir/lrmd-vip.state"
check "--force-start with method=ping on A's address: refused (1)" \
  eval '[ "$rc" = 1 ] && contains "another host answers on $NET.1 (ping)" "$out"'

# ---- the group it is meant for: VIPcheck then IPaddr2 ----
# B runs the group's two members through lrmd: the check passes, then Debian's IPaddr2 brings the
# address up on B. A host that wants the same address (A, running the agent directly) is refused
# for as long as B holds it, and starts once B's IPaddr2 has stopped.
VIP=$NET.50
ipaddr2=(--class ocf --provider heartbeat --agent IPaddr2 -r vip -T 20s --option "ip=$VIP"
  --option cidr_netmask=24 --option "nic=$IFB")
cr --force-start "${vip[@]}" --option "ip=$VIP" --option "state=$dir/lrmd-vip.state"
check "B: VIPcheck of $VIP starts (nobody answers on it)" test "$rc" = 0
cr --force-start "${ipaddr2[@]}"
check "B: IPaddr2 brings $VIP up"   eval '[ "$rc" = 0 ] && [ -n "$(ip -n "$NSB" -o addr show to "$VIP")" ]'
agent_in "$NSA" start ip="$VIP" count=2 wait=2
check "A: VIPcheck of $VIP is refused while B holds it, with the reason"   eval '[ "$rc" = 1 ] && contains "ocf-exit-reason:another host (" "$err" && contains "answers on $VIP (arping on $IFA)" "$err"'
agent_in "$NSA" start ip="$VIP" method=ping count=2 wait=2
check "A: and with ping" eval '[ "$rc" = 1 ] && contains "answers on $VIP (ping)" "$err"'
cr --force-stop "${vip[@]}" --option "ip=$VIP" --option "state=$dir/lrmd-vip.state"
cr --force-start "${vip[@]}" --option "ip=$VIP" --option "state=$dir/lrmd-vip.state"
check "B: its own VIPcheck of $VIP starts again while its IPaddr2 holds the address"   test "$rc" = 0
cr --force-stop "${ipaddr2[@]}"
check "B: IPaddr2 stops and the address is gone"   eval '[ "$rc" = 0 ] && [ -z "$(ip -n "$NSB" -o addr show to "$VIP")" ]'
cr --force-stop "${vip[@]}" --option "ip=$VIP" --option "state=$dir/lrmd-vip.state"
agent_in "$NSA" start ip="$VIP" count=2 wait=2
check "A: VIPcheck of $VIP starts once B has let it go" test "$rc" = 0
agent_in "$NSA" stop ip="$VIP"

stop_lrmd
finish
