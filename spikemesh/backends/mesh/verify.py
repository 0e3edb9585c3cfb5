"""``spikemesh verify DIR``: re-derive, from the mesh configuration alone (mesh_config.json and the
``section/config/*`` arrays; not the partition, placement, routes or tables sections), that

- every memory fits the target's limits: neuron slots, axon slots, synapse bits (explicit entries plus conv blocks:
  kernel weights on ``shared_kernels`` targets, unfolded taps otherwise), kernel entries, routing-table entries per
  router, weights in the signed ``weight_bits`` range, thresholds / resets / leaks / biases in the ``state_bits``
  range;
- the structure is whole: axon tables sorted and unique, every axon key sent by some core or host input and read by
  some synapse, every partial-sum core forwarding each lane to the same neuron on its merge core;
- every routing key reaches exactly the cores whose axon tables list it, through the tables (first matching entry
  per router), with no loop, no missing entry and no port off the mesh; the inter-chip links listed are the ones
  used;
- every synapse of the graph appears exactly once (source, target, port, delay, weight), checked against the graph
  when the build holds one (program.json), else no synapse appears twice.

Each problem is one line; the CLI exits 2 when there is any.

One module (a little over 400 lines) because the four checks share its problem report (``_Report``) and the
decoded entries and keys ``verify_config`` builds once; apart they would only pass those between files.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from spikemesh.backends.mesh.config import PARTIAL_SUM, ROLE_CODES, MeshConfig, load_config
from spikemesh.backends.mesh.image import Entries, Router, deliveries, entries, node_keys, senders
from spikemesh.ir.graph import Graph

#: problem lines kept per check (a summary line counts the rest)
MAX_LINES = 20


class _Report:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.count: dict[tuple[str, str], int] = defaultdict(int)

    def add(self, check: str, line: str, kind: str = "") -> None:
        """One problem line of ``check``; at most MAX_LINES are kept per (check, kind)."""
        self.count[(check, kind)] += 1
        if self.count[(check, kind)] <= MAX_LINES:
            self.lines.append(f"{check}: {line}")

    def finish(self) -> list[str]:
        more = [f"{k}: ... {n - MAX_LINES} more {kind + ' ' if kind else ''}problems"
                for (k, kind), n in self.count.items() if n > MAX_LINES]
        return self.lines + more


def _signed_range(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def _check_arrays(cfg: MeshConfig, rep: _Report) -> bool:
    """The pointer arrays are consistent (otherwise nothing else can be read)."""
    a = cfg.arrays
    C = cfg.n_cores
    ok = True
    for name, data in (("slot", "slot_node"), ("lane", "lane_alpha"), ("axon", "axon_key"), ("syn", "syn_axon")):
        p = a.get(f"{name}_ptr")
        if p is None or p.size != C + 1 or p[0] != 0 or np.any(np.diff(p) < 0) or p[-1] != a[data].shape[0]:
            rep.add("format", f"{name}_ptr is not a pointer array over {C} cores into {data}")
            ok = False
    if a["rt_ptr"].size != a["rt_router"].reshape(-1, 2).shape[0] + 1 or a["rt_ptr"][-1] != a["rt_key"].size:
        rep.add("format", "rt_ptr does not index rt_key per router")
        ok = False
    if a["conv_wptr"].size != len(cfg.header["conv_specs"]) + 1 or a["conv_wptr"][-1] != a["conv_weight"].size:
        rep.add("format", "conv_wptr does not index conv_weight per conv spec")
        ok = False
    return ok


def _kernel_entries(cfg: MeshConfig, b: int) -> int:
    """Kernel weights of block ``b`` that some (output, input) channel pair uses."""
    spec = cfg.header["conv_specs"][int(cfg["conv_spec"][b])]
    c0, c1 = (int(v) for v in cfg["conv_box"][b][:2])
    lo, hi = (int(v) for v in cfg["conv_cin"][b])
    taps = spec["kernel"][0] * spec["kernel"][1]
    if spec["groups"] == 1:
        return (c1 - c0) * (hi - lo) * taps
    g = np.arange(c0, c1) // spec["out_per_group"]
    n = np.minimum(hi, (g + 1) * spec["in_per_group"]) - np.maximum(lo, g * spec["in_per_group"])
    return int(np.maximum(n, 0).sum()) * taps


def _check_memory(cfg: MeshConfig, conv_syn: np.ndarray, rep: _Report) -> None:
    lim = cfg.header["target"]["limits"]
    shared = cfg.header["target"]["shared_kernels"]
    C = cfg.n_cores
    wb, sb = int(lim["weight_bits"]), int(lim["state_bits"])
    slots = np.diff(cfg["slot_ptr"])
    axons = np.diff(cfg["axon_ptr"])
    explicit = np.diff(cfg["syn_ptr"])
    conv_kern = np.zeros(C, np.int64)
    if cfg["conv_core"].size:
        kern = np.array([_kernel_entries(cfg, b) for b in range(cfg["conv_core"].size)], np.int64)
        conv_kern = np.bincount(cfg["conv_core"], weights=kern, minlength=C).astype(np.int64)
    bits = (explicit + (conv_kern if shared else conv_syn)) * wb
    kcap = lim.get("kernel_entries")
    for c in range(C):
        for what, used, cap in (("neurons", slots[c], lim["neurons"]), ("axons", axons[c], lim["axons"]),
                                ("synapse_bits", bits[c], lim["synapse_bits"]),
                                ("kernel_entries", conv_kern[c], kcap)):
            if cap is not None and used > cap:
                rep.add("memory", f"core {c}: {what} {int(used)} over the limit {int(cap)}", what)
    lo, hi = _signed_range(wb)
    for name in ("syn_weight", "conv_weight"):
        w = cfg[name]
        bad = np.flatnonzero((w < lo) | (w > hi))
        if bad.size:
            rep.add("memory", f"{name}: {bad.size} weights outside the signed {wb}-bit range [{lo}, {hi}] "
                              f"(first {int(w[bad[0]])} at entry {int(bad[0])})")
    lo, hi = _signed_range(sb)
    for name in ("slot_threshold", "slot_v_reset", "slot_leak", "lane_bias"):
        v = cfg[name]
        bad = np.flatnonzero(((v < lo) | (v > hi)).reshape(v.shape[0], -1).any(axis=1)) if v.size else []
        if len(bad):
            rep.add("memory", f"{name}: {len(bad)} values outside the signed {sb}-bit state range "
                              f"(first at index {int(bad[0])})")
    cap = lim.get("table_entries")
    if cap is not None:
        n = np.diff(cfg["rt_ptr"])
        for i in np.flatnonzero(n > cap):
            x, y = (int(v) for v in cfg["rt_router"].reshape(-1, 2)[i])
            rep.add("memory", f"router ({x},{y}): {int(n[i])} table entries over the limit {cap}", "table")


def _sender_of(cfg: MeshConfig, keys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted sender keys of node elements and their (node, flat index)."""
    k = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    node = np.concatenate([np.full(a.size, i) for i, a in enumerate(keys)]) if keys else np.zeros(0, np.int64)
    idx = np.concatenate([np.arange(a.size) for a in keys]) if keys else np.zeros(0, np.int64)
    m = k >= 0
    o = np.argsort(k[m], kind="stable")
    return k[m][o], node[m][o], idx[m][o]


def _check_structure(cfg: MeshConfig, ent: Entries, read: np.ndarray, keys: list[np.ndarray], rep: _Report) -> None:
    """``ent``: the explicit entries; ``read``: per axon slot, whether some entry (explicit or unfolded) reads it."""
    nb = cfg.neuron_bits
    C = cfg.n_cores
    ap, ak = cfg["axon_ptr"], cfg["axon_key"]
    lanes = np.diff(cfg["lane_ptr"])
    slots = np.diff(cfg["slot_ptr"])
    role = cfg["core_role"]
    for c in range(C):
        t = ak[ap[c]:ap[c + 1]]
        if t.size > 1 and np.any(np.diff(t) <= 0):
            rep.add("axons", f"core {c}: axon table not sorted and unique")
    # every axon key is sent by someone: a node element, or a partial-sum core's lane
    sk, _, _ = _sender_of(cfg, keys)
    pre, lane = ak >> nb, ak & ((1 << nb) - 1)
    psum_key = {int(cfg["core_key"][c]): c for c in np.flatnonzero(role == ROLE_CODES["partial_sum"])}
    known = np.isin(ak, sk)
    for i in np.flatnonzero(~known):
        c = psum_key.get(int(pre[i]))
        if c is None or lane[i] >= lanes[c]:
            core = int(np.searchsorted(ap, i, side="right") - 1)
            rep.add("axons", f"core {core}: axon slot {int(i - ap[core])} listens to key {int(ak[i])}, which no core "
                             "or host input sends")
    # every axon is read by a synapse
    for i in np.flatnonzero(~read):
        core = int(np.searchsorted(ap, i, side="right") - 1)
        rep.add("axons", f"core {core}: axon slot {int(i - ap[core])} (key {int(ak[i])}) is read by no synapse")
    # lanes in range
    bad = np.flatnonzero((ent.lane < 0) | (ent.lane >= lanes[ent.core]) | (ent.axon < 0)
                         | (ent.axon >= (ap[1:] - ap[:-1])[ent.core]))
    for i in bad[:3]:
        rep.add("synapses", f"core {int(ent.core[i])}: an entry addresses axon {int(ent.axon[i])} / lane "
                            f"{int(ent.lane[i])} outside the core")
    # partial sums: each lane forwarded once, to the same neuron of the merge core, with unit weight
    merge = cfg["core_merge"]
    sp = cfg["slot_ptr"]
    for c in np.flatnonzero(role == ROLE_CODES["partial_sum"]):
        m = int(merge[c])
        if not 0 <= m < C:
            rep.add("partial_sums", f"core {c}: merges into core {m}, which does not exist")
            continue
        seen, r = {int(c)}, m
        while merge[r] >= 0 and r not in seen:
            seen.add(r)
            r = int(merge[r])
        if role[r] != ROLE_CODES["neurons"]:
            rep.add("partial_sums", f"core {c}: its merge chain does not end at a neurons core")
        same = slots[c] == slots[m] and np.array_equal(cfg["slot_node"][sp[c]:sp[c + 1]],
                                                       cfg["slot_node"][sp[m]:sp[m + 1]]) and \
            np.array_equal(cfg["slot_index"][sp[c]:sp[c + 1]], cfg["slot_index"][sp[m]:sp[m + 1]])
        if not same:
            rep.add("partial_sums", f"core {c}: holds other neurons than its merge core {m}")
            continue
        a, b = int(cfg["syn_ptr"][m]), int(cfg["syn_ptr"][m + 1])  # explicit entries are in core order
        sel = np.zeros(len(ent), bool)
        sel[a:b] = (ent.proj[a:b] == PARTIAL_SUM) & (ent.axon[a:b] >= 0) & (ent.axon[a:b] < ap[m + 1] - ap[m])
        k = ak[ap[m] + ent.axon[sel]]
        mine = (k >> nb) == cfg["core_key"][c]
        got = np.zeros(int(lanes[c]), np.int64)
        ok_lane = mine & ((k & ((1 << nb) - 1)) == ent.lane[sel]) & (ent.weight[sel] == 1)
        np.add.at(got, np.clip(ent.lane[sel][mine], 0, max(int(lanes[c]) - 1, 0)), 1)
        if np.any(got != 1) or not np.all(ok_lane[mine]):
            rep.add("partial_sums", f"core {c}: its {int(lanes[c])} lanes are not each received once, as the same "
                                    f"lane with unit weight, by merge core {m}")


def _check_routing(cfg: MeshConfig, rep: _Report) -> None:
    nb = cfg.neuron_bits
    low = (1 << nb) - 1
    m = cfg["rt_mask"]
    for i in np.flatnonzero(m & low)[:MAX_LINES]:
        rep.add("routing", f"table entry {int(i)}: mask {int(m[i]):#x} tests neuron bits (below bit {nb})")
    router = Router(cfg)
    reach, probs, used = deliveries(cfg, router)
    ap, ak = cfg["axon_ptr"], cfg["axon_key"]
    listen: dict[int, set[int]] = defaultdict(set)
    core_of_axon = np.repeat(np.arange(cfg.n_cores), np.diff(ap))
    for pre, c in set(zip((ak >> nb).tolist(), core_of_axon.tolist())):
        listen[pre].add(c)
    for key, _, core, _ in senders(cfg):
        who = f"key {key}" + (f" (core {core})" if core >= 0 else " (host input)")
        for p in probs[key]:
            rep.add("routing", f"{who}: {p}")
        got, want = reach[key], listen.get(key, set()) | ({core} if core >= 0 else set())
        for c in sorted(want - got):
            rep.add("routing", f"{who}: does not reach core {c}, whose axon table lists it")
        for c in sorted(got - want):
            rep.add("routing", f"{who}: reaches core {c}, which does not listen to it")
    t = cfg.header["target"]
    cx, cy = t["cores_per_chip"]
    crossing = set()
    step = {0: (1, 0), 1: (-1, 0), 2: (0, 1), 3: (0, -1)}
    for gx, gy, d in used:
        nx, ny = gx + step[d][0], gy + step[d][1]
        if (nx // cx, ny // cy) != (gx // cx, gy // cy):
            crossing.add((gx // cx, gy // cy, gx % cx, gy % cy, d))
    listed = {tuple(int(v) for v in row) for row in cfg["link_interchip"].reshape(-1, 5)}
    for lk in sorted(crossing - listed):
        rep.add("links", f"inter-chip link {lk} is used but not listed")
    for lk in sorted(listed - crossing):
        rep.add("links", f"inter-chip link {lk} is listed but no key uses it")


def _dims(cfg: MeshConfig) -> tuple[int, int, int]:
    """Radices packing (source + 1, target, port, delay) into one int64 key."""
    n = max((int(np.prod(nd["shape"])) for nd in cfg.header["nodes"]), default=1)
    ports = max((int(nd.get("ports", 1)) for nd in cfg.header["nodes"]), default=1)
    return n, ports, int(cfg.header["max_delay"]) + 1


def _pack(src: np.ndarray, tgt: np.ndarray, port: np.ndarray, delay: np.ndarray, dims: tuple[int, int, int]
          ) -> np.ndarray:
    n, P, R = dims
    return (((src.astype(np.int64) + 1) * n + tgt) * P + port) * R + delay


def _unpack(k: int, dims: tuple[int, int, int]) -> tuple[int, int, int, int]:
    n, P, R = dims
    k, d = divmod(int(k), R)
    k, port = divmod(k, P)
    s1, t = divmod(k, n)
    return s1 - 1, t, port, d


def _synapse_keys(cfg: MeshConfig, ent: Entries, keys: list[np.ndarray], dims: tuple[int, int, int]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(packed synapse keys, weights) of the non-zero graph entries in ``ent``, sorted; source -1 = an axon key of
    no source element."""
    sk, _, sidx = _sender_of(cfg, keys)
    ap, ak = cfg["axon_ptr"], cfg["axon_key"]
    sp = cfg["slot_ptr"]
    n_slots = np.diff(sp)
    sel = (ent.proj >= 0) & (ent.weight != 0) & (ent.axon >= 0) & (ent.axon < (ap[1:] - ap[:-1])[ent.core])
    sel &= (ent.lane >= 0) & (ent.lane < np.diff(cfg["lane_ptr"])[ent.core])
    core, axon, lane = ent.core[sel], ent.axon[sel], ent.lane[sel]
    key = ak[ap[core] + axon]
    pos = np.clip(np.searchsorted(sk, key), 0, max(sk.size - 1, 0))
    src = np.where(sk[pos] == key, sidx[pos], -1) if sk.size else np.full(key.size, -1)
    n = np.maximum(n_slots[core], 1)
    tgt = cfg["slot_index"][sp[core] + lane % n].astype(np.int64)
    k = _pack(src, tgt, lane // n, ent.delay[sel].astype(np.int64), dims)
    w = ent.weight[sel].astype(np.int64)
    o = np.lexsort((w, k))
    return k[o], w[o]


def _graph_keys(graph: Graph, name: str, dims: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    from spikemesh.simulator.arrays import projection_parts

    pr = graph.projection[name]
    D = max((p.max_delay for p in graph.projections), default=0)
    parts, _ = projection_parts(graph, pr, True, D)
    ks, ws = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for r, c, w, d in parts:
        keep = w != 0
        n = int(keep.sum())
        ks.append(_pack(r[keep], c[keep].astype(np.int64), np.full(n, pr.port), np.full(n, d), dims))
        ws.append(w[keep].astype(np.int64))
    k, w = np.concatenate(ks), np.concatenate(ws)
    o = np.lexsort((w, k))
    return k[o], w[o]


def _runs(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of sorted ``k`` and the start of each run."""
    if not k.size:
        return k, np.zeros(0, np.int64)
    start = np.flatnonzero(np.concatenate([[True], k[1:] != k[:-1]]))
    return k[start], start


def _check_synapses(cfg: MeshConfig, explicit: Entries, keys: list[np.ndarray], graph: Graph | None,
                    rep: _Report) -> tuple[np.ndarray, np.ndarray]:
    """Per projection (its conv blocks unfolded one projection at a time, so memory stays bounded by the largest
    projection): its entries against the graph's synapses, or for duplicates without a graph. Returns per core the
    unfolded conv taps and per axon slot whether some entry reads it."""
    names = cfg.header["projections"]
    C = cfg.n_cores
    ap = cfg["axon_ptr"]
    dims = _dims(cfg)
    conv_syn = np.zeros(C, np.int64)
    read = np.zeros(cfg["axon_key"].size, bool)
    ok = (explicit.axon >= 0) & (explicit.axon < (ap[1:] - ap[:-1])[explicit.core])
    read[ap[explicit.core[ok]] + explicit.axon[ok]] = True
    if graph is not None and set(graph.projection) != set(names):
        rep.add("synapses", f"the configuration's projections {sorted(names)} are not the graph's "
                            f"{sorted(graph.projection)}")
        graph = None
    cproj = cfg["conv_proj"]
    for p, name in enumerate(names):
        ent = entries(cfg, keys=keys, blocks=np.flatnonzero(cproj == p), explicit=False)
        for c, n in ent.block_taps:
            conv_syn[c] += n
        for line in ent.problems:
            rep.add("synapses", line)
        read[ap[ent.core] + ent.axon] = True
        m = explicit.proj == p
        both = Entries(*(np.concatenate([getattr(explicit, f)[m], getattr(ent, f)])
                         for f in ("core", "axon", "lane", "weight", "delay", "proj")))
        del ent
        gk, gw = _synapse_keys(cfg, both, keys, dims)
        del both
        src, tgt = (graph.projection[name].source, graph.projection[name].target) if graph is not None else ("", "")

        def say(k: int, what: str, name: str = name, src: str = src, tgt: str = tgt) -> None:
            s_, t_, port, d = _unpack(k, dims)
            rep.add("synapses", f"{name}: synapse {src}[{s_}] -> {tgt}[{t_}] port {port} delay {d} {what}")

        ku, start = _runs(gk)
        cnt = np.diff(np.concatenate([start, [gk.size]]))
        for k in ku[cnt > 1][:MAX_LINES]:
            say(k, "appears more than once")
        if np.any(gk < dims[0] * dims[1] * dims[2]):
            rep.add("synapses", f"{name}: entries read an axon key of no source element")
        if graph is None:
            continue
        wk, ww = _graph_keys(graph, name, dims)
        if gk.shape == wk.shape and np.array_equal(gk, wk) and np.array_equal(gw, ww):
            continue
        wu, wstart = _runs(wk)
        for k in np.setdiff1d(wu, ku, assume_unique=True)[:MAX_LINES]:
            say(k, "is missing")
        for k in np.setdiff1d(ku, wu, assume_unique=True)[:MAX_LINES]:
            say(k, "is not in the graph")
        common, gi, wi = np.intersect1d(ku, wu, assume_unique=True, return_indices=True)
        if common.size:  # weights summed per synapse (a duplicate shows here too)
            gs = np.add.reduceat(gw, start)[gi] if gw.size else gw
            ws = np.add.reduceat(ww, wstart)[wi] if ww.size else ww
            for i in np.flatnonzero(gs != ws)[:MAX_LINES]:
                say(common[i], f"has weight {int(gs[i])}, the graph {int(ws[i])}")
    return conv_syn, read


def verify_config(cfg: MeshConfig, graph: Graph | None = None) -> list[str]:
    """Problems of ``cfg`` (module docstring), one line each; an empty list when it holds."""
    rep = _Report()
    if not _check_arrays(cfg, rep):
        return rep.finish()
    keys = node_keys(cfg)
    explicit = entries(cfg, keys=keys, blocks=np.zeros(0, np.int64))
    conv_syn, read = _check_synapses(cfg, explicit, keys, graph, rep)
    _check_memory(cfg, conv_syn, rep)
    _check_structure(cfg, explicit, read, keys, rep)
    _check_routing(cfg, rep)
    return rep.finish()


def _graph_of(directory: Path) -> Graph | None:
    """The graph stored in a build's program.json / weights.npz (None when absent or unreadable)."""
    import json

    from spikemesh.ir.serialize import graph_from_parts

    pj, wz = directory / "program.json", directory / "weights.npz"
    if not pj.is_file():
        return None
    try:
        head = json.loads(pj.read_text())
        with np.load(wz, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files if k.startswith("graph/")}
        return graph_from_parts(head["graph"], arrays, prefix="graph/")
    except Exception:  # noqa: BLE001  (a build without a readable graph is verified without it)
        return None


def verify_dir(directory: str | Path) -> tuple[list[str], dict[str, Any]]:
    """Load and verify a build directory's configuration: (problems, summary)."""
    d = Path(directory)
    cfg = load_config(d)
    graph = _graph_of(d)
    problems = verify_config(cfg, graph)
    summary = {**cfg.header["counts"], "graph": graph is not None}
    return problems, summary
