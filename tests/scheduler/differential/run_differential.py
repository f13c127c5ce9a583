#!/usr/bin/env python3
"""Differential test of our policy engine against Pacemaker 2.1.5's crm_simulate.

For each seed, gen_cib.py makes a random small CIB; both simulators run `crm_simulate -S -x`
on it and their "Transition Summary:" blocks are compared the way the scheduler cases are
(../../../../shared/scheduler-cases/README.md): runs of blanks collapsed, then exact order and
any order (multiset). Prints the counts (agree exactly / agree in another order / disagree).

Every disagreement is minimized by delta debugging: nodes, resources, groups (dissolved),
constraints, set members, status entries and nvpairs are removed, in chunks and then one at a
time, for as long as
  - Pacemaker still accepts the CIB (same exit status as on the original, normally 0, and a
    Transition Summary), and
  - the disagreement persists: the same kind (our simulator failing, lines differing, or only
    the order differing) and, for differing lines, the first line that one side printed and
    the other did not is still printed by that side only.
The minimized case is shown; with --record it is written to regressions/seed-N.xml, with
Pacemaker's block in seed-N.expected and ours in seed-N.ours. --check re-runs our simulator
on the recorded regressions and reports which now pass.

Skips (exit status 0) when Pacemaker's crm_simulate is not installed. Exit status 0 otherwise
too: disagreements are findings, not failures of this script.

  run_differential.py [--seeds A-B | N] [--jobs J] [--record] [--no-minimize] [--check]
"""
import argparse
import concurrent.futures
import copy
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_cib  # noqa: E402

SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
DEFAULT_OURS = os.path.join(SOURCE, "build", "bin", "crm_simulate")
DEFAULT_REFERENCE = "/usr/sbin/crm_simulate"
REGRESSIONS = os.path.join(HERE, "regressions")
TIMEOUT_S = 30


# --- running the simulators ------------------------------------------------------------------

def block(text):
    """The normalized lines of the Transition Summary block of `text`, or None if absent."""
    lines, inside = [], False
    for line in text.splitlines():
        if not inside:
            inside = line == "Transition Summary:"
            continue
        if not line.strip() or (not line.startswith((" ", "\t")) and line.rstrip().endswith(":")):
            break
        lines.append(re.sub(r"[ \t]+", " ", line).strip())
    return lines if inside else None


class Result:
    """One simulator run: exit status, summary block (None if missing), stderr tail."""

    def __init__(self, rc, lines, stderr):
        self.rc, self.lines, self.stderr = rc, lines, stderr

    @property
    def ok(self):
        return self.rc == 0 and self.lines is not None


def simulate(binary, xml_text):
    """Runs `binary -S -x` on the CIB text and returns a Result."""
    with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False) as f:
        f.write(xml_text)
        path = f.name
    try:
        for attempt in range(5):
            try:
                proc = subprocess.run([binary, "-S", "-x", path], capture_output=True,
                                      text=True, timeout=TIMEOUT_S,
                                      env=dict(os.environ, LC_ALL="C"))
                return Result(proc.returncode, block(proc.stdout), proc.stderr[-2000:])
            except subprocess.TimeoutExpired:
                return Result("timeout", None, "")
            except OSError as e:  # e.g. the binary is being rebuilt under us
                if attempt == 4:
                    return Result("exec-failed", None, str(e))
                time.sleep(2)
    finally:
        os.unlink(path)


def verdict(ref, ours):
    """'exact', 'any-order', or 'disagree' for a reference result and ours."""
    if not ours.ok:
        return "disagree"
    if ours.lines == ref.lines:
        return "exact"
    if sorted(ours.lines) == sorted(ref.lines):
        return "any-order"
    return "disagree"


def difference(ref, ours):
    """(lines only Pacemaker printed, lines only we printed), as multisets."""
    only_ref, only_ours = list(ref.lines or []), []
    for line in ours.lines or []:
        if line in only_ref:
            only_ref.remove(line)
        else:
            only_ours.append(line)
    return only_ref, only_ours


class Signature:
    """What makes a disagreement "the same one" while it is being minimized."""

    def __init__(self, ref, ours):
        self.ref_rc = ref.rc
        if not ours.ok:
            self.kind, self.side, self.line = "ours-failed", None, None
            return
        only_ref, only_ours = difference(ref, ours)
        if not only_ref and not only_ours:
            self.kind, self.side, self.line = "order", None, None
        elif only_ref:
            self.kind, self.side, self.line = "lines", "ref", only_ref[0]
        else:
            self.kind, self.side, self.line = "lines", "ours", only_ours[0]

    def holds(self, ref, ours):
        """True if (ref, ours) still shows this disagreement, with Pacemaker accepting it."""
        if ref.rc != self.ref_rc or ref.lines is None:
            return False
        if self.kind == "ours-failed":
            return not ours.ok
        if not ours.ok:
            return False
        only_ref, only_ours = difference(ref, ours)
        if self.kind == "order":
            return not only_ref and not only_ours and ref.lines != ours.lines
        return self.line in (only_ref if self.side == "ref" else only_ours)

    def __str__(self):
        if self.kind == "lines":
            who = "Pacemaker only" if self.side == "ref" else "ours only"
            return f"{who}: {self.line}"
        return {"ours-failed": "our simulator failed", "order": "same lines, other order"}[
            self.kind]


# --- reductions ------------------------------------------------------------------------------

REF_ATTRS = ("rsc", "with-rsc", "first", "then")


def _parents(root):
    return {child: parent for parent in root.iter() for child in parent}


def _remove(root, elements):
    parents = _parents(root)
    for el in elements:
        parent = parents.get(el)
        if parent is not None and el in list(parent):
            parent.remove(el)


def _constraints_mentioning(root, ids):
    """Constraints that refer to any resource id in `ids`."""
    found = []
    section = root.find("configuration/constraints")
    for con in list(section) if section is not None else []:
        refs = {con.get(a) for a in REF_ATTRS} | {r.get("id") for r in con.iter("resource_ref")}
        if refs & ids:
            found.append(con)
    return found


def _resource_ids(el):
    return {e.get("id") for e in el.iter() if e.tag in ("primitive", "group")}


def drop_resource(root, rid):
    """Removes resource `rid` (a primitive or a group with its members) and all that names it:
    constraints, status entries, fail counts. An emptied group goes too."""
    parents = _parents(root)
    el = next((e for e in root.iter() if e.tag in ("primitive", "group") and e.get("id") == rid),
              None)
    if el is None:  # went with its group earlier in the same chunk
        return
    ids = _resource_ids(el)
    parent = parents[el]
    parent.remove(el)
    if parent.tag == "group" and parent.find("primitive") is None:
        ids.add(parent.get("id"))
        parents[parent].remove(parent)
    _remove(root, _constraints_mentioning(root, ids))
    _drop_history(root, ids)


def _drop_history(root, ids):
    doomed = [e for e in root.iter("lrm_resource") if e.get("id") in ids]
    for nv in root.iter("nvpair"):
        m = re.match(r"(?:fail-count|last-failure)-(.+)#", nv.get("name", ""))
        if m and m.group(1) in ids:
            doomed.append(nv)
    _remove(root, doomed)


def dissolve_group(root, gid):
    """Replaces group `gid` by its members at the same place; constraints on it go."""
    parents = _parents(root)
    group = next((e for e in root.iter("group") if e.get("id") == gid), None)
    if group is None:
        return
    parent = parents[group]
    at = list(parent).index(group)
    parent.remove(group)
    for k, member in enumerate(m for m in group if m.tag == "primitive"):
        parent.insert(at + k, member)
    _remove(root, _constraints_mentioning(root, {gid}))


def drop_node(root, uname):
    """Removes node `uname`: its <node>, its node_state and constraints naming it."""
    node = next(e for e in root.iter("node") if e.get("uname") == uname)
    doomed = [node] + [e for e in root.iter("node_state") if e.get("uname") == uname]
    section = root.find("configuration/constraints")
    for con in list(section) if section is not None else []:
        if con.get("node") == uname or any(x.get("value") == uname
                                           for x in con.iter("expression")):
            doomed.append(con)
    _remove(root, doomed)
    if root.get("dc-uuid") == node.get("id"):
        online = [s for s in root.iter("node_state") if s.get("crmd") == "online"]
        if not online:
            raise ValueError("no node left to be the DC")
        root.set("dc-uuid", online[0].get("id"))


def _by_id(root, tag, ident):
    return [e for e in root.iter(tag) if e.get("id") == ident]


def candidates(root):
    """The kinds of removal units of a CIB: (label, list of units, apply(root, units))."""
    # Stonith devices stay: without one, Pacemaker starts nothing when fencing is enabled,
    # which would swamp whatever disagreement is being minimized.
    resources = [e.get("id") for e in root.iter() if e.tag in ("primitive", "group")
                 and e.get("class") != "stonith"]
    groups = [e.get("id") for e in root.iter("group")]
    nodes = [e.get("uname") for e in root.iter("node")]
    cons = root.find("configuration/constraints")
    constraint_ids = [c.get("id") for c in cons] if cons is not None else []
    refs = [(s.get("id"), r.get("id")) for s in root.iter("resource_set") for r in s]
    lrm = [(st.get("uname"), r.get("id")) for st in root.iter("node_state")
           for r in st.iter("lrm_resource")]
    transient = [nv.get("id") for ta in root.iter("transient_attributes")
                 for nv in ta.iter("nvpair")]
    # stonith-enabled stays: without it fencing defaults to on, a different scenario.
    config_nvpairs = [nv.get("id") for nv in root.find("configuration").iter("nvpair")
                      if nv.get("name") != "stonith-enabled"]
    on_fail = [op.get("id") for op in root.iter("op") if op.get("on-fail")]

    def each(fn):
        def apply(r, units):
            for u in units:
                fn(r, u)
        return apply

    def drop_lrm(r, unit):
        uname, rid = unit
        st = next(s for s in r.iter("node_state") if s.get("uname") == uname)
        _remove(r, [e for e in st.iter("lrm_resource") if e.get("id") == rid])

    def drop_ref(r, unit):
        sid, rid = unit
        for s in _by_id(r, "resource_set", sid):
            for ref in [x for x in s if x.get("id") == rid]:
                s.remove(ref)

    def drop_on_fail(r, oid):
        for op in _by_id(r, "op", oid):
            op.attrib.pop("on-fail", None)

    def drop_constraint(r, cid):
        section = r.find("configuration/constraints")
        _remove(r, [c for c in section if c.get("id") == cid])

    def drop_nvpair(r, nid):
        _remove(r, _by_id(r, "nvpair", nid))

    return [
        ("nodes", nodes, each(drop_node)),
        ("resources", resources, each(drop_resource)),
        ("groups", groups, each(dissolve_group)),
        ("constraints", constraint_ids, each(drop_constraint)),
        ("set members", refs, each(drop_ref)),
        ("history", lrm, each(drop_lrm)),
        ("transient attributes", transient, each(drop_nvpair)),
        ("nvpairs", config_nvpairs, each(drop_nvpair)),
        ("on-fail", on_fail, each(drop_on_fail)),
    ]


def _chunks(units, size):
    return [units[i:i + size] for i in range(0, len(units), size)]


class Minimizer:
    """Delta debugging of one disagreeing CIB."""

    def __init__(self, ours, reference, root, signature):
        self.ours, self.reference = ours, reference
        self.root, self.signature = root, signature
        self.tests = 0
        self.last = None  # (ref, ours) results of the current root

    def still_fails(self, candidate):
        try:
            text = gen_cib.to_string(candidate)
        except Exception:  # noqa: BLE001 - a reduction that broke the tree
            return False
        self.tests += 1
        ours = simulate(self.ours, text)
        ref = simulate(self.reference, text)
        if self.signature.holds(ref, ours):
            self.last = (ref, ours)
            return True
        return False

    def try_remove(self, label_index, units):
        candidate = copy.deepcopy(self.root)
        label, _, apply = candidates(candidate)[label_index]
        try:
            apply(candidate, units)
        except (ValueError, StopIteration, KeyError):
            return False
        if self.still_fails(candidate):
            self.root = candidate
            return True
        return False

    def run(self, max_tests=1500):
        """Reduces self.root until no single unit can go (or the test budget runs out)."""
        progress = True
        while progress and self.tests < max_tests:
            progress = False
            for index in range(len(candidates(self.root))):
                units = candidates(self.root)[index][1]
                size = max(1, len(units) // 2)
                while size >= 1 and units and self.tests < max_tests:
                    removed_any = False
                    for chunk in _chunks(units, size):
                        live = candidates(self.root)[index][1]
                        chunk = [u for u in chunk if u in live]
                        if chunk and self.try_remove(index, chunk):
                            removed_any = progress = True
                    units = candidates(self.root)[index][1]
                    if not removed_any:
                        size //= 2
                    size = min(size, max(1, len(units) // 2)) if units else 0
        self.tidy()
        return self.root

    def tidy(self):
        """Drops containers left empty by the reductions, if that changes nothing."""
        candidate = copy.deepcopy(self.root)
        containers = ("meta_attributes", "instance_attributes", "transient_attributes",
                      "lrm_resources", "lrm", "operations")
        while True:
            empty = [e for e in candidate.iter() if e.tag in containers and len(e) == 0]
            if not empty:
                break
            _remove(candidate, empty)
        if self.still_fails(candidate):
            self.root = candidate


def describe(root):
    """A compact text rendering of a (minimized) CIB, for reading disagreements quickly."""
    out = []
    opts = [f"{nv.get('name')}={nv.get('value')}"
            for nv in root.find("configuration/crm_config").iter("nvpair")]
    if root.get("have-quorum") in ("0", "false"):
        opts.append("no quorum")
    defaults = root.find("configuration/rsc_defaults")
    if defaults is not None:
        opts += [f"rsc_defaults {nv.get('name')}={nv.get('value')}" for nv in defaults.iter("nvpair")]
    out.append("options: " + ", ".join(opts))
    states = {s.get("uname"): s for s in root.iter("node_state")}
    nodes = []
    for node in root.iter("node"):
        st = states.get(node.get("uname"))
        if st is None:
            what = "unseen"
        elif st.get("crmd") == "online":
            what = "online"
        elif st.get("expected") == "member":
            what = "unclean"
        else:
            what = "offline"
        attrs = [f"{nv.get('name')}={nv.get('value')}" for nv in node.iter("nvpair")]
        nodes.append(f"{node.get('uname')}({what}{''.join(', ' + a for a in attrs)})")
    out.append("nodes: " + " ".join(nodes))

    def prim(p):
        meta = [f"{nv.get('name')}={nv.get('value')}" for m in p.findall("meta_attributes")
                for nv in m]
        meta += [f"{op.get('name')} on-fail={op.get('on-fail')}" for op in p.iter("op")
                 if op.get("on-fail")]
        return p.get("id") + (f"[{', '.join(meta)}]" if meta else "")

    rscs = []
    for r in root.find("configuration/resources"):
        if r.tag == "group":
            meta = [f"{nv.get('name')}={nv.get('value')}" for m in r.findall("meta_attributes")
                    for nv in m]
            rscs.append(f"{r.get('id')}{'[' + ', '.join(meta) + ']' if meta else ''}("
                        + " ".join(prim(p) for p in r.findall("primitive")) + ")")
        else:
            rscs.append(prim(r))
    out.append("resources: " + " ".join(rscs))
    for con in root.find("configuration/constraints"):
        sets = [" ".join(r.get("id") for r in rs) for rs in con.iter("resource_set")]
        if con.tag == "rsc_location":
            where = con.get("node")
            if where is None:
                rule = con.find("rule")
                expr = rule.find("expression")
                where = f"rule(#uname {expr.get('operation')} {expr.get('value')})"
                score = rule.get("score")
            else:
                score = con.get("score")
            out.append(f"location {con.get('rsc')} @ {where} = {score}")
        elif con.tag == "rsc_colocation":
            what = f"set({sets[0]})" if sets else f"{con.get('rsc')} with {con.get('with-rsc')}"
            out.append(f"colocation {what} = {con.get('score')}")
        elif con.tag == "rsc_order":
            what = f"set({sets[0]})" if sets else f"{con.get('first')} then {con.get('then')}"
            extra = f" symmetrical={con.get('symmetrical')}" if con.get("symmetrical") else ""
            out.append(f"order {what} {con.get('kind')}{extra}")
    for st in root.iter("node_state"):
        hist = []
        for lr in st.iter("lrm_resource"):
            ops = sorted({(int(o.get("call-id")), o.get("operation"), o.get("interval"),
                           o.get("rc-code")) for o in lr.iter("lrm_rsc_op")})
            hist.append(lr.get("id") + ":" + ",".join(
                f"{op}{'' if iv == '0' else '/' + iv}={rc}" for _, op, iv, rc in ops))
        attrs = [f"{nv.get('name')}={nv.get('value')}" for ta in st.iter("transient_attributes")
                 for nv in ta.iter("nvpair")]
        if hist or attrs:
            out.append(f"status {st.get('uname')}: " + " ".join(hist + attrs))
    return "\n".join(out)


# --- driving ---------------------------------------------------------------------------------

def parse_seeds(text):
    if "-" in text:
        a, b = text.split("-", 1)
        return list(range(int(a), int(b) + 1))
    return list(range(int(text)))


def run_seed(seed, args):
    """Generates, compares and (on disagreement) minimizes one seed; returns a report dict."""
    root = gen_cib.generate(seed)
    text = gen_cib.to_string(root)
    ref = simulate(args.reference, text)
    ours = simulate(args.ours, text)
    report = {"seed": seed, "ref_rc": ref.rc}
    if ref.lines is None:
        report["verdict"] = "reference-failed"
        report["detail"] = ref.stderr.strip().splitlines()[-1:] if ref.stderr else []
        return report
    report["verdict"] = verdict(ref, ours)
    if report["verdict"] != "disagree":
        return report
    signature = Signature(ref, ours)
    report["signature"] = str(signature)
    report["only_ref"], report["only_ours"] = difference(ref, ours)
    report["ours_error"] = "" if ours.ok else (ours.stderr.strip().splitlines() or [""])[-1]
    final_root, final = root, (ref, ours)
    if not args.no_minimize:
        m = Minimizer(args.ours, args.reference, root, signature)
        final_root = m.run()
        final = m.last or final
        report["tests"] = m.tests
    report["min_xml"] = gen_cib.to_string(final_root)
    report["min_ref"], report["min_ours"] = final[0].lines, final[1].lines
    report["min_ours_error"] = "" if final[1].ok else (
        final[1].stderr.strip().splitlines() or [f"exit {final[1].rc}"])[-1]
    report["size"] = (sum(1 for e in final_root.iter() if e.tag in ("primitive", "group")),
                      sum(1 for _ in final_root.iter("node")))
    return report


def record(report):
    os.makedirs(REGRESSIONS, exist_ok=True)
    base = os.path.join(REGRESSIONS, f"seed-{report['seed']}")
    with open(base + ".xml", "w") as f:
        f.write(report["min_xml"])
    with open(base + ".expected", "w") as f:
        f.write("Transition Summary:\n" + "".join(f"  {l}\n" for l in report["min_ref"]))
    with open(base + ".ours", "w") as f:
        if report["min_ours"] is None:
            f.write(f"(no Transition Summary: {report['min_ours_error']})\n")
        else:
            f.write("Transition Summary:\n" + "".join(f"  {l}\n" for l in report["min_ours"]))


def check(args):
    """Re-runs our simulator on the recorded regressions; prints which pass now."""
    names = sorted(n[:-4] for n in os.listdir(REGRESSIONS) if n.endswith(".xml")) \
        if os.path.isdir(REGRESSIONS) else []
    passed = 0
    for name in names:
        with open(os.path.join(REGRESSIONS, name + ".xml")) as f:
            ours = simulate(args.ours, f.read())
        with open(os.path.join(REGRESSIONS, name + ".expected")) as f:
            expected = block(f.read()) or []
        ok = ours.ok and sorted(ours.lines) == sorted(expected)
        passed += ok
        print(f"{'PASS' if ok else 'FAIL'} {name}")
    print(f"{passed} of {len(names)} recorded regressions pass (any order)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="200", help="N (seeds 0..N-1) or A-B (inclusive)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--record", action="store_true", help="write regressions/seed-N.*")
    parser.add_argument("--no-minimize", action="store_true")
    parser.add_argument("--check", action="store_true", help="re-run recorded regressions")
    parser.add_argument("--ours", default=DEFAULT_OURS)
    parser.add_argument("--reference", default=DEFAULT_REFERENCE)
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="print the minimized CIB of each disagreement")
    args = parser.parse_args()
    if not os.access(args.ours, os.X_OK):
        sys.exit(f"our crm_simulate is missing: {args.ours} (build the project first)")
    if args.check:
        check(args)
        return
    if not os.access(args.reference, os.X_OK):
        print(f"SKIP: Pacemaker's crm_simulate is not installed ({args.reference}); "
              "install pacemaker-cli-utils to run the differential test")
        return

    # Run a snapshot of our binary, so that a rebuild during the run cannot mix two versions.
    snapshot_dir = tempfile.mkdtemp(prefix="differential-")
    snapshot = os.path.join(snapshot_dir, "crm_simulate")
    shutil.copy2(args.ours, snapshot)
    args.ours = snapshot
    try:
        run_all(args)
    finally:
        shutil.rmtree(snapshot_dir, ignore_errors=True)


def run_all(args):
    """Runs every seed, prints the counts and the minimized disagreements."""
    seeds = parse_seeds(args.seeds)
    counts = {"exact": 0, "any-order": 0, "disagree": 0, "reference-failed": 0}
    reports = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for report in pool.map(lambda s: run_seed(s, args), seeds):
            counts[report["verdict"]] += 1
            reports.append(report)
            if report["verdict"] == "disagree":
                print(f"seed {report['seed']}: DISAGREE ({report['signature']})", flush=True)

    print(f"\n{len(seeds)} seeds: {counts['exact']} agree exactly, "
          f"{counts['any-order']} agree in another order, {counts['disagree']} disagree"
          + (f", {counts['reference-failed']} not comparable (Pacemaker printed no summary)"
             if counts["reference-failed"] else ""))
    nonzero = [r["seed"] for r in reports if r["ref_rc"] != 0]
    if nonzero:
        print(f"(Pacemaker exited non-zero, summary still compared, on seeds {nonzero})")
    for r in reports:
        if r["verdict"] != "disagree":
            continue
        print(f"\n=== seed {r['seed']}: {r['signature']}")
        for line in r["only_ref"]:
            print(f"  Pacemaker only: {line}")
        for line in r["only_ours"]:
            print(f"  ours only:      {line}")
        if r["ours_error"]:
            print(f"  our error: {r['ours_error']}")
        if "min_xml" in r:
            print(f"  minimized to {r['size'][0]} resources, {r['size'][1]} nodes"
                  + (f" in {r['tests']} tests" if "tests" in r else ""))
            print("  Pacemaker: " + " | ".join(r["min_ref"] or []))
            print("  ours:      " + (" | ".join(r["min_ours"]) if r["min_ours"] is not None
                                     else r["min_ours_error"]))
            if args.verbose:
                print("    " + describe(ET.fromstring(r["min_xml"])).replace("\n", "\n    "))
            if args.record:
                record(r)
    if args.record and counts["disagree"]:
        print(f"\nwrote {counts['disagree']} regression cases to {REGRESSIONS}")


if __name__ == "__main__":
    main()
