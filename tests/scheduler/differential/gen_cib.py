#!/usr/bin/env python3
"""Seeded generator of random small CIBs for the policy engine's differential test.

`generate(seed)` returns an `xml.etree.ElementTree.Element` (the `<cib>`), deterministic for a
given seed, that Pacemaker 2.1.5 accepts (validate-with="pacemaker-3.7", execution-date set):

- 3-5 nodes, node1..nodeN; most online, occasionally offline, in standby (node attribute) or
  unclean (expected member but gone from the membership);
- 5-20 primitives (ocf:heartbeat:Dummy or ocf:pacemaker:Dummy, no instance attributes, one
  recurring monitor), some of them in groups of 2-4 members; meta attributes now and then:
  resource-stickiness, target-role=Stopped, is-managed=false, migration-threshold,
  failure-timeout, and an on-fail on the monitor;
- location constraints (scores incl. INFINITY/-INFINITY, sometimes a rule on #uname),
  colocations (mandatory/advisory, positive/negative), orders (Mandatory/Optional, symmetrical or
  not, never a cycle), and sometimes a resource set in an order or a colocation;
- cluster options: stonith-enabled=false mostly; in about a quarter of the cases
  stonith-enabled=true with a stonith primitive; sometimes symmetric-cluster=false, no quorum
  with a no-quorum-policy, a default stickiness;
- a status section: each resource stopped, running on one node (start rc 0 plus its monitor),
  failed there (monitor rc 1, or a failed start with fail-count INFINITY), rarely active on two
  nodes; probes (monitor interval 0, rc 7) on the other nodes; now and then an orphan.

Every operation record carries op-digest f2317cad3d54cec5d7d7aa7d0bf35cf8, the digest of empty
parameters, which is what Pacemaker computes for these parameterless resources, so it never sees
a "resource definition change".

Usage: gen_cib.py SEED [OUTPUT]   (writes to stdout without OUTPUT)
"""
import random
import sys
import xml.etree.ElementTree as ET

EMPTY_DIGEST = "f2317cad3d54cec5d7d7aa7d0bf35cf8"  # md5(' <parameters/>\n')
# A recurring op's digest also covers its timeout: md5(' <parameters CRM_meta_timeout="20000"/>\n')
MONITOR_DIGEST = "4811cef7f7f94e3a35a70be7916cb2fd"
EXECUTION_DATE = 1700000000  # "now" for every generated CIB
FEATURE_SET = "3.16.1"  # Pacemaker 2.1.5 refuses updates with a newer one
TRANSITION_UUID = "d2b1f2b8-6c0e-4a3e-9f5e-000000000000"
MONITOR_MS = 10000


class _Builder:
    """Holds the random source and the pieces of one CIB while it is being built."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.seed = seed
        self.ids = set()

    def uid(self, base):
        """A fresh XML id starting with `base`."""
        candidate, n = base, 1
        while candidate in self.ids:
            n += 1
            candidate = f"{base}-{n}"
        self.ids.add(candidate)
        return candidate

    def chance(self, p):
        return self.rng.random() < p

    def score(self, allow_negative=True):
        """A constraint score: INFINITY/-INFINITY or a finite number."""
        choices = ["INFINITY"] * 3 + [str(self.rng.choice([5, 10, 50, 100, 200, 500, 1000]))] * 4
        if allow_negative:
            choices += ["-INFINITY"] * 3 + [str(-self.rng.choice([10, 100, 500, 1000]))] * 2
        return self.rng.choice(choices)


def _nvset(parent, tag, set_id, pairs):
    """Adds <tag id=set_id> with one <nvpair> per (name, value) under `parent`."""
    node = ET.SubElement(parent, tag, id=set_id)
    for name, value in pairs:
        ET.SubElement(node, "nvpair", id=f"{set_id}-{name}".replace("#", "-"), name=name,
                      value=value)
    return node


def _op(parent, rsc, operation, interval_ms, rc, call_id, node, op_id=None, expected_rc=0,
        when=EXECUTION_DATE - 3600):
    """Appends one <lrm_rsc_op> record (a completed operation) to `parent`."""
    key = f"{call_id}:1:{expected_rc}:{TRANSITION_UUID}"
    return ET.SubElement(parent, "lrm_rsc_op", {
        "id": op_id or f"{rsc}_{operation}_{interval_ms}",
        "operation_key": f"{rsc}_{operation}_{interval_ms}",
        "operation": operation,
        "crm-debug-origin": "do_update_resource",
        "crm_feature_set": FEATURE_SET,
        "transition-key": key,
        "transition-magic": f"0:{rc};{key}",
        "exit-reason": "" if rc in (0, 7) else "simulated failure",
        "on_node": node,
        "call-id": str(call_id),
        "rc-code": str(rc),
        "op-status": "0",
        "interval": str(interval_ms),
        "last-rc-change": str(when),
        "exec-time": "10",
        "queue-time": "0",
        "op-digest": MONITOR_DIGEST if interval_ms else EMPTY_DIGEST,
    })


def generate(seed):
    """Returns the <cib> element of the random CIB for `seed`."""
    b = _Builder(seed)
    rng = b.rng

    # --- nodes and their states ---------------------------------------------------------
    n_nodes = rng.randint(3, 5)
    nodes = [f"node{i}" for i in range(1, n_nodes + 1)]
    fencing = b.chance(0.25)
    state = {}
    for name in nodes:
        r = rng.random()
        if r < 0.08:
            state[name] = "offline"
        elif r < 0.08 + (0.10 if fencing else 0.03):
            state[name] = "unclean"
        else:
            state[name] = "online"
    if all(s != "online" for s in state.values()):
        state[nodes[0]] = "online"
    standby = {n for n in nodes if state[n] == "online" and b.chance(0.08)}
    dc = next(n for n in nodes if state[n] == "online")

    no_quorum = b.chance(0.07)
    cib = ET.Element("cib", {
        "crm_feature_set": FEATURE_SET, "validate-with": "pacemaker-3.7", "epoch": "10",
        "num_updates": "0", "admin_epoch": "0", "have-quorum": "0" if no_quorum else "1",
        "dc-uuid": str(nodes.index(dc) + 1), "execution-date": str(EXECUTION_DATE),
        "cib-last-written": "Tue Nov 14 22:13:20 2023",
    })
    configuration = ET.SubElement(cib, "configuration")

    # --- cluster options -------------------------------------------------------------------
    crm_config = ET.SubElement(configuration, "crm_config")
    options = [("stonith-enabled", "true" if fencing else "false")]
    if no_quorum:
        options.append(("no-quorum-policy", rng.choice(["stop", "freeze", "ignore"])))
    if b.chance(0.08):
        options.append(("symmetric-cluster", "false"))
    if b.chance(0.05):
        options.append(("start-failure-is-fatal", "false"))
    _nvset(crm_config, "cluster_property_set", "cib-bootstrap-options", options)

    node_section = ET.SubElement(configuration, "nodes")
    for i, name in enumerate(nodes, 1):
        node = ET.SubElement(node_section, "node", id=str(i), uname=name)
        if name in standby:
            _nvset(node, "instance_attributes", f"nodes-{i}", [("standby", "on")])

    # --- resources -------------------------------------------------------------------------
    resources = ET.SubElement(configuration, "resources")
    if fencing:
        ET.SubElement(resources, "primitive",
                      {"id": "fencing", "class": "stonith", "type": "fence_dummy"})
    n_rsc = rng.randint(5, 20)
    names = [f"rsc{i}" for i in range(1, n_rsc + 1)]
    # Groups: runs of consecutive primitives.
    groups, grouped, i, g = [], {}, 0, 0
    while i < n_rsc:
        if b.chance(0.2) and i + 1 < n_rsc:
            size = min(rng.randint(2, 4), n_rsc - i)
            g += 1
            groups.append((f"grp{g}", names[i:i + size]))
            for member in names[i:i + size]:
                grouped[member] = f"grp{g}"
            i += size
        else:
            i += 1
    group_el = {}
    migration_threshold = {}
    provider = {}
    for name in names:
        parent = resources
        gname = grouped.get(name)
        if gname:
            if gname not in group_el:
                group_el[gname] = ET.SubElement(resources, "group", id=gname)
                if b.chance(0.15):
                    _nvset(group_el[gname], "meta_attributes", f"{gname}-meta",
                           [("target-role", "Stopped")] if b.chance(0.5)
                           else [("resource-stickiness", str(rng.choice([50, 100, 1000])))])
            parent = group_el[gname]
        provider[name] = rng.choice(["heartbeat", "pacemaker"])
        prim = ET.SubElement(parent, "primitive", {
            "id": name, "class": "ocf", "provider": provider[name], "type": "Dummy"})
        meta = []
        if b.chance(0.15):
            meta.append(("resource-stickiness", rng.choice(["0", "50", "100", "1000", "INFINITY"])))
        if b.chance(0.10):
            meta.append(("target-role", rng.choice(["Stopped", "Started"])))
        if b.chance(0.05):
            meta.append(("is-managed", "false"))
        if b.chance(0.10):
            migration_threshold[name] = rng.choice([1, 2, 3])
            meta.append(("migration-threshold", str(migration_threshold[name])))
        if b.chance(0.05):
            meta.append(("failure-timeout", rng.choice(["60s", "2h"])))
        if meta:
            _nvset(prim, "meta_attributes", f"{name}-meta", meta)
        ops = ET.SubElement(prim, "operations")
        monitor = {"id": f"{name}-monitor-10s", "name": "monitor", "interval": "10s",
                   "timeout": "20s"}
        if b.chance(0.08):
            monitor["on-fail"] = rng.choice(
                ["ignore", "block", "stop", "restart", "standby"] + (["fence"] if fencing else []))
        ET.SubElement(ops, "op", monitor)
    if b.chance(0.15):
        _nvset(ET.SubElement(configuration, "rsc_defaults"), "meta_attributes", "rsc-options",
               [("resource-stickiness", str(rng.choice([1, 100, 500])))])

    # --- constraints -----------------------------------------------------------------------
    constraints = ET.SubElement(configuration, "constraints")
    top = [gname for gname, _ in groups] + [n for n in names if n not in grouped]
    rng.shuffle(top)
    # Location: mostly on top-level resources, sometimes on a group member.
    for k in range(rng.randint(0, max(1, n_rsc // 2))):
        rsc = rng.choice(top) if b.chance(0.85) else rng.choice(names)
        node = rng.choice(nodes)
        if b.chance(0.12):
            loc = ET.SubElement(constraints, "rsc_location", id=b.uid(f"loc-{rsc}"), rsc=rsc)
            rule = ET.SubElement(loc, "rule", id=b.uid(f"loc-{rsc}-rule"), score=b.score())
            ET.SubElement(rule, "expression", id=b.uid(f"loc-{rsc}-expr"), attribute="#uname",
                          operation=rng.choice(["eq", "ne"]), value=node)
        else:
            ET.SubElement(constraints, "rsc_location", id=b.uid(f"loc-{rsc}-{node}"), rsc=rsc,
                          node=node, score=b.score())
    # Colocation between distinct top-level resources, at most one per pair.
    pairs = set()
    for k in range(rng.randint(0, max(1, len(top) // 2))):
        if len(top) < 2:
            break
        rsc, with_rsc = rng.sample(top, 2)
        if (rsc, with_rsc) in pairs or (with_rsc, rsc) in pairs:
            continue
        pairs.add((rsc, with_rsc))
        ET.SubElement(constraints, "rsc_colocation", {
            "id": b.uid(f"col-{rsc}-{with_rsc}"), "rsc": rsc, "with-rsc": with_rsc,
            "score": b.score()})
    # Orders follow the shuffled `top` list, so they never form a cycle.
    for k in range(rng.randint(0, max(1, len(top) // 2))):
        if len(top) < 2:
            break
        i, j = sorted(rng.sample(range(len(top)), 2))
        attrs = {"id": b.uid(f"ord-{top[i]}-{top[j]}"), "first": top[i], "then": top[j],
                 "kind": rng.choice(["Mandatory", "Mandatory", "Optional"])}
        if b.chance(0.3):
            attrs["symmetrical"] = rng.choice(["true", "false"])
        ET.SubElement(constraints, "rsc_order", attrs)
    # Now and then a set: an ordered chain, or a colocation set.
    if len(top) >= 3 and b.chance(0.15):
        members = sorted(rng.sample(range(len(top)), 3))
        ordset = ET.SubElement(constraints, "rsc_order", id=b.uid("ord-set"),
                               kind=rng.choice(["Mandatory", "Optional"]))
        rset = ET.SubElement(ordset, "resource_set", id=b.uid("ord-set-0"))
        for m in members:
            ET.SubElement(rset, "resource_ref", id=top[m])
    if len(top) >= 3 and b.chance(0.10):
        members = rng.sample(top, rng.randint(2, 3))
        colset = ET.SubElement(constraints, "rsc_colocation", id=b.uid("col-set"),
                               score=rng.choice(["INFINITY", "100", "-INFINITY"]))
        rset = ET.SubElement(colset, "resource_set", id=b.uid("col-set-0"))
        for m in members:
            ET.SubElement(rset, "resource_ref", id=m)

    # --- status ----------------------------------------------------------------------------
    # Where each primitive is active: {rsc: [(node, how)]}, how in running/failed-monitor/
    # failed-start. Group members tend to be on their group's node.
    active = {n: [] for n in names}
    group_node = {gname: rng.choice(nodes) for gname, _ in groups}
    for name in names:
        r = rng.random()
        if r < 0.45:
            continue
        node = group_node.get(grouped.get(name)) if name in grouped and b.chance(0.8) else None
        node = node or rng.choice(nodes)
        how = "running"
        if r > 0.90:
            how = "failed-monitor"
        elif r > 0.85:
            how = "failed-start"
        active[name].append((node, how))
        if b.chance(0.03):
            other = rng.choice([n for n in nodes if n != node])
            active[name].append((other, "running"))
    orphans = []
    if b.chance(0.10):
        orphans.append(("orphan1", rng.choice(nodes)))

    status = ET.SubElement(cib, "status")
    for i, node in enumerate(nodes, 1):
        s = state[node]
        attrs = {"id": str(i), "uname": node}
        if s == "online":
            attrs.update({"in_ccm": "true", "crmd": "online", "join": "member",
                          "expected": "member"})
        elif s == "offline":
            attrs.update({"in_ccm": "false", "crmd": "offline", "join": "down",
                          "expected": "down"})
        else:  # unclean: the cluster expected it, it is gone
            attrs.update({"in_ccm": "false", "crmd": "offline", "join": "member",
                          "expected": "member"})
        node_state = ET.SubElement(status, "node_state", attrs)
        if s == "offline" and b.chance(0.5):
            continue  # no history recorded for it
        lrm = ET.SubElement(node_state, "lrm", id=str(i))
        lrm_resources = ET.SubElement(lrm, "lrm_resources")
        transient = []
        call = 1
        if fencing and (node == dc or b.chance(0.3)) and s == "online":
            entry = ET.SubElement(lrm_resources, "lrm_resource",
                                  {"id": "fencing", "type": "fence_dummy", "class": "stonith"})
            rc = 0 if node == dc else 7
            _op(entry, "fencing", "start" if rc == 0 else "monitor", 0, rc, call, node,
                op_id="fencing_last_0", expected_rc=rc)
            call += 1
        for name in names + [o for o, _ in orphans]:
            here = [how for n, how in active.get(name, []) if n == node]
            if name.startswith("orphan"):
                here = ["running"] if (name, node) in orphans else []
            if not here and not b.chance(0.85):
                continue  # never probed here
            prim_attrs = {"id": name, "type": "Dummy", "class": "ocf",
                          "provider": provider.get(name, "heartbeat")}
            entry = ET.SubElement(lrm_resources, "lrm_resource", prim_attrs)
            if not here:
                _op(entry, name, "monitor", 0, 7, call, node, op_id=f"{name}_last_0",
                    expected_rc=7)
                call += 1
                continue
            how = here[0]
            # A failure's record and its last-failure attribute carry the same time.
            failed_at = EXECUTION_DATE - rng.choice([30, 600, 86400])
            if how == "failed-start":
                _op(entry, name, "start", 0, 1, call, node, op_id=f"{name}_last_0",
                    when=failed_at)
                _op(entry, name, "start", 0, 1, call, node, op_id=f"{name}_last_failure_0",
                    when=failed_at)
                transient += [(f"fail-count-{name}#start_0", "INFINITY"),
                              (f"last-failure-{name}#start_0", str(failed_at))]
                call += 1
                continue
            _op(entry, name, "start", 0, 0, call, node, op_id=f"{name}_last_0",
                when=min(EXECUTION_DATE - 3600, failed_at - 60))
            call += 1
            if how == "failed-monitor":
                _op(entry, name, "monitor", MONITOR_MS, 1, call, node,
                    op_id=f"{name}_monitor_{MONITOR_MS}", when=failed_at)
                _op(entry, name, "monitor", MONITOR_MS, 1, call, node,
                    op_id=f"{name}_last_failure_0", when=failed_at)
                count = rng.choice([1, 1, 2, 3])
                transient += [(f"fail-count-{name}#monitor_{MONITOR_MS}", str(count)),
                              (f"last-failure-{name}#monitor_{MONITOR_MS}", str(failed_at))]
            else:
                _op(entry, name, "monitor", MONITOR_MS, 0, call, node,
                    op_id=f"{name}_monitor_{MONITOR_MS}")
            call += 1
        if transient:
            ta = ET.SubElement(node_state, "transient_attributes", id=str(i))
            _nvset(ta, "instance_attributes", f"status-{i}", transient)
    return cib


def to_string(cib):
    """Serializes a <cib> element, indented, with a trailing newline."""
    tree = ET.ElementTree(cib)
    ET.indent(tree, space="  ")
    return ET.tostring(cib, encoding="unicode") + "\n"


def main(argv):
    if len(argv) not in (2, 3):
        sys.exit(__doc__.split("\n\n")[-1])
    text = to_string(generate(int(argv[1])))
    if len(argv) == 3:
        with open(argv[2], "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv)
