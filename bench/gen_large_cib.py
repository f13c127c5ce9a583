#!/usr/bin/env python3
"""Generates a large CIB (configuration + status) for the policy engine benchmark.

  gen_large_cib.py --nodes N --resources R [--seed S] [--probes all|none] OUTPUT

The cluster (deterministic for a given seed):
- N nodes node1..nodeN; the last one is unclean (the cluster expected it, it left the
  membership), so it must be fenced before its resources are recovered elsewhere;
  stonith-enabled=true and one stonith device, "fencing" (stonith:fence_dummy), running on node1;
- R primitives ocf:heartbeat:Dummy (no parameters, a 10 s monitor); about a third of them in
  groups of 3-5 members, the rest standalone;
- constraints: locations for about 1 resource in 10 (finite scores, a few +/-INFINITY),
  colocations and orders for about 1 in 25 between standalone resources and groups (orders
  always from an earlier to a later one, so never a cycle);
- status: about 90% of the resources running (start and monitor recorded), spread over the
  nodes group by group, a few with a failed monitor; with --probes all (the default) every
  other resource/node pair has a probe (monitor interval 0, rc 7), as in a real cluster.

Operation records carry the digests Pacemaker computes for these parameterless resources, so
nothing is restarted for a "definition change".
"""
import argparse
import random
import xml.etree.ElementTree as ET

EXECUTION_DATE = 1700000000
FEATURE_SET = "3.16.1"
EMPTY_DIGEST = "f2317cad3d54cec5d7d7aa7d0bf35cf8"    # md5(' <parameters/>\n')
MONITOR_DIGEST = "4811cef7f7f94e3a35a70be7916cb2fd"  # with CRM_meta_timeout="20000"
UUID = "8f1e6c1c-0000-4000-8000-000000000000"


def nvset(parent, tag, set_id, pairs):
    """Adds <tag id=set_id> holding one nvpair per (name, value)."""
    el = ET.SubElement(parent, tag, id=set_id)
    for name, value in pairs:
        ET.SubElement(el, "nvpair", id=f"{set_id}-{name}", name=name, value=value)
    return el


def add_op(parent, rsc, node, operation, interval_ms, rc, call_id, op_id, expected_rc=0):
    """Appends one completed <lrm_rsc_op> to an <lrm_resource>."""
    key = f"{call_id}:1:{expected_rc}:{UUID}"
    ET.SubElement(parent, "lrm_rsc_op", {
        "id": op_id, "operation_key": f"{rsc}_{operation}_{interval_ms}",
        "operation": operation, "crm_feature_set": FEATURE_SET, "transition-key": key,
        "transition-magic": f"0:{rc};{key}", "on_node": node, "call-id": str(call_id),
        "rc-code": str(rc), "op-status": "0", "interval": str(interval_ms),
        "last-rc-change": str(EXECUTION_DATE - 3600), "exec-time": "10", "queue-time": "0",
        "op-digest": MONITOR_DIGEST if interval_ms else EMPTY_DIGEST})


def generate(n_nodes, n_rsc, seed=1, probes=True):
    """Returns the <cib> element of the benchmark cluster."""
    rng = random.Random(seed)
    nodes = [f"node{i}" for i in range(1, n_nodes + 1)]
    failed_node = nodes[-1]
    cib = ET.Element("cib", {
        "crm_feature_set": FEATURE_SET, "validate-with": "pacemaker-3.7", "epoch": "1",
        "num_updates": "0", "admin_epoch": "0", "have-quorum": "1", "dc-uuid": "1",
        "execution-date": str(EXECUTION_DATE)})
    conf = ET.SubElement(cib, "configuration")
    nvset(ET.SubElement(conf, "crm_config"), "cluster_property_set", "cib-bootstrap-options",
          [("stonith-enabled", "true"), ("no-quorum-policy", "stop")])
    node_section = ET.SubElement(conf, "nodes")
    for i, name in enumerate(nodes, 1):
        ET.SubElement(node_section, "node", id=str(i), uname=name)

    resources = ET.SubElement(conf, "resources")
    ET.SubElement(resources, "primitive",
                  {"id": "fencing", "class": "stonith", "type": "fence_dummy"})
    # Units: ("group", name, [members]) or ("primitive", name, [name]).
    units, made, g = [], 0, 0
    grouped_target = n_rsc // 3
    while made < n_rsc:
        if made < grouped_target:
            size = min(rng.randint(3, 5), n_rsc - made)
            g += 1
            units.append(("group", f"grp{g}", [f"rsc{made + k + 1}" for k in range(size)]))
            made += size
        else:
            made += 1
            units.append(("primitive", f"rsc{made}", [f"rsc{made}"]))
    rng.shuffle(units)

    def primitive(parent, name):
        p = ET.SubElement(parent, "primitive",
                          {"id": name, "class": "ocf", "provider": "heartbeat", "type": "Dummy"})
        ops = ET.SubElement(p, "operations")
        ET.SubElement(ops, "op", id=f"{name}-monitor-10s", name="monitor", interval="10s",
                      timeout="20s")

    for kind, name, members in units:
        if kind == "group":
            grp = ET.SubElement(resources, "group", id=name)
            for m in members:
                primitive(grp, m)
        else:
            primitive(resources, name)
    nvset(ET.SubElement(conf, "rsc_defaults"), "meta_attributes", "rsc-options",
          [("resource-stickiness", "100")])

    constraints = ET.SubElement(conf, "constraints")
    names = [name for _, name, _ in units]
    for k in range(max(1, n_rsc // 10)):
        rsc, node = rng.choice(names), rng.choice(nodes)
        score = rng.choice(["INFINITY", "-INFINITY"] + [str(rng.choice([50, 100, 500, -200]))] * 8)
        ET.SubElement(constraints, "rsc_location", id=f"loc{k}", rsc=rsc, node=node, score=score)
    for k in range(max(1, n_rsc // 25)):
        a, b = rng.sample(names, 2)
        ET.SubElement(constraints, "rsc_colocation", {
            "id": f"col{k}", "rsc": a, "with-rsc": b,
            "score": rng.choice(["INFINITY", "500", "-500", "-INFINITY"])})
    for k in range(max(1, n_rsc // 25)):
        i, j = sorted(rng.sample(range(len(names)), 2))
        ET.SubElement(constraints, "rsc_order", id=f"ord{k}", first=names[i], then=names[j],
                      kind=rng.choice(["Mandatory", "Optional"]))

    status = ET.SubElement(cib, "status")
    lrms, transient, calls = {}, {}, {}
    for i, name in enumerate(nodes, 1):
        if name == failed_node:
            attrs = {"in_ccm": "false", "crmd": "offline", "join": "member",
                     "expected": "member"}
        else:
            attrs = {"in_ccm": "true", "crmd": "online", "join": "member",
                     "expected": "member"}
        st = ET.SubElement(status, "node_state", id=str(i), uname=name, **attrs)
        lrms[name] = ET.SubElement(ET.SubElement(st, "lrm", id=str(i)), "lrm_resources")
        transient[name] = st
        calls[name] = 1

    def history(rsc, node, how):
        entry = ET.SubElement(lrms[node], "lrm_resource",
                              {"id": rsc, "type": "Dummy", "class": "ocf",
                               "provider": "heartbeat"})
        call = calls[node]
        calls[node] += 2
        if how == "probe":
            add_op(entry, rsc, node, "monitor", 0, 7, call, f"{rsc}_last_0", expected_rc=7)
            return
        add_op(entry, rsc, node, "start", 0, 0, call, f"{rsc}_last_0")
        rc = 1 if how == "failed" else 0
        add_op(entry, rsc, node, "monitor", 10000, rc, call + 1, f"{rsc}_monitor_10000")
        if rc:
            add_op(entry, rsc, node, "monitor", 10000, rc, call + 1, f"{rsc}_last_failure_0")
            ta = transient[node].find("transient_attributes")
            if ta is None:
                ta = ET.SubElement(transient[node], "transient_attributes",
                                   id=transient[node].get("id"))
                ET.SubElement(ta, "instance_attributes", id=f"status-{ta.get('id')}")
            ia = ta.find("instance_attributes")
            ET.SubElement(ia, "nvpair", id=f"{ia.get('id')}-fail-count-{rsc}",
                          name=f"fail-count-{rsc}#monitor_10000", value="1")

    fencing_entry = ET.SubElement(lrms[nodes[0]], "lrm_resource",
                                  {"id": "fencing", "type": "fence_dummy", "class": "stonith"})
    add_op(fencing_entry, "fencing", nodes[0], "start", 0, 0, 1, "fencing_last_0")
    calls[nodes[0]] = 2
    for u, (kind, name, members) in enumerate(units):
        home = nodes[u % n_nodes]
        running = rng.random() < 0.9
        for m in members:
            where = home if running else None
            for node in nodes:
                if node == where:
                    history(m, node, "failed" if rng.random() < 0.01 else "running")
                elif probes:
                    history(m, node, "probe")
    return cib


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, required=True)
    parser.add_argument("--resources", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--probes", choices=["all", "none"], default="all")
    parser.add_argument("output")
    args = parser.parse_args()
    cib = generate(args.nodes, args.resources, args.seed, args.probes == "all")
    ET.ElementTree(cib).write(args.output, encoding="unicode")


if __name__ == "__main__":
    main()
