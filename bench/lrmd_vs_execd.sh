#!/usr/bin/env bash
# lrmd against Pacemaker's executor (pacemaker-execd run on its own), in one run:
#   - one-shot actions per second of an agent run back to back, and the overhead per action
#     (wall time minus the agent's own run time);
#   - our lrmd's CPU per recurring monitor and monitor lateness with many resources
#     (ha-lrmd-load; Pacemaker's executor has no equivalent client here).
# Needs root (pacemaker-execd), Debian's pacemaker and pacemaker-dev (for the executor's client,
# built here from bench/execd_client.c), and a build of ours in build/.
#   bench/lrmd_vs_execd.sh [--count 300] [--agent heartbeat:Dummy] [--action monitor]
#                          [--resources 200] [--seconds 30]
set -euo pipefail
cd "$(dirname "$0")/.."
count=300 agent=heartbeat:Dummy action=monitor resources=200 seconds=30
while [ $# -gt 0 ]; do
  case $1 in
    --count) count=$2; shift 2 ;;
    --agent) agent=$2; shift 2 ;;
    --action) action=$2; shift 2 ;;
    --resources) resources=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 64 ;;
  esac
done
bin=build/bin
work=$(mktemp -d /tmp/lrmd-bench.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

# ---- ours ----
mkdir -p "$work/state" "$work/run" "$work/log" "$work/stamps" "$work/ocf/resource.d"
for p in heartbeat pacemaker; do ln -s "/usr/lib/ocf/resource.d/$p" "$work/ocf/resource.d/$p"; done
ln -s "$PWD/lrmd/testdata/agents/ha-test" "$work/ocf/resource.d/ha-test"
ln -s /usr/lib/ocf/lib "$work/ocf/lib"
cat > "$work/corosync.conf" <<CONF
totem {
    version: 2
    cluster_name: bench
    nodeid: 1
}
nodelist {
    node {
        nodeid: 1
        name: node1
        ring0_addr: 127.0.0.1
    }
}
logging {
    to_syslog: no
    to_logfile: yes
    logfile: $work/log/cluster.log
}
system {
    state_dir: $work/state
    run_dir: $work/run
}
CONF
OCF_ROOT=$work/ocf "$bin/lrmd" -c "$work/corosync.conf" </dev/null >"$work/log/lrmd.out" 2>&1 &
lrmd_pid=$!
pids+=("$lrmd_pid")
for _ in $(seq 50); do [ -S "$work/run/lrmd.sock" ] && break; sleep 0.1; done
read -r ours_rate ours_overhead < <("$bin/ha-lrmd-load" --run-dir "$work/run" --one-shot "$count" \
  --agent "$agent" --action "$action")
load=$("$bin/ha-lrmd-load" --run-dir "$work/run" --lrmd-pid "$lrmd_pid" --stamp-dir "$work/stamps" \
  --resources "$resources" --interval-ms 10000 --duration-s "$seconds" || true)

# ---- Pacemaker's executor ----
execd=/usr/lib/pacemaker/pacemaker-execd
theirs_rate="-" theirs_overhead="-"
if [ -x "$execd" ] && pkg-config --exists pacemaker-lrmd; then
  # shellcheck disable=SC2046
  gcc -O2 -o "$work/execd_client" bench/execd_client.c $(pkg-config --cflags --libs pacemaker-lrmd glib-2.0)
  PCMK_logfile=$work/log/execd.log "$execd" >"$work/log/execd.out" 2>&1 &
  pids+=($!)
  sleep 1
  read -r theirs_rate theirs_overhead < <("$work/execd_client" "${agent%%:*}" "${agent##*:}" "$action" "$count")
else
  echo "(Pacemaker's executor or pacemaker-dev missing: its column is empty)"
fi

printf '\n%-44s %12s %12s %8s\n' "one-shot ocf:$agent $action x$count" "ours" "execd" "ratio"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == "-" || a == 0) print "-"; else printf "%.2f", a / b }'; }
printf '%-44s %12s %12s %8s\n' "actions per second" "$ours_rate" "$theirs_rate" "$(ratio "$ours_rate" "$theirs_rate")"
printf '%-44s %12s %12s %8s\n' "overhead per action (ms, lower is better)" "$ours_overhead" \
  "$theirs_overhead" "$(ratio "$theirs_overhead" "$ours_overhead")"
echo
echo "ours, $resources resources with 10 s monitors for $seconds s:"
echo "$load" | sed 's/^/  /'
