"""Synapse counts per (source, performing core) from geometry (simulator/fanout.py) against an independent
expectation: every synapse listed from ``Graph.projection_csr`` and assigned to its core synapse by synapse (the
target's neuron core, or in a partial-sum tree the node whose input unit range covers the source's unit), on random
conv / pool / dense / sparse graphs x tiny-core multi-chip targets; plus hand-computed small cases."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import scipy.sparse as sp
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

import spikemesh
from spikemesh.errors import SpikemeshError
from spikemesh.ir import (
    IF,
    AvgPool2d,
    Conv2d,
    CubaLIF,
    Delay,
    Dense,
    Flatten,
    Graph,
    Identity,
    Input,
    Output,
    Population,
    Projection,
    Scale,
    Sparse,
    SumPool2d,
)
from spikemesh.partition import partition
from spikemesh.partition.geometry import classify
from spikemesh.simulator.arrays import flatten
from spikemesh.simulator.fanout import Layout, fanout, neuron_cores


def oracle(graph: Graph, layout: Layout, part, partial_sums: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(synapses [N, n_cores + 1] per source and performing core, [N, nodes] per source and target node), one
    synapse at a time: each non-zero entry of each projection's matrix goes to the core holding its target neuron,
    or, when that core roots a partial-sum tree, to the last tree node (root first, then the partial-sum cores in
    partition order) whose ``inputs[projection]`` unit range holds the source's unit."""
    n_cores = 1 if part is None else len(part.cores)
    into = np.zeros((layout.n, n_cores + 1))
    layer = np.zeros((layout.n, len(layout.order)))
    nodes: dict[int, list] = {}
    if part is not None and partial_sums:
        by_index = {c.index: c for c in part.cores}
        for c in part.cores:
            if c.role == "partial_sum" and c.boxes:
                root = c
                while root.role == "partial_sum":
                    root = by_index[root.merge_into]
                nodes.setdefault(root.index, [root]).append(c)
    for pr in graph.projections:
        m = graph.projection_csr(pr).tocoo()
        keep = m.data != 0
        src, tgt = m.row[keep], m.col[keep]
        s0 = layout.node_range(pr.source)[0]
        unit = classify(graph, pr).unit_of(src)
        for s, t, u in zip(src, tgt, unit):
            layer[s0 + s, layout.order.index(pr.target)] += 1
            if part is None:
                into[s0 + s, 0] += 1
                continue
            core = int(part.neuron_core[pr.target].reshape(-1)[t])
            for node in nodes.get(core, []):
                rng = node.inputs.get(pr.name)
                if rng is not None and rng[0] <= u < rng[1]:
                    core = node.index
            into[s0 + s, core if core >= 0 else n_cores] += 1
    return into, layer


def _conv(draw: st.DrawFn, rng: np.random.Generator, cin: int, hw: tuple[int, int]) -> tuple[object, tuple]:
    """A random Conv2d on [cin, *hw] (stride, padding, dilation, groups; about a third of the weights zero)."""
    groups = draw(st.sampled_from([g for g in (1, 2, 3) if cin % g == 0]))
    cout = groups * draw(st.integers(1, 2))
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    p = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    s = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    assume(all(n + 2 * pp >= dd * (kk - 1) + 1 for n, kk, pp, dd in zip(hw, k, p, d)))
    w = rng.integers(-1, 2, (cout, cin // groups, *k)).astype(float)
    op = Conv2d(w, stride=s, padding=p, dilation=d, groups=groups)
    return op, op.out_shape((cin, *hw))


@st.composite
def conv_graphs(draw: st.DrawFn, avg: bool = True) -> Graph:
    """in -> a (conv) -> b (pool∘conv, pool, or conv; plus a second conv: fan-in, on port 1 of a two-port
    neuron) -> c (AvgPool∘Flatten∘Dense, Flatten∘Dense or Sparse); a -> e (element-wise Scale with zeros, or a
    Delay); delays uniform or per element. ``avg=False``: sum pools only (an integer graph)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    cin, hw = draw(st.integers(1, 3)), (draw(st.integers(3, 7)), draw(st.integers(3, 7)))
    op_a, sa = _conv(draw, rng, cin, hw)
    ops_a: tuple = (op_a,)
    if draw(st.booleans()):  # a delay per source element before the conv, or one value after it
        ops_a = (Delay(rng.integers(0, 3, (cin, *hw))), op_a) if draw(st.booleans()) else (op_a, Delay(2))
    kind_b = draw(st.sampled_from(["pool_conv", "pool", "conv"]))
    pool_ok = sa[1] % 2 == 0 and sa[2] % 2 == 0
    if kind_b == "pool_conv" and pool_ok:
        c2, sb = _conv(draw, rng, sa[0], (sa[1] // 2, sa[2] // 2))
        assume(all(v == 1 for v in c2.dilation))
        pool = AvgPool2d(2) if avg and draw(st.booleans()) else SumPool2d(2)
        ops_b: tuple = (pool, c2)
        second = (pool, Conv2d(rng.integers(-1, 2, c2.weight.shape).astype(float), stride=c2.stride,
                               padding=c2.padding, groups=c2.groups))
    elif kind_b == "pool" and min(sa[1:]) >= 2:
        pool = SumPool2d((2, 2), stride=(draw(st.integers(1, 2)),) * 2)
        ops_b, sb = (pool,), pool.out_shape(sa)
        second = (Identity(), pool)
    else:
        c2, sb = _conv(draw, rng, sa[0], sa[1:])
        ops_b = (c2,)
        second = (Conv2d(rng.integers(-1, 2, c2.weight.shape).astype(float), stride=c2.stride, padding=c2.padding,
                         dilation=c2.dilation, groups=c2.groups),)
    n_b = int(np.prod(sb))
    nc = draw(st.integers(1, 4))
    kind_c = draw(st.sampled_from(["avg_dense", "dense", "sparse"]))
    if kind_c == "avg_dense" and sb[1] % 2 == 0 and sb[2] % 2 == 0:
        pool_c = AvgPool2d(2) if avg else SumPool2d(2)
        ops_c: tuple = (pool_c, Flatten(), Dense(rng.integers(-1, 2, (nc, n_b // 4)).astype(float)))
    elif kind_c == "sparse":
        m = rng.integers(-2, 3, (n_b, nc)) * (rng.random((n_b, nc)) < 0.5)
        ops_c = (Flatten(), Sparse.from_matrix(sp.csr_matrix(m.astype(float))))
    else:
        ops_c = (Flatten(), Dense(rng.integers(-1, 2, (nc, n_b)).astype(float)))
    ops_e = (Scale(rng.integers(0, 2, sa)),) if draw(st.booleans()) else (Delay(1),)
    two_port = draw(st.booleans())
    b_neuron = CubaLIF([0.5, 0.25], 0.75, ports=2) if two_port else IF()
    return Graph(
        inputs=(Input("in", (cin, *hw)),),
        populations=(Population("a", sa, IF()), Population("b", sb, b_neuron), Population("c", (nc,), IF()),
                     Population("e", sa, IF())),
        projections=(Projection("in>a", "in", "a", ops_a), Projection("a>b", "a", "b", ops_b),
                     Projection("a>b:2", "a", "b", second, port=1 if two_port else 0),
                     Projection("b>c", "b", "c", ops_c), Projection("a>e", "a", "e", ops_e)),
        outputs=(Output("out", "c"),))


@st.composite
def tiny_targets(draw: st.DrawFn):
    """Chips of 2x2 tiny cores (few neurons and axons force partial-sum trees), several chips; sometimes graph
    inputs on source cores."""
    t = spikemesh.target("tianjic")
    t = replace(t, name="tiny", cores_x=2, cores_y=2, chips_x=draw(st.integers(2, 8)), chips_y=8,
                core=replace(t.core, neurons=draw(st.sampled_from([2, 4, 8])),
                             axons=draw(st.sampled_from([4, 8, 16, 64])), synapse_bits=1 << 16))
    if draw(st.booleans()):
        t = replace(t, features=t.features | {"input_cores"})
    return t


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(graph=conv_graphs(), target=tiny_targets(), seed=st.integers(0, 3), partial_sums=st.booleans())
def test_counts_equal_synapse_by_synapse_oracle(graph, target, seed, partial_sums):
    try:
        part = partition(graph, target, seed=seed, check_capacity=False)
    except SpikemeshError:
        assume(False)
    trees = any(c.role == "partial_sum" for c in part.cores)
    event("partial sums" if trees else "no partial sums")
    layout = Layout.of(graph)
    fan = fanout(graph, layout, part, partial_sums=partial_sums)
    for name in ("in>a", "a>b", "a>b:2", "a>e"):  # conv-like and element-wise: counted from the geometry
        if classify(graph, graph.projection[name]).kind in ("conv", "elementwise"):
            event("geometric, partial sums" if trees else "geometric")
            assert name not in fan.expanded or name == "a>e" and isinstance(graph.projection[name].ops[0], Scale)
    into, layer = oracle(graph, layout, part, partial_sums)
    np.testing.assert_array_equal(fan.into.toarray(), into)
    np.testing.assert_array_equal(fan.layer.toarray(), layer)
    assert into.sum() > 0
    plain = fanout(graph, layout)  # no partition: everything on core 0, same per-layer counts and out-degrees
    np.testing.assert_array_equal(plain.into.toarray()[:, 0], layer.sum(axis=1))
    np.testing.assert_array_equal(plain.out_degree(), layer.sum(axis=1))
    # the fast engine's own count (its implicit stages, the SynOps of its runs) is the same figure
    np.testing.assert_array_equal(flatten(graph, integer=False).out_degree, plain.out_degree())


def test_hand_counted_conv_and_pool():
    """3x3 input, one 3x3 all-ones conv with padding 1 (a corner feeds 4 outputs, an edge 6, the centre 9), a
    zero tap removing one synapse per source that reaches it; SumPool2d 2 (stride 1) on the 3x3 output."""
    w = np.ones((1, 1, 3, 3))
    w[0, 0, 1, 1] = 0  # the centre tap: every source loses its own-position synapse
    g = Graph(inputs=(Input("in", (1, 3, 3)),),
              populations=(Population("a", (1, 3, 3), IF()), Population("p", (1, 2, 2), IF())),
              projections=(Projection("c", "in", "a", (Conv2d(w, padding=1),)),
                           Projection("q", "a", "p", (SumPool2d((2, 2), stride=(1, 1)),))),
              outputs=(Output("o", "p"),))
    deg = fanout(g, Layout.of(g)).out_degree()
    np.testing.assert_array_equal(deg[:9], [3, 5, 3, 5, 8, 5, 3, 5, 3])
    np.testing.assert_array_equal(deg[9:18], [1, 2, 1, 2, 4, 2, 1, 2, 1])
    assert deg[18:].sum() == 0


def test_neuron_cores_cover_populations_and_host_inputs():
    g = Graph(inputs=(Input("in", (4,)),), populations=(Population("h", (6,), IF()),),
              projections=(Projection("l", "in", "h", (Dense(np.ones((6, 4))),)),), outputs=(Output("o", "h"),))
    t = replace(spikemesh.target("tianjic"), core=replace(spikemesh.target("tianjic").core, neurons=4))
    part = partition(g, t)
    core = neuron_cores(Layout.of(g), part)
    assert (core[:4] == -1).all()  # streamed from the host
    np.testing.assert_array_equal(core[4:], part.neuron_core["h"])
    assert len(set(core[4:].tolist())) == 2  # 6 neurons on cores of 4


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(graph=conv_graphs(avg=False), target=tiny_targets(), seed=st.integers(0, 3))
def test_cycle_engine_synops_per_core_equal_oracle(graph, target, seed):
    """The cycle engine on conv graphs with partial-sum trees: spikes equal reference, and the synaptic ops charged
    to each core equal Σ reference sends × the oracle's synapses per (source, core)."""
    from spikemesh.ir.reference import run_reference
    from spikemesh.simulator.energy import count_actions, sends_from_rasters
    from tests.simulator.noc_helpers import placed

    graph = replace(graph, populations=tuple(replace(p, neuron=replace(p.neuron, state_bits=16))
                                             for p in graph.populations))
    try:
        part = partition(graph, target, seed=seed, check_capacity=False)
        assume(len(part.cores) <= target.n_cores)
        prog = placed(graph, target, seed, shuffle=True, part=part)
    except SpikemeshError:
        assume(False)
    event("partial sums" if any(c.role == "partial_sum" for c in part.cores) else "no partial sums")
    x = (np.random.default_rng(seed).random((6, 1, *graph.inputs[0].shape)) < 0.5).astype(float)
    ref = run_reference(graph, x, mode="int")
    res = spikemesh.simulate(prog, x, engine="cycle", mode="int")
    for k in ref.spikes:
        np.testing.assert_array_equal(res.spikes[k], ref.spikes[k])
    layout = Layout.of(graph)
    into, _ = oracle(graph, layout, part)
    n = len(part.cores)
    # compute phase of each step: max over cores of (synaptic events + partial sums merged + neurons held)
    held = np.bincount(np.concatenate([np.asarray(v).reshape(-1) for v in part.neuron_core.values()]), minlength=n)
    merged = np.zeros(n)
    for c in part.cores:
        if c.role == "partial_sum":
            merged[c.merge_into] += sum((b[1] - b[0]) * (b[3] - b[2]) * (b[5] - b[4]) for bs in c.boxes.values()
                                        for b in bs)
    for t in range(x.shape[0]):
        step = sends_from_rasters(layout, {k: v[t:t + 1] for k, v in ref.spikes.items()},
                                  {k: v[t:t + 1] for k, v in ref.v.items()}, {"in": x[t:t + 1]})
        expect = (into[:, :n].T @ step + merged + held).max()
        assert res.stats["noc"]["per_step"]["compute_cycles"][t] == expect
    # the energy model charges the same synaptic ops to each core (targets without a core: core 0)
    sends = sends_from_rasters(layout, ref.spikes, ref.v, {"in": x})
    per_core = into.T @ sends
    per_core[0] += per_core[-1]
    acts = count_actions(layout, sends, x.shape[0], 1, 8, part)
    np.testing.assert_array_equal(acts.counts["synop"], per_core[:n])
    assert res.stats["actions"]["synop"] == per_core.sum()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(seed=st.integers(0, 2**31 - 1), target=tiny_targets(), stride=st.integers(1, 2), dil=st.integers(1, 2),
       groups=st.sampled_from([1, 2]))
def test_conv1d_and_scaled_conv_equal_oracle(seed, target, stride, dil, groups):
    """A Conv1d on a [C, L] population and a 2-D conv scaled per channel by non-zero factors (counted from the
    geometry) equal the oracle."""
    from spikemesh.ir import Conv1d

    rng = np.random.default_rng(seed)
    c1 = Conv1d(rng.integers(-1, 2, (4, 2 // groups * 1, 3)).astype(float), stride=stride, padding=1,
                dilation=dil, groups=groups)
    s1 = c1.out_shape((2, 9))
    c2 = Conv2d(rng.integers(-1, 2, (2, 2, 3, 3)).astype(float), padding=1)
    g = Graph(inputs=(Input("in", (2, 9)), Input("im", (2, 5, 5))),
              populations=(Population("a", s1, IF()), Population("b", (2, 5, 5), IF())),
              projections=(Projection("c1", "in", "a", (c1,)),
                           Projection("c2", "im", "b", (Scale(rng.integers(1, 3, (2, 1, 1)).astype(float)), c2))),
              outputs=(Output("o", "a"), Output("p", "b")))
    try:
        part = partition(g, target, seed=0, check_capacity=False)
    except SpikemeshError:
        assume(False)
    layout = Layout.of(g)
    fan = fanout(g, layout, part)
    assert fan.expanded == ()
    into, layer = oracle(g, layout, part)
    np.testing.assert_array_equal(fan.into.toarray(), into)
    np.testing.assert_array_equal(fan.layer.toarray(), layer)
