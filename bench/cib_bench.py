#!/usr/bin/env python3
"""The measurements of bench/cib_bench.sh (which starts the daemons and calls this).

  cib_bench.py measure TARGET LARGE_CIB RESULTS.json --writes N --parallel P --queries Q
  cib_bench.py report RESULTS.json --parallel P

TARGET: {"name": ..., "cibadmin": PATH, "nodes": [ENV, ...]}: the target's cibadmin and, per
node, the environment that points it at that node (a "prefix" entry, a list, is put before the
command instead: e.g. ["ip", "netns", "exec", "NS"]). Every figure is measured
through cibadmin, one process per operation, so it includes starting that process; the
"client baseline" row (a query of a small section) shows how much of it that is.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time


def run(target, node, args, check=True):
    """One cibadmin on `node`: its environment, and its optional "prefix" (a command that runs
    cibadmin elsewhere, e.g. ip netns exec NS)."""
    env = dict(os.environ)
    spec = target["nodes"][node]
    env.update({k: v for k, v in spec.items() if k != "prefix"})
    t0 = time.perf_counter()
    p = subprocess.run(spec.get("prefix", []) + [target["cibadmin"]] + args, env=env,
                       stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    dt = (time.perf_counter() - t0) * 1000
    if check and p.returncode != 0:
        sys.exit(f"{target['name']}: cibadmin {' '.join(args[:3])}... exited {p.returncode}: "
                 f"{p.stderr.decode(errors='replace').strip()}")
    return dt


def nvpair(k, nid="bench-x", name="x"):
    return ["-M", "-X", f'<nvpair id="{nid}" name="{name}" value="{k}"/>']


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))]


def writes_seq(target, n):
    lat = []
    t0 = time.perf_counter()
    for k in range(n):
        lat.append(run(target, 0, nvpair(k)))
    return lat, n / (time.perf_counter() - t0)


def writes_parallel(target, n, p):
    """p writers (spread over the target's nodes), n writes in all; returns updates/s."""
    def writer(w):
        node = w % len(target["nodes"])
        for k in range(n // p):
            run(target, node, nvpair(f"{w}-{k}"))
    threads = [threading.Thread(target=writer, args=(w,)) for w in range(p)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return (n // p) * p / (time.perf_counter() - t0)


def measure(target, large, a):
    """Every row; a target with "writes": false gets only the query rows (NaN for the others),
    its large CIB loaded before it started."""
    nan = float("nan")
    r = {}
    writes = target.get("writes", True)
    if writes:
        run(target, 0, ["-C", "-o", "crm_config", "-X",
                        '<cluster_property_set id="bench"><nvpair id="bench-x" name="x" '
                        'value="0"/></cluster_property_set>'])
    r["baseline"] = statistics.median(
        run(target, 0, ["-Q", "-o", "crm_config"]) for _ in range(a.queries * 2))
    if writes:
        lat, rate = writes_seq(target, a.writes)
        r["lat_p50"], r["lat_p95"], r["rate1"] = pct(lat, 0.5), pct(lat, 0.95), rate
        r["rateP"] = writes_parallel(target, a.writes, a.parallel)
        r["load"] = run(target, 0, ["-R", "-x", large])
    else:
        for key in ("lat_p50", "lat_p95", "rate1", "rateP", "load"):
            r[key] = nan
    r["q_all"] = statistics.median(run(target, 0, ["-Q"]) for _ in range(a.queries))
    r["q_local"] = statistics.median(run(target, 0, ["-Q", "-l"]) for _ in range(a.queries))
    r["q_rsc"] = statistics.median(
        run(target, 0, ["-Q", "-o", "resources"]) for _ in range(a.queries))
    if writes:
        big_lat = [run(target, 0, nvpair(("true", "false")[k % 2],
                                         "cib-bootstrap-options-stonith-enabled",
                                         "stonith-enabled"))
                   for k in range(max(5, a.writes // 10))]
        r["big_p50"] = pct(big_lat, 0.5)
    else:
        r["big_p50"] = nan
    return r


ROWS = [
    ("baseline", "client baseline: -Q -o crm_config (ms, median)", "{:.1f}", "lat"),
    ("lat_p50", "commit latency, -M one nvpair (ms, median)", "{:.1f}", "lat"),
    ("lat_p95", "commit latency, -M one nvpair (ms, p95)", "{:.1f}", "lat"),
    ("rate1", "updates/s, 1 writer", "{:.0f}", "rate"),
    ("rateP", "updates/s, {P} writers (spread over the nodes)", "{:.0f}", "rate"),
    ("load", "large CIB: load with -R (ms, once)", "{:.0f}", "lat"),
    ("q_all", "large CIB: -Q whole (ms, median)", "{:.1f}", "lat"),
    ("q_local", "large CIB: -Q -l whole (ms, median)", "{:.1f}", "lat"),
    ("q_rsc", "large CIB: -Q -o resources (ms, median)", "{:.1f}", "lat"),
    ("big_p50", "large CIB: -M one nvpair (ms, median)", "{:.1f}", "lat"),
]


def report(results, parallel):
    names = list(results)
    width = max(len(label.format(P=parallel)) for _, label, _, _ in ROWS) + 2
    def cell(fmt, v):
        return ("n/a" if math.isnan(v) else fmt.format(v)).rjust(20)
    print("".ljust(width) + "".join(n.rjust(20) for n in names))
    for key, label, fmt, _ in ROWS:
        print(label.format(P=parallel).ljust(width) +
              "".join(cell(fmt, results[n][key]) for n in names))
    # Each of ours against Pacemaker's column with as many nodes (else its last one).
    ours = [n for n in names if not n.startswith("pacemaker")]
    theirs = [n for n in names if n.startswith("pacemaker")]
    if not ours or not theirs:
        return
    def nodes_of(name):
        return name.split(",")[-1].strip()
    pairs = []
    for n in ours:
        same = [t for t in theirs if nodes_of(t) == nodes_of(n)]
        pairs.append((n, same[0] if same else theirs[-1]))
    print("\nratios, ours / Pacemaker's (latency: below 1 is faster; rate: above 1 is more):")
    print("".ljust(width) + "".join(f"{n} / {nodes_of(t)}".rjust(24) for n, t in pairs))
    for key, label, _, _ in ROWS:
        cells = []
        for n, t in pairs:
            base = results[t][key]
            v = results[n][key] / base if base and not math.isnan(base) else float("nan")
            cells.append(("n/a" if math.isnan(v) else f"{v:.2f}").rjust(24))
        print(label.format(P=parallel).ljust(width) + "".join(cells))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure", help="measure one target, append its figures to RESULTS")
    m.add_argument("target", help="JSON: {name, cibadmin, nodes: [ENV, ...]}")
    m.add_argument("large")
    m.add_argument("results")
    m.add_argument("--writes", type=int, default=200)
    m.add_argument("--parallel", type=int, default=4)
    m.add_argument("--queries", type=int, default=10)
    r = sub.add_parser("report", help="print the table of RESULTS")
    r.add_argument("results")
    r.add_argument("--parallel", type=int, default=4)
    a = ap.parse_args()
    if a.cmd == "measure":
        target = json.loads(a.target)
        print(f"measuring {target['name']} ...", file=sys.stderr, flush=True)
        figures = measure(target, a.large, a)
        results = json.load(open(a.results)) if os.path.exists(a.results) else {}
        results[target["name"]] = figures
        json.dump(results, open(a.results, "w"))
    else:
        report(json.load(open(a.results)), a.parallel)


if __name__ == "__main__":
    main()
