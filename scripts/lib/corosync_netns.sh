# shellcheck shell=bash
# scripts/lib/corosync_netns.sh: clusters of Debian's corosync 3 (and of our membershipd) in
# network namespaces, one per node, for the benchmarks (bench/) and the end-to-end tests that run
# on real corosyncs (tests/e2e/corosync_provider_test.sh). Sourced, not run:
#
#   . "$here/../scripts/lib/corosync_netns.sh"
#
# Why namespaces: corosync's IPC sockets (and those of its clients: libcpg, pacemaker-based) are
# abstract, hence per network namespace, so two corosyncs on one host need a namespace each; and
# each gets a mount namespace of its own with a private /run bound over the real one, for its
# lock file /run/corosync.pid. The namespaces hang off one bridge in the root namespace.
#
# Functions (every one returns non-zero on failure and then sets CNS_ERROR to a one-line reason;
# they are safe under `set -e` and `set -u`):
#   cns_unavailable                  print why corosync-in-namespaces cannot run here (not root,
#                                    no corosync, no ip/unshare, namespaces refused); nothing if
#                                    it can
#   cns_bridge_create BRIDGE         create the bridge BRIDGE and bring it up
#   cns_netns_create NS [VETH ADDR]  create the namespace NS with lo up; with VETH and ADDR
#                                    (a.b.c.d/len), wire it to the bridge: eth0 in NS holds ADDR,
#                                    its peer VETH is a port of the bridge
#   cns_make_nodes NS_PREFIX VETH_PREFIX NET N
#                                    nodes 1..N: namespace NS_PREFIX<i>, NET.<i>/24 on its eth0,
#                                    host end VETH_PREFIX<i>h on the bridge
#   cns_write_conf FILE ADDRS [options]
#                                    a corosync.conf for one node (see below)
#   cns_start_corosync NS CONF RUN_DIR OUT
#                                    corosync -f -c CONF in namespace NS with RUN_DIR as its /run,
#                                    output appended to OUT; CNS_PID is its pid
#   cns_start_corosync_with NS CONF RUN_DIR COROSYNC_OUT OUT COMMAND
#                                    the same, corosync in the background, and once it answers
#                                    corosync-cfgtool (5 s at most) the shell command COMMAND
#                                    exec'd in the same network and mount namespaces (a client
#                                    that needs corosync's /run, e.g. pacemaker-based); CNS_PID is
#                                    COMMAND's pid
#   cns_members_re N                 the regex of corosync's log line with nodes 1..N all members
#                                    ("Members[3]: 1 2 3")
#   cns_wait_log REGEX TIMEOUT FILE...
#                                    until every FILE has a line matching REGEX (grep -E); on
#                                    timeout CNS_WAIT_FAILED is the first FILE without one
#   cns_wait_quorate NS TIMEOUT      until corosync-quorumtool in NS says "Quorate: Yes"
#   cns_stop_pids PID...             SIGTERM, 5 s to exit, then SIGKILL
#   cns_teardown                     end every process still in our namespaces (SIGTERM, 0.5 s,
#                                    SIGKILL; waits until they are gone, zombies included), delete
#                                    the veths, the namespaces (their nft tables go with them) and
#                                    the bridge; may be called again. Call it from the EXIT trap.
#
# cns_write_conf FILE ADDRS [options]: node j of the cluster (nodeid j, name nodej) has ring0_addr
# word j of ADDRS. Sections: totem { version: 2, cluster_name, the -t options in order, the
# interface block }, nodelist, quorum { corosync_votequorum }, logging (to the -l file only),
# the -x sections, system { the -s options }. Options:
#   -n NAME      cluster_name (default cnsbench)
#   -t 'k: v'    a totem option (repeatable), e.g. -t 'transport: knet' -t 'crypto_cipher: none'
#   -p PORT      an interface { linknumber: 0  mcastport: PORT } block (default: none)
#   -l FILE      the log file (required)
#   -L           no `timestamp: hires` in logging (default: hires)
#   -s 'k: v'    a system option (repeatable), e.g. -s "state_dir: $dir/state"
#   -x TEXT      a further section, written as given, before system (e.g. "uidgid {", newline,
#                "    gid: haclient", newline, "}")
# The same file serves membershipd (-t 'transport: udpu' -t "nodeid: $i" -s "run_dir: ...").
#
# Variables: COROSYNC (default /usr/sbin/corosync) is the daemon started. State kept for
# cns_teardown: CNS_BRIDGE (the bridge made, empty when none), CNS_NETNS (namespaces made),
# CNS_VETHS (the host ends of their veths).

# shellcheck disable=SC2034  # CNS_ERROR, CNS_PID, CNS_WAIT_FAILED are read by the callers
COROSYNC=${COROSYNC:-/usr/sbin/corosync}
CNS_BRIDGE=""
CNS_NETNS=()
CNS_VETHS=()
CNS_ERROR=""
CNS_PID=""
CNS_WAIT_FAILED=""

cns_unavailable() {
  local probe=cns-probe-$$
  if [ "$(id -u)" != 0 ]; then echo "not root"; return 0; fi
  if [ ! -x "$COROSYNC" ]; then echo "no $COROSYNC (apt-get install corosync)"; return 0; fi
  if ! command -v unshare >/dev/null; then echo "no unshare (util-linux)"; return 0; fi
  if ! command -v ip >/dev/null || ! ip netns add "$probe" 2>/dev/null; then
    echo "cannot create network namespaces"; return 0
  fi
  ip netns del "$probe" 2>/dev/null
  return 0
}

cns_bridge_create() {  # cns_bridge_create BRIDGE
  if ! ip link add "$1" type bridge 2>/dev/null; then
    CNS_ERROR="cannot create bridge $1"; return 1
  fi
  CNS_BRIDGE=$1
  ip link set "$1" up
}

cns_netns_create() {  # cns_netns_create NS [VETH ADDR/LEN]
  local ns=$1 veth=${2:-} addr=${3:-}
  if ! ip netns add "$ns"; then CNS_ERROR="cannot create namespace $ns"; return 1; fi
  CNS_NETNS+=("$ns")
  if ! ip -n "$ns" link set lo up; then CNS_ERROR="cannot wire namespace $ns"; return 1; fi
  [ -n "$veth" ] || return 0
  if [ -z "$CNS_BRIDGE" ]; then CNS_ERROR="no bridge for namespace $ns"; return 1; fi
  if ! ip link add "$veth" type veth peer name eth0 netns "$ns"; then
    CNS_ERROR="cannot wire namespace $ns"; return 1
  fi
  CNS_VETHS+=("$veth")
  if ! { ip link set "$veth" master "$CNS_BRIDGE" up &&
         ip -n "$ns" addr add "$addr" dev eth0 &&
         ip -n "$ns" link set eth0 up; }; then
    CNS_ERROR="cannot wire namespace $ns"; return 1
  fi
}

cns_make_nodes() {  # cns_make_nodes NS_PREFIX VETH_PREFIX NET N
  local i
  for ((i = 1; i <= $4; i++)); do
    cns_netns_create "$1$i" "$2${i}h" "$3.$i/24" || return 1
  done
}

cns_write_conf() {  # cns_write_conf FILE ADDRS [-n NAME] [-t OPT]... [-p PORT] [-l FILE] [-L] [-s OPT]... [-x TEXT]...
  local file=$1 addrs=$2 name=cnsbench port="" logfile="" hires=1 o j=0 a
  local totem=() system=() extra=()
  shift 2
  OPTIND=1
  while getopts 'n:t:p:l:Ls:x:' o; do
    case $o in
      n) name=$OPTARG ;;
      t) totem+=("$OPTARG") ;;
      p) port=$OPTARG ;;
      l) logfile=$OPTARG ;;
      L) hires=0 ;;
      s) system+=("$OPTARG") ;;
      x) extra+=("$OPTARG") ;;
      *) CNS_ERROR="cns_write_conf: bad option"; return 1 ;;
    esac
  done
  if [ -z "$logfile" ]; then CNS_ERROR="cns_write_conf: no -l LOGFILE"; return 1; fi
  {
    echo "totem {"
    echo "    version: 2"
    echo "    cluster_name: $name"
    for o in ${totem[@]+"${totem[@]}"}; do echo "    $o"; done
    if [ -n "$port" ]; then
      echo "    interface {"
      echo "        linknumber: 0"
      echo "        mcastport: $port"
      echo "    }"
    fi
    echo "}"
    echo "nodelist {"
    for a in $addrs; do
      j=$((j + 1))
      echo "    node {"
      echo "        name: node$j"
      echo "        nodeid: $j"
      echo "        ring0_addr: $a"
      echo "    }"
    done
    echo "}"
    echo "quorum {"
    echo "    provider: corosync_votequorum"
    echo "}"
    echo "logging {"
    echo "    to_syslog: no"
    echo "    to_stderr: no"
    echo "    to_logfile: yes"
    echo "    logfile: $logfile"
    if [ "$hires" = 1 ]; then echo "    timestamp: hires"; fi
    echo "}"
    for o in ${extra[@]+"${extra[@]}"}; do printf '%s\n' "$o"; done
    echo "system {"
    for o in ${system[@]+"${system[@]}"}; do echo "    $o"; done
    echo "}"
  } > "$file"
}

cns_start_corosync() {  # cns_start_corosync NS CONF RUN_DIR OUT
  # ip netns exec, unshare and sh all exec: $! is corosync itself.
  setsid ip netns exec "$1" unshare -m --propagation private \
    sh -c "mount --bind '$3' /run && exec '$COROSYNC' -f -c '$2'" >> "$4" 2>&1 < /dev/null &
  CNS_PID=$!
  disown "$CNS_PID"  # no "Killed" job reports; bash still reaps it
}

cns_start_corosync_with() {  # cns_start_corosync_with NS CONF RUN_DIR COROSYNC_OUT OUT COMMAND
  setsid ip netns exec "$1" unshare -m --propagation private sh -c "
    mount --bind '$3' /run || exit 1
    '$COROSYNC' -f -c '$2' >'$4' 2>&1 &
    for i in \$(seq 1 50); do corosync-cfgtool -s >/dev/null 2>&1 && break; sleep 0.1; done
    $6" > "$5" 2>&1 < /dev/null &
  CNS_PID=$!
  disown "$CNS_PID"
}

cns_members_re() {  # cns_members_re N
  echo "Members\\[$1\\]: $(seq -s ' ' 1 "$1")\$"
}

cns_wait_log() {  # cns_wait_log REGEX TIMEOUT FILE...
  local re=$1 deadline f
  deadline=$(( $(date +%s) + $2 ))
  shift 2
  CNS_WAIT_FAILED=""
  for f in "$@"; do
    until grep -qE -- "$re" "$f" 2>/dev/null; do
      if [ "$(date +%s)" -ge "$deadline" ]; then
        CNS_WAIT_FAILED=$f
        CNS_ERROR="no line matching '$re' in $f"
        return 1
      fi
      sleep 0.1
    done
  done
}

cns_wait_quorate() {  # cns_wait_quorate NS TIMEOUT
  local deadline
  deadline=$(( $(date +%s) + $2 ))
  until ip netns exec "$1" corosync-quorumtool -s 2>/dev/null | grep -qE '^Quorate: +Yes'; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      CNS_ERROR="corosync in $1 not quorate in $2 s"; return 1
    fi
    sleep 0.1
  done
}

cns_stop_pids() {  # cns_stop_pids PID...
  local p
  [ $# -gt 0 ] || return 0
  for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "$@"; do
    for _ in $(seq 50); do [ -d "/proc/$p" ] || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
}

# The processes in our namespaces (ip netns pids), one per line.
cns_pids_in_netns() {
  local ns
  for ns in ${CNS_NETNS[@]+"${CNS_NETNS[@]}"}; do ip netns pids "$ns" 2>/dev/null || true; done
}

# Whether any of the given pids is still in /proc (a zombie too: ip netns pids no longer lists
# it, but it is there until its parent, or init once the parent is gone, reaps it).
cns_any_left() {
  local p
  for p in "$@"; do [ -d "/proc/$p" ] && return 0; done
  return 1
}

cns_teardown() {
  local pids all="" ns
  pids=$(cns_pids_in_netns)
  if [ -n "$pids" ]; then
    all=$pids
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    for _ in $(seq 5); do [ -n "$(cns_pids_in_netns)" ] || break; sleep 0.1; done
  fi
  pids=$(cns_pids_in_netns)
  if [ -n "$pids" ]; then
    all+=" $pids"
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    # A namespace deleted while a process is still in it lives on, with its veth.
    for _ in $(seq 50); do [ -n "$(cns_pids_in_netns)" ] || break; sleep 0.1; done
  fi
  # shellcheck disable=SC2086
  for _ in $(seq 30); do cns_any_left $all || break; sleep 0.1; done
  # The kernel dismantles a deleted namespace later (its veths linger a moment): delete them now.
  for ns in ${CNS_VETHS[@]+"${CNS_VETHS[@]}"}; do ip link del "$ns" 2>/dev/null || true; done
  CNS_VETHS=()
  for ns in ${CNS_NETNS[@]+"${CNS_NETNS[@]}"}; do ip netns del "$ns" 2>/dev/null || true; done
  CNS_NETNS=()
  if [ -n "$CNS_BRIDGE" ]; then ip link del "$CNS_BRIDGE" 2>/dev/null || true; fi
  CNS_BRIDGE=""
  return 0
}
