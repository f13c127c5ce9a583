#!/usr/bin/env python3
"""Runs Pacemaker's scheduler regression cases through our crm_simulate and compares the
Transition Summary blocks with the expected ones (see ../../../shared/scheduler-cases/README.md).

Prints the pass counts (exact order and any order), overall, for the cases that use only the
features of the policy engine's first issue ("core"), with and without the cases whose
expected summary is empty, and per feature; writes the failing cases to --failures.
Exit status: 1 when a case crashed or hung, or when a pass count fell below the recorded one
(--baseline); 0 otherwise. --record writes the current counts as the new baseline.
"""
import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys

FEATURES = [
    ("clone", r"<clone[ >]"),
    ("promotable", r"<master[ >]|name=\"promotable\" value=\"(true|1)\""),
    ("bundle", r"<bundle[ >]"),
    ("remote", r"remote-node|ocf:pacemaker:remote|type=\"remote\"|container"),
    ("utilization", r"placement-strategy"),
    ("migration", r"allow-migrate"),
    ("ticket", r"<rsc_ticket"),
    ("node-health", r"node-health-strategy"),
    ("notify", r"name=\"notify\" value=\"(true|1)\""),
]
OUT_OF_CORE = {name for name, _ in FEATURES}
EXTRA = [
    ("group", r"<group[ >]"),
    ("sets", r"<resource_set"),
    ("fencing", r"class=\"stonith\"|fencing-topology"),
    ("rules", r"<rule[ >]"),
    ("template-or-tag", r"<template[ >]|<tag[ >]"),
]


def block(text):
    lines, inside = [], False
    for line in text.splitlines():
        if not inside:
            inside = line == "Transition Summary:"
            continue
        if not line.strip() or (not line.startswith((" ", "\t")) and line.rstrip().endswith(":")):
            break
        lines.append(re.sub(r"[ \t]+", " ", line).strip())
    return lines if inside else None


def run_case(simulator, cases, name):
    xml = os.path.join(cases, "xml", name + ".xml")
    with open(os.path.join(cases, "summary", name + ".summary")) as f:
        expected = block(f.read()) or []
    with open(xml) as f:
        content = f.read()
    features = [n for n, pattern in FEATURES + EXTRA if re.search(pattern, content)]
    result = {"name": name, "features": features, "expected_empty": not expected}
    try:
        proc = subprocess.run([simulator, "-S", "-x", xml], capture_output=True, text=True,
                              timeout=30, env=dict(os.environ, LC_ALL="C"))
    except subprocess.TimeoutExpired:
        result.update(status="hang", exact=False, multiset=False)
        return result
    if proc.returncode < 0 or proc.returncode >= 128:
        result.update(status="crash", exact=False, multiset=False, stderr=proc.stderr[-2000:])
        return result
    actual = block(proc.stdout)
    if proc.returncode != 0 or actual is None:
        result.update(status="error", exact=False, multiset=False, stderr=proc.stderr[-500:])
        return result
    result.update(status="ok", exact=actual == expected,
                  multiset=sorted(actual) == sorted(expected), expected=expected, actual=actual)
    return result


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    source = os.path.dirname(os.path.dirname(here))
    parser = argparse.ArgumentParser()
    parser.add_argument("--simulator", default=os.path.join(source, "build/bin/crm_simulate"))
    parser.add_argument("--cases", default=os.path.join(source, "../shared/scheduler-cases"))
    parser.add_argument("--failures", default="scheduler-failures.txt")
    parser.add_argument("--baseline", default=os.path.join(here, "pass_counts.json"))
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args()
    if not os.path.isdir(os.path.join(args.cases, "xml")):
        print(f"scheduler cases: skipped, {args.cases}/xml does not exist")
        return 0
    names = sorted(f[:-4] for f in os.listdir(os.path.join(args.cases, "xml")) if f.endswith(".xml"))
    if args.only:
        names = [n for n in names if n in args.only]
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda n: run_case(args.simulator, args.cases, n), names))

    def count(selected):
        return {"cases": len(selected), "exact": sum(r["exact"] for r in selected),
                "multiset": sum(r["multiset"] for r in selected)}

    core = [r for r in results if not OUT_OF_CORE & set(r["features"])]
    counts = {
        "all": count(results),
        "all_nonempty": count([r for r in results if not r["expected_empty"]]),
        "core": count(core),
        "core_nonempty": count([r for r in core if not r["expected_empty"]]),
    }
    for label, c in counts.items():
        print(f"{label:14s} {c['exact']:4d} exact, {c['multiset']:4d} any order, of {c['cases']}")
    print("per feature (any order):")
    for name, _ in FEATURES + EXTRA:
        selected = [r for r in results if name in r["features"]]
        c = count(selected)
        print(f"  {name:16s} {c['multiset']:4d} of {c['cases']}")
    broken = [r for r in results if r["status"] in ("crash", "hang")]
    with open(args.failures, "w") as f:
        for r in results:
            if r["multiset"]:
                continue
            f.write(f"== {r['name']} [{r['status']}] {' '.join(r['features'])}\n")
            if r["status"] == "ok":
                for line in r["expected"]:
                    if line not in r["actual"]:
                        f.write(f"  - {line}\n")
                for line in r["actual"]:
                    if line not in r["expected"]:
                        f.write(f"  + {line}\n")
            elif "stderr" in r:
                f.write("  " + r["stderr"].replace("\n", "\n  ") + "\n")
    print(f"failing cases written to {args.failures}")
    status = 0
    for r in broken:
        print(f"{r['status'].upper()}: {r['name']}")
        status = 1
    if args.record:
        with open(args.baseline, "w") as f:
            json.dump(counts, f, indent=2, sort_keys=True)
            f.write("\n")
        print(f"recorded as the baseline in {args.baseline}")
    elif os.path.exists(args.baseline) and not args.only:
        with open(args.baseline) as f:
            baseline = json.load(f)
        for label, c in baseline.items():
            for key in ("exact", "multiset"):
                if counts[label][key] < c[key]:
                    print(f"REGRESSION: {label} {key} {counts[label][key]} < recorded {c[key]}")
                    status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
