#!/usr/bin/env bash
# pengine_scale.sh: our crm_simulate against Debian's Pacemaker 2.1.5 crm_simulate on the same
# large CIBs, in one run: wall time and peak RSS of `crm_simulate -S -x FILE`, and ratios
# (Debian / ours). Figures are printed, never asserted.
#
#   bench/pengine_scale.sh [--quick] [--runs K] [--keep] [--debian-timeout SECONDS]
#
# CIBs come from bench/gen_large_cib.py: 4, 16 and 32 nodes x 100, 1000 and 5000 resources
# (a third in groups of 3-5, locations, colocations, orders, about 90% running, probes on every
# other node, the last node unclean with stonith enabled and a stonith device).
#   --quick            only 4 nodes x 100 and 1000 resources
#   --runs K           runs per simulator and size, the best (lowest time) is shown (default 1)
#   --debian-timeout S give up on a Debian run after S seconds (default 120); once a size has
#                      timed out, larger sizes with as many or more nodes are not tried
#   --keep             keep the generated CIBs and outputs (printed at the end)
# The "agree" column says whether both Transition Summary blocks hold the same lines (any
# order, blanks collapsed), so the timings are known to be of comparable work. The last three
# columns time `crm_simulate -R -x` (schedule only, no simulated execution) the same way:
# most of Pacemaker's -S time is spent simulating the execution, not scheduling.
# Environment: OURS (default build/bin/crm_simulate), DEBIAN (default /usr/sbin/crm_simulate).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OURS=${OURS:-$here/../build/bin/crm_simulate}
DEBIAN=${DEBIAN:-/usr/sbin/crm_simulate}
QUICK=0
RUNS=1
KEEP=0
DEBIAN_TIMEOUT=120

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1; shift ;;
    --runs) RUNS=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --debian-timeout) DEBIAN_TIMEOUT=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "unknown option: $1" >&2; usage 2 >&2 ;;
  esac
done

if [ ! -x "$OURS" ]; then
  echo "our crm_simulate is missing: $OURS (build the project first)" >&2
  exit 1
fi
HAVE_DEBIAN=1
if [ ! -x "$DEBIAN" ]; then
  echo "note: $DEBIAN is missing (Debian package pacemaker-cli-utils): our figures only"
  HAVE_DEBIAN=0
fi

work=$(mktemp -d /tmp/pengine_scale.XXXXXX)
cleanup() { [ "$KEEP" = 1 ] && echo "kept: $work" || rm -rf "$work"; }
trap cleanup EXIT

# measure OUT_PREFIX TIMEOUT CMD...: runs CMD with stdout to OUT_PREFIX.out; prints
# "SECONDS KB" (wall time, peak RSS), or "timeout", or "error RC".
if [ -x /usr/bin/time ]; then
  measure() {
    local prefix=$1 limit=$2; shift 2
    timeout "$limit" /usr/bin/time -f '%e %M' -o "$prefix.time" "$@" >"$prefix.out" 2>"$prefix.err"
    local rc=$?
    if [ $rc = 124 ]; then echo timeout; elif [ $rc != 0 ]; then echo "error $rc";
    else tail -n 1 "$prefix.time"; fi
  }
else
  # Fallback without GNU time: python's resource.getrusage for the child's peak RSS.
  measure() {
    local prefix=$1 limit=$2; shift 2
    python3 - "$prefix" "$limit" "$@" <<'EOF'
import resource, subprocess, sys, time
prefix, limit, cmd = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
start = time.monotonic()
try:
    with open(prefix + ".out", "w") as out, open(prefix + ".err", "w") as err:
        rc = subprocess.run(cmd, stdout=out, stderr=err, timeout=limit).returncode
except subprocess.TimeoutExpired:
    print("timeout"); sys.exit()
wall = time.monotonic() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KB on Linux
print(f"error {rc}" if rc else f"{wall:.2f} {peak}")
EOF
  }
fi

# best_of PREFIX TIMEOUT CMD...: RUNS measurements, the one with the lowest time.
best_of() {
  local prefix=$1 limit=$2; shift 2
  local best="" r result
  for r in $(seq 1 "$RUNS"); do
    result=$(measure "$prefix" "$limit" "$@")
    case "$result" in
      timeout|error*) echo "$result"; return ;;
    esac
    if [ -z "$best" ] || awk -v a="${result%% *}" -v b="${best%% *}" 'BEGIN{exit !(a<b)}'; then
      best=$result
    fi
  done
  echo "$best"
}

summary_block() {
  sed -n '/^Transition Summary:$/,/^$/p' "$1" | sed -E 's/[ \t]+/ /g; s/^ //; s/ $//' |
    grep -v '^Transition Summary:$' | grep -v '^$' | LC_ALL=C sort
}

if [ "$QUICK" = 1 ]; then
  NODES="4"; SIZES="100 1000"
else
  NODES="4 16 32"; SIZES="100 1000 5000"
fi

echo "crm_simulate -S -x on generated CIBs; ours: $OURS; Debian: $DEBIAN"
echo "host: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), runs per cell: $RUNS (best)"
FMT='%-5s %-5s %6s %7s | %7s %7s | %8s %7s | %7s %7s | %-6s | %7s %8s %7s\n'
printf '%89s| %s\n' "" "-R (schedule only)"
printf "$FMT" nodes rscs "cib MB" actions "ours s" "ours MB" "debian s" "deb MB" "t ratio" \
  "m ratio" agree "ours s" "debian s" "t ratio"
declare -A debian_gave_up=()
for nodes in $NODES; do
  for size in $SIZES; do
    cib="$work/n$nodes-r$size.xml"
    python3 "$here/gen_large_cib.py" --nodes "$nodes" --resources "$size" "$cib"
    mb=$(awk -v b="$(stat -c %s "$cib")" 'BEGIN{printf "%.1f", b/1048576}')
    export LC_ALL=C
    ours=$(best_of "$work/ours-$nodes-$size" 600 "$OURS" -S -x "$cib")
    deb="skipped"
    if [ "$HAVE_DEBIAN" = 1 ]; then
      if [ -n "${debian_gave_up[$size]:-}" ]; then
        deb="skipped"
      else
        deb=$(best_of "$work/debian-$nodes-$size" "$DEBIAN_TIMEOUT" "$DEBIAN" -S -x "$cib")
        # Pacemaker exits 1 when its own simulated transition cannot complete; its summary is
        # still there, so time it anyway.
        if [ "$deb" = "error 1" ] && [ -s "$work/debian-$nodes-$size.time" ] &&
           grep -q '^Transition Summary:' "$work/debian-$nodes-$size.out"; then
          deb=$(grep -E '^[0-9.]+ [0-9]+$' "$work/debian-$nodes-$size.time" | tail -n 1)
          deb="${deb:-error 1}"
        fi
        if [ "$deb" = timeout ]; then
          debian_gave_up[$size]=1
          for bigger in $SIZES; do [ "$bigger" -gt "$size" ] && debian_gave_up[$bigger]=1; done
        fi
      fi
    fi
    actions=$(summary_block "$work/ours-$nodes-$size.out" 2>/dev/null | wc -l)
    o_t=${ours%% *}; o_m=${ours##* }
    case "$ours" in timeout|error*) o_t=$ours; o_m="-" ;; *) o_m=$(awk -v k="$o_m" 'BEGIN{printf "%.1f", k/1024}') ;; esac
    d_t="-"; d_m="-"; t_ratio="-"; m_ratio="-"; agree="-"
    case "$deb" in
      skipped) d_t="skipped" ;;
      timeout) d_t=">${DEBIAN_TIMEOUT}" ;;
      error*) d_t=$deb ;;
      *)
        d_t=${deb%% *}
        d_m=$(awk -v k="${deb##* }" 'BEGIN{printf "%.1f", k/1024}')
        case "$ours" in
          timeout|error*) ;;
          *)
            t_ratio=$(awk -v d="$d_t" -v o="$o_t" 'BEGIN{if (o < 0.01) o = 0.01; printf "%.1f", d/o}')
            m_ratio=$(awk -v d="$d_m" -v o="$o_m" 'BEGIN{printf "%.1f", d/o}')
            if cmp -s <(summary_block "$work/ours-$nodes-$size.out") \
                      <(summary_block "$work/debian-$nodes-$size.out"); then
              agree=yes
            else
              agree="no($(comm -3 <(summary_block "$work/ours-$nodes-$size.out") \
                                  <(summary_block "$work/debian-$nodes-$size.out") | wc -l))"
            fi ;;
        esac ;;
    esac
    # Schedule only (-R): ours, and Debian's unless it is missing.
    r_ours=$(best_of "$work/ours-R-$nodes-$size" 600 "$OURS" -R -x "$cib")
    r_deb=skipped
    [ "$HAVE_DEBIAN" = 1 ] && r_deb=$(best_of "$work/debian-R-$nodes-$size" "$DEBIAN_TIMEOUT" \
                                         "$DEBIAN" -R -x "$cib")
    r_o=${r_ours%% *}; r_d=${r_deb%% *}; r_ratio="-"
    case "$r_ours" in timeout|error*) r_o=$r_ours ;; esac
    case "$r_deb" in
      timeout) r_d=">${DEBIAN_TIMEOUT}" ;;
      error*|skipped) r_d=$r_deb ;;
      *) case "$r_ours" in
           timeout|error*) ;;
           *) r_ratio=$(awk -v d="$r_d" -v o="$r_o" 'BEGIN{if (o < 0.01) o = 0.01; printf "%.1f", d/o}') ;;
         esac ;;
    esac
    printf "$FMT" "$nodes" "$size" "$mb" "$actions" "$o_t" "$o_m" "$d_t" "$d_m" "$t_ratio" \
      "$m_ratio" "$agree" "$r_o" "$r_d" "$r_ratio"
    [ "$KEEP" = 1 ] || rm -f "$cib"
  done
done
echo "times in seconds (wall), memory = peak RSS in MB; ratios are Debian / ours (above 1: ours"
echo "is faster / smaller; our time is floored at 0.01 s for the ratio); agree: same summary"
echo "lines (any order), else no(number of lines found in only one of the two)."
