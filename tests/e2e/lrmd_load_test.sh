#!/usr/bin/env bash
# lrmd under load (issue 7): HA_LRMD_LOAD_RESOURCES (500) resources with recurring monitors every
# 10 s on a real lrmd, watched for HA_LRMD_LOAD_SECONDS (60). Passes when every monitor ran and
# none ran later than its timeout; prints lrmd's CPU. Opt-in (label `long`): it takes minutes.
source "$(dirname "$0")/lib.sh"

dir=$HA_LOCAL_ROOT/lrmd-load
mkdir -p "$dir/state" "$dir/run" "$dir/log" "$dir/stamps" "$dir/ocf/resource.d"
ln -s "$HA_SOURCE_DIR/lrmd/testdata/agents/ha-test" "$dir/ocf/resource.d/ha-test"
conf=$dir/corosync.conf
one_node_config "$dir" lrmdload
OCF_ROOT=$dir/ocf "$HA_BIN_DIR/lrmd" -c "$conf" </dev/null >"$dir/log/lrmd.out" 2>&1 &
lrmd_pid=$!
trap 'kill -TERM $lrmd_pid 2>/dev/null; wait $lrmd_pid 2>/dev/null; cleanup' EXIT
for _ in $(seq 50); do [ -S "$dir/run/lrmd.sock" ] && break; sleep 0.1; done
check "lrmd is serving" test -S "$dir/run/lrmd.sock"

out=$("$HA_BIN_DIR/ha-lrmd-load" --run-dir "$dir/run" --lrmd-pid "$lrmd_pid" \
  --stamp-dir "$dir/stamps" --resources "${HA_LRMD_LOAD_RESOURCES:-500}" \
  --interval-ms 10000 --timeout-ms 20000 --duration-s "${HA_LRMD_LOAD_SECONDS:-60}")
rc=$?
echo "$out"
check "every monitor ran, none later than its timeout" test "$rc" = 0
check "lrmd still serving afterwards" kill -0 "$lrmd_pid"
finish
