"""Partition: hand-computed geometry, and property tests on random graphs and targets checked against an
independent neuron-level accounting built from ``graph.projection_csr``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import spikemesh
from spikemesh.errors import PartitionError
from spikemesh.ir import (
    IF,
    AvgPool2d,
    Conv2d,
    Dense,
    Flatten,
    Graph,
    Identity,
    Input,
    Output,
    Population,
    Projection,
)
from spikemesh.partition import Partition, PartitionInfeasible, partition
from spikemesh.partition.geometry import box_flat, box_span, classify, flat_range_boxes, view_shape
from spikemesh.target.model import CoreSpec, Target

STRATS = ["slicing", "tiles", "groups"]


def _target(neurons: int, axons: int, bits: int, partial: bool = True, shared: bool = False, grid: int = 64) -> Target:
    feats = {"IF"} | ({"partial_sums"} if partial else set()) | ({"shared_kernels"} if shared else set())
    return Target(name="t", cores_x=grid, cores_y=grid, core=CoreSpec(neurons, axons, bits, weight_bits=8),
                  features=frozenset(feats))


# ------------------------------------------------------------------------------------------- hand-computed
def test_conv_axis_receptive_field_by_hand() -> None:
    g = Graph(inputs=(Input("in", (1, 6, 6)),), populations=(Population("c", (2, 6, 6), IF()),),
              projections=(Projection("p", "in", "c", (Conv2d(np.ones((2, 1, 3, 3)), padding=1),)),),
              outputs=(Output("o", "c"),))
    geo = classify(g, g.projection["p"])
    rows, taps = geo.axis(0, 0, 2)
    # output rows 0,1 read input rows -1..2 -> {0, 1, 2}; valid taps: row 0 has 2, row 1 has 3
    assert rows.tolist() == [0, 1, 2] and taps == 5
    # box: channel 1, rows 0-1, cols 2-3 -> sources rows {0,1,2} x cols {1..4}; synapses 1 * 5 * (3 + 3)
    box = (1, 2, 0, 2, 2, 4)
    assert len(geo.source_flat(box, 0, 1)) == 3 * 4
    assert geo.counts(box, 0, 1) == (30, 9)


def test_box_span_is_the_first_and_last_flat_index() -> None:
    rng = np.random.default_rng(0)
    view = (5, 7, 6)
    assert box_span((1, 1, 0, 7, 0, 6), view) is None
    for _ in range(200):
        c0, h0, w0 = (int(rng.integers(0, v)) for v in view)
        b = (c0, int(rng.integers(c0 + 1, 6)), h0, int(rng.integers(h0 + 1, 8)), w0, int(rng.integers(w0 + 1, 7)))
        f = box_flat(b, view)
        assert box_span(b, view) == (int(f[0]), int(f[-1]) + 1)


def test_flat_range_boxes_cover_exactly() -> None:
    view = (3, 4, 5)
    for a, b in [(0, 60), (3, 17), (7, 8), (19, 41), (0, 20), (5, 25)]:
        boxes = flat_range_boxes(a, b, view)
        got = np.zeros(60, int)
        for bx in boxes:
            m = np.zeros(view, int)
            m[bx[0]:bx[1], bx[2]:bx[3], bx[4]:bx[5]] = 1
            got += m.reshape(-1)
        want = np.zeros(60, int)
        want[a:b] = 1
        assert np.array_equal(got, want) and len(boxes) <= 5


# ------------------------------------------------------------------------------------------- random graphs
@st.composite
def graphs(draw: st.DrawFn) -> Graph:
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    c0 = draw(st.integers(1, 3))
    hw = draw(st.integers(3, 7))
    c1 = draw(st.integers(1, 6))
    k = draw(st.sampled_from([1, 3]))
    stride = draw(st.integers(1, 2))
    pad = draw(st.integers(0, k // 2))
    groups = draw(st.sampled_from([1, c0])) if c1 % c0 == 0 else 1
    conv = Conv2d(rng.normal(size=(c1, c0 // groups, k, k)), stride=stride, padding=pad, groups=groups)
    h1 = (hw + 2 * pad - k) // stride + 1
    pops = [Population("a", (c1, h1, h1), IF())]
    projs = [Projection("in>a", "in", "a", (conv,))]
    c2 = draw(st.integers(1, 5))
    pops.append(Population("b", (c2, h1, h1), IF()))
    projs.append(Projection("a>b", "a", "b", (Conv2d(rng.normal(size=(c2, c1, 3, 3)), padding=1),)))
    if c2 == c1 and draw(st.booleans()):
        projs.append(Projection("a>b:res", "a", "b", (Identity(),)))
    n_out = draw(st.integers(1, 12))
    if draw(st.booleans()) and h1 % 2 == 0:
        ops = (AvgPool2d(2), Flatten(), Dense(rng.normal(size=(n_out, c2 * (h1 // 2) ** 2))))
    else:
        ops = (Flatten(), Dense(rng.normal(size=(n_out, c2 * h1 * h1))))
    pops.append(Population("fc", (n_out,), IF()))
    projs.append(Projection("b>fc", "b", "fc", ops))
    return Graph(inputs=(Input("in", (c0, hw, hw)),), populations=tuple(pops), projections=tuple(projs),
                 outputs=(Output("o", "fc"),))


@st.composite
def targets(draw: st.DrawFn) -> Target:
    return _target(neurons=draw(st.integers(4, 64)), axons=draw(st.integers(16, 400)),
                   bits=draw(st.integers(8 * 64, 8 * 6000)), partial=draw(st.booleans()),
                   shared=draw(st.booleans()))


def _unit_of(graph: Graph, proj: Projection) -> np.ndarray:
    """Independent unit index of each source neuron: its channel (conv / element-wise) or its flat index."""
    geo = classify(graph, proj)
    n = math.prod(graph.shape_of(proj.source))
    c, h, w = view_shape(graph.shape_of(proj.source))
    if geo.kind in ("conv", "elementwise"):
        return np.arange(n) // (h * w)
    return np.arange(n)


def check_partition(graph: Graph, tgt: Target, part: Partition) -> None:
    lim = {"neurons": tgt.core.neurons, "axons": tgt.core.axons, "synapse_bits": tgt.core.synapse_bits}
    # no core exceeds any limit
    for core in part.cores:
        for r, cap in lim.items():
            assert core.use[r] <= cap, (core.index, r, core.use[r], cap)
    # every neuron is in exactly one neuron-holding core (boxes cover each population exactly once)
    for pop in graph.populations:
        cover = np.zeros(view_shape(pop.shape), int)
        for core in part.cores:
            if core.role == "neurons":
                for b in core.boxes.get(pop.name, ()):
                    cover[b[0]:b[1], b[2]:b[3], b[4]:b[5]] += 1
        assert np.all(cover == 1), pop.name
        nc = part.neuron_core[pop.name]
        assert nc.shape == (pop.size,)
        for i in np.unique(nc):
            assert part.cores[i].role == "neurons" and pop.name in part.cores[i].layers
    # every synapse is accounted once; per-core synapses and axons equal the neuron-level CSR count
    seen = {p.name: sp.csr_matrix(graph.projection_csr(p, structure=True).shape, dtype=np.int64)
            for p in graph.projections}
    csrs = {p.name: (graph.projection_csr(p, structure=True) != 0).astype(np.int64).tocsc() for p in graph.projections}
    units = {p.name: _unit_of(graph, p) for p in graph.projections}
    remote = 0
    feeds = {}
    for core in part.cores:
        if core.merge_into is not None:
            feeds[core.merge_into] = feeds.get(core.merge_into, 0) + core.use["neurons"]
    for core in part.cores:
        merge = core.index in feeds
        if merge and core.inputs == {}:
            assert core.use["axons"] == feeds[core.index] and core.use["synapses"] == 0
            continue  # merge core receiving partial sums only
        srcs: dict[str, set[int]] = {}
        syn = 0
        for layer in core.layers:
            cols = np.flatnonzero(np.isin(np.arange(graph.population[layer].size),
                                          np.concatenate([np.ravel_multi_index(np.mgrid[b[0]:b[1], b[2]:b[3], b[4]:b[5]]
                                                                               .reshape(3, -1),
                                                                               view_shape(graph.population[layer]
                                                                                          .shape))
                                                          for b in core.boxes[layer]])))
            for proj in graph.incoming(layer):
                partial = core.role == "partial_sum" or merge
                if partial and proj.name not in core.inputs:
                    continue
                sub = csrs[proj.name][:, cols].tocsr()
                if partial:
                    u0, u1 = core.inputs[proj.name]
                    keep = (units[proj.name] >= u0) & (units[proj.name] < u1)
                    sub = sp.diags(keep.astype(np.int64)) @ sub
                sub.eliminate_zeros()
                syn += sub.nnz
                full = sp.csr_matrix((sub.data, sub.indices, sub.indptr), shape=(sub.shape[0], len(cols)))
                scatter = sp.csr_matrix((np.ones(len(cols), np.int64), (np.arange(len(cols)), cols)),
                                        shape=(len(cols), graph.population[layer].size))
                seen[proj.name] = seen[proj.name] + full @ scatter
                srcs.setdefault(proj.source, set()).update(np.flatnonzero(np.diff(sub.indptr)).tolist())
        assert core.use["synapses"] == syn, core
        assert core.use["axons"] == sum(len(s) for s in srcs.values()) + feeds.get(core.index, 0), core
        for src, s in srcs.items():
            if src in graph.population:
                remote += sum(1 for i in s if part.neuron_core[src][i] != core.index)
            else:
                remote += len(s)
    for p in graph.projections:
        m = seen[p.name].tocoo()
        assert m.nnz == csrs[p.name].nnz and np.all(m.data == 1), p.name
    assert part.report["remote_spike_copies"] == pytest.approx(remote)
    assert part.report["cores"] == len(part.cores)
    check_trees(part)


def check_trees(part: Partition) -> None:
    """Partial-sum cores form trees: following merge_into from any partial-sum core reaches a neuron-holding core
    with the same boxes, without cycles; each forward is one copy per neuron in the traffic matrix."""
    psum_rows = {(int(a), int(b)): c for a, b, c in part.traffic if a >= 0}
    for core in part.cores:
        if core.role != "partial_sum":
            assert core.merge_into is None
            continue
        seen = {core.index}
        node = core
        while node.role == "partial_sum":
            assert node.merge_into is not None and node.merge_into not in seen
            nxt = part.cores[node.merge_into]
            assert nxt.boxes == node.boxes
            assert psum_rows.get((node.index, nxt.index), 0) >= node.use["neurons"]
            seen.add(nxt.index)
            node = nxt


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs(), targets(), st.sampled_from(STRATS))
def test_random_graphs_fit_limits_and_account_every_synapse(graph: Graph, tgt: Target, strategy: str) -> None:
    try:
        part = partition(graph, tgt, strategy, seed=3, time_limit=2.0)
        event("feasible")
    except PartitionInfeasible as e:
        event("infeasible")
        assert e.problems or e.min_cores
        for p in e.problems:
            assert p.needed > p.available
        return
    check_partition(graph, tgt, part)
    again = partition(graph, tgt, strategy, seed=3, time_limit=2.0)
    assert again == part
    assert again.to_parts()[0] == part.to_parts()[0]  # the whole section incl. the report (no timings) repeats
    meta, arrays = part.to_parts()
    assert Partition.from_parts(meta, arrays) == part


def test_groups_never_worse_than_manual_tiles(conv_graph: Graph) -> None:
    for tgt in (_target(32, 64, 8 * 2000), _target(64, 128, 8 * 8000), _target(256, 4096, 8 * 10**6)):
        g = partition(conv_graph, tgt, "groups", time_limit=5.0)
        t = partition(conv_graph, tgt, "tiles")
        assert g.report["cores"] <= t.report["cores"]
        assert g.report["cores"] >= g.report["lower_bound_cores"]
        check_partition(conv_graph, tgt, g)


# ------------------------------------------------------------------------------------------- infeasibility
def _wide(n_in: int) -> Graph:
    rng = np.random.default_rng(0)
    return Graph(inputs=(Input("in", (n_in,)),),
                 populations=(Population("h1", (8,), IF()), Population("h2", (8,), IF())),
                 projections=(Projection("a", "in", "h1", (Dense(rng.normal(size=(8, n_in))),)),
                              Projection("b", "h1", "h2", (Dense(rng.normal(size=(8, 8))),)),
                              Projection("c", "in", "h2", (Dense(rng.normal(size=(8, n_in))),))),
                 outputs=(Output("o", "h2"),))


@pytest.mark.parametrize("strategy", STRATS)
def test_every_unfit_layer_is_named(strategy: str) -> None:
    tgt = _target(16, 64, 8 * 10**5, partial=False)
    with pytest.raises(PartitionInfeasible) as ei:
        partition(_wide(100), tgt, strategy)
    e = ei.value
    assert [p.layer for p in e.problems] == ["h1", "h2"]
    assert e.problems[0].resource == "axons" and e.problems[0].needed == 100 and e.problems[0].available == 64
    assert e.problems[1].needed == 108  # 100 inputs + 8 from h1
    assert "h1" in str(e) and "h2" in str(e) and isinstance(e, PartitionError)
    # the same graph fits with partial sums
    part = partition(_wide(100), _target(16, 64, 8 * 10**5, partial=True), strategy)
    check_partition(_wide(100), _target(16, 64, 8 * 10**5), part)
    assert part.report["partial_sum_cores"] > 0


def test_too_small_target_reports_minimum_chips(conv_graph: Graph) -> None:
    tgt = Target(name="tiny", cores_x=1, cores_y=1, core=CoreSpec(16, 1024, 10**6), features=frozenset({"IF"}))
    with pytest.raises(PartitionInfeasible) as ei:
        partition(conv_graph, tgt, "slicing")
    e = ei.value
    need = partition(conv_graph, tgt, "slicing", check_capacity=False).report["cores"]
    assert e.min_cores == need and e.min_chips == need and e.min_grid == (math.ceil(math.sqrt(need)),) * 2


def test_shared_kernels_store_each_kernel_once() -> None:
    rng = np.random.default_rng(1)
    g = Graph(inputs=(Input("in", (2, 6, 6)),), populations=(Population("c", (4, 6, 6), IF()),),
              projections=(Projection("p", "in", "c", (Conv2d(rng.normal(size=(4, 2, 3, 3)), padding=1),)),),
              outputs=(Output("o", "c"),))
    syn = g.projection_stats(g.projection["p"])["synapses"]
    expanded = partition(g, _target(256, 4096, 10**7, shared=False), "tiles")
    shared = partition(g, _target(256, 4096, 10**7, shared=True), "tiles")
    assert expanded.n_cores == shared.n_cores == 1
    assert expanded.cores[0].use["synapse_bits"] == syn * 8  # one 8-bit weight per synapse
    assert shared.cores[0].use["synapse_bits"] == 4 * 2 * 3 * 3 * 8  # the kernel once
    assert expanded.report["storage_rule"] == "one weight per synapse"
    assert shared.report["storage_rule"] == "shared kernels"


# ------------------------------------------------------------------------------------------- pipeline / CLI
def test_compile_adds_partition_section(conv_graph: Graph, tmp_path) -> None:
    prog = spikemesh.compile(conv_graph, "tianjic", strategy="slicing")
    rep = prog.report["partition"]
    for key in ("cores", "cores_per_layer", "lower_bound_cores", "utilisation", "remote_spike_copies",
                "max_core_load", "strategy", "seconds"):
        assert key in rep
    assert rep["strategy"] == "slicing" and prog.partition.n_cores == rep["cores"]
    out = prog.save(tmp_path / "b")
    back = spikemesh.Program.load(out)
    assert back.partition == prog.partition
    assert (out / "partition.json").is_file()


def test_rates_from_sample_input_weight_traffic(conv_graph: Graph) -> None:
    tgt = _target(32, 512, 10**6)
    x = np.zeros((4, 1, 2, 8, 8))
    silent = partition(conv_graph, tgt, "slicing", sample_input=x)
    busy = partition(conv_graph, tgt, "slicing")
    # no input spikes -> nothing fires -> no spike traffic; default rate 1 -> every source counts once per core
    assert silent.report["remote_spike_copies"] == 0.0
    assert busy.report["remote_spike_copies"] > 0


@pytest.mark.parametrize("solver", ["mtkahypar", "pymetis"])
@pytest.mark.parametrize("max_vertices", [1500, 40])
def test_hypergraph_fits_limits_and_is_reproducible(conv_graph: Graph, solver: str, max_vertices: int,
                                                    monkeypatch) -> None:
    pytest.importorskip(solver)
    from spikemesh.partition import hypergraph as hg

    monkeypatch.setattr(hg, "_solver", lambda: solver)
    monkeypatch.setattr(hg, "MAX_VERTICES", max_vertices)  # 40: blocks of several neurons are the vertices
    tgt = _target(32, 512, 10**6)
    part = partition(conv_graph, tgt, "hypergraph", seed=5)
    check_partition(conv_graph, tgt, part)
    assert (part.report["solver"]["block_neurons"] > 1) == (max_vertices < 100)
    assert part.report["cores"] >= part.report["lower_bound_cores"]
    assert partition(conv_graph, tgt, "hypergraph", seed=5) == part
    # a layer whose single neuron exceeds a core: partial-sum trees with partial sums, infeasible without
    wide = partition(_wide(100), _target(16, 64, 8 * 10**5), "hypergraph")
    check_partition(_wide(100), _target(16, 64, 8 * 10**5), wide)
    assert wide.report["solver"]["tree_layers"] == ["h1", "h2"] and wide.report["partial_sum_cores"] > 0
    with pytest.raises(PartitionInfeasible):
        partition(_wide(100), _target(16, 64, 8 * 10**5, partial=False), "hypergraph")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs(), targets())
def test_hypergraph_random_graphs(graph: Graph, tgt: Target) -> None:
    pytest.importorskip("mtkahypar")
    from spikemesh.partition import hypergraph as hg

    hg.MAX_VERTICES, old = 60, hg.MAX_VERTICES
    try:
        try:
            part = partition(graph, tgt, "hypergraph", seed=2)
        except PartitionInfeasible as e:
            assert e.problems or e.min_cores
            return
        check_partition(graph, tgt, part)
        again = partition(graph, tgt, "hypergraph", seed=2)
        assert again == part and again.to_parts()[0] == part.to_parts()[0]
    finally:
        hg.MAX_VERTICES = old


@settings(max_examples=40, deadline=None)
@given(graphs(), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3))
def test_hypergraph_pins_equal_csr(graph: Graph, bc: int, bh: int, bw: int) -> None:
    """Pins from layer geometry (conv axis pairs x channel blocks, element-wise, dense) equal the blocks that the
    neuron-level CSR of each projection reaches."""
    from spikemesh.partition.hypergraph import Blocks, projection_pins

    for proj in graph.projections:
        geo = classify(graph, proj)
        view = view_shape(graph.shape_of(proj.target))
        blk = Blocks(view, (min(bc, view[0]), min(bh, view[1]), min(bw, view[2])), 7)
        src, tgt = projection_pins(graph, geo, blk)
        got = set(zip(src.tolist(), tgt.tolist()))
        coo = graph.projection_csr(proj, structure=True).tocoo()
        c, rem = np.divmod(coo.col, view[1] * view[2])
        y, x = np.divmod(rem, view[2])
        ids = 7 + ((c // blk.shape[0]) * blk.n[1] + y // blk.shape[1]) * blk.n[2] + x // blk.shape[2]
        want = set(zip(coo.row.tolist(), ids.tolist()))
        assert got == want, (proj.name, geo.kind)


def test_partial_sum_tree_by_hand() -> None:
    """32 neurons, dense fan-in 200, cores of 32 neurons / 64 axons: a core receives at most 64 / 32 = 2 children's
    partial sums, so the old single merge core (32 x k axons) cannot exist. Tree bound: 200 unit axons + (k - 1)
    x 32 partial-sum axons <= 64 k  ->  k >= 5.25 -> 6 cores; fan 2 (depth 2): nodes 0, 1 merge only (2 children),
    node 2 takes 32 inputs + 1 child, leaves 3, 4, 5 take 64, 64, 40."""
    rng = np.random.default_rng(0)
    g = Graph(inputs=(Input("in", (200,)),), populations=(Population("h", (32,), IF()),),
              projections=(Projection("a", "in", "h", (Dense(rng.normal(size=(32, 200))),)),),
              outputs=(Output("o", "h"),))
    tgt = _target(32, 64, 8 * 10**5)
    for strategy in ("tiles", "groups"):
        part = partition(g, tgt, strategy)
        check_partition(g, tgt, part)
        assert part.n_cores == 6 and part.report["partial_sum_cores"] == 5
        root = [c for c in part.cores if c.role == "neurons"]
        assert len(root) == 1 and root[0].use["axons"] == 64 and root[0].inputs == {}
        axons = sorted(c.use["axons"] for c in part.cores)
        assert axons == [40, 64, 64, 64, 64, 64]  # node 2: 32 inputs + 32 partial sums
        inputs = sorted(c.inputs["a"][1] - c.inputs["a"][0] for c in part.cores if c.inputs)
        assert inputs == [32, 40, 64, 64]
        assert part.report["partial_sum_copies"] == 5 * 32


def test_cli_compile_strategy(tmp_path, conv_graph: Graph) -> None:
    import json

    from spikemesh.cli import main

    conv_graph.save(tmp_path / "m.smg")
    for s in ("slicing", "groups"):
        assert main(["compile", str(tmp_path / "m.smg"), "--target", "tianjic", "--strategy", s,
                     "--out", str(tmp_path / s)]) == 0
        rep = json.loads((tmp_path / s / "report.json").read_text())
        assert rep["partition"]["strategy"] == s
    # a usage error returns 2 like every other error (one line on stderr, no SystemExit out of main)
    assert main(["compile", str(tmp_path / "m.smg"), "--strategy", "nope", "--out", str(tmp_path / "x")]) == 2


def test_fine_unit_table_lists_the_sources_of_the_boxes() -> None:
    """A pool composed into a conv (fine units): the unit table of two boxes holds exactly their distinct source
    neurons, from the graph's own connectivity, each with its synapses into the boxes."""
    from spikemesh.partition.resources import unit_table

    rng = np.random.default_rng(0)
    g = Graph(inputs=(Input("in", (2, 8, 8)),), populations=(Population("c", (3, 4, 4), IF()),),
              projections=(Projection("in>c", "in", "c", (AvgPool2d(2), Conv2d(rng.normal(size=(3, 2, 3, 3)),
                                                                                 padding=1))),),
              outputs=(Output("out", "c"),))
    geom = classify(g, g.projections[0])
    assert geom.fine
    boxes = [(0, 2, 0, 1, 0, 2), (1, 3, 3, 4, 2, 4)]
    costs, pidx, units = unit_table([geom], boxes, 8, False)
    m = g.projection_csr(g.projections[0], structure=True).tocsc()
    cols = np.concatenate([box_flat(b, (3, 4, 4)) for b in boxes])
    sub = m[:, cols]
    want = np.unique(sub.indices)
    assert units.tolist() == want.tolist() and set(pidx.tolist()) == {0}
    assert costs[:, 0].tolist() == [1] * len(want)  # one axon per source neuron
    assert costs[:, 3].tolist() == np.bincount(sub.indices, minlength=m.shape[0])[want].tolist()


@pytest.mark.parametrize("split", [(16, 2, 4), (8, 3, 5), (4, 1, 16)])
def test_grid_drafts_share_plans_of_translated_tiles(split: tuple[int, int, int]) -> None:
    """Tiles of a pool+conv layer (fine units: source neurons) reuse a same-class tile's plan moved by the offset
    of their receptive fields; every draft equals the one planned for that tile alone (tiles clipped at opposite
    borders included: 3 and 5 do not divide 16)."""
    import sys
    from pathlib import Path

    from spikemesh.partition.geometry import geometry
    from spikemesh.partition.plan import drafts_for, plan_piece
    from spikemesh.partition.resources import LayerProblem, limits_for
    from spikemesh.partition.tiles import blocks, grid_drafts

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import networks

    g = networks.snn2conv()
    geoms = geometry(g)["conv2"]
    limits = limits_for(spikemesh.target("tianjic"))
    rate = {"conv1": 0.1, "conv2": 0.1, "in": 0.1, "fc": 0.1}
    view = (16, 16, 16)
    got = grid_drafts("conv2", geoms, view, split, limits, rate, 0, 0)
    want = []
    for bc in blocks(16, split[0]):
        for bh in blocks(16, split[1]):
            for bw in blocks(16, split[2]):
                plan = plan_piece("conv2", geoms, [(*bc, *bh, *bw)], limits, rate)
                assert not isinstance(plan, LayerProblem)
                want.extend(drafts_for("conv2", geoms, plan, len(want), 0))
    assert [(d.role, d.pieces, d.inputs, d.merge) for d in got] == [(d.role, d.pieces, d.inputs, d.merge)
                                                                     for d in want]
