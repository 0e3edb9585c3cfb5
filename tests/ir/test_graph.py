"""Graph validation, execution order, recurrence with delays, Delay ops, chain connectivity and statistics."""

from __future__ import annotations

import numpy as np
import pytest

from spikemesh.errors import GraphError
from spikemesh.ir import (
    IF,
    LI,
    Conv2d,
    Delay,
    Dense,
    Flatten,
    Graph,
    Identity,
    Input,
    Neuron,
    Output,
    Population,
    SumPool2d,
)
from spikemesh.ir import Projection as Proj
from spikemesh.ir.reference import run_reference


def chain(n=3, delay=None):
    ops = [Identity()] if delay is None else [Delay(delay)]
    return Graph([Input("in", (n,))], [Population("p", (n,), IF(1.0, reset="zero"))],
                 [Proj("in_p", "in", "p", ops)], [Output("out", "p")])


# --- validation --------------------------------------------------------------------------------------
def test_errors_name_the_node():
    pop = Population("h", (4,), IF())
    with pytest.raises(GraphError, match=r"^in_h: .*does not match target 'h'.*needed \(4,\), available \(3,\)"):
        Graph([Input("in", (3,))], [pop], [Proj("in_h", "in", "h", [Identity()])], [])
    with pytest.raises(GraphError, match=r"^h: duplicate name"):
        Graph([Input("h", (4,))], [pop], [], [])
    with pytest.raises(GraphError, match=r"^in_h: source 'nope'"):
        Graph([Input("in", (4,))], [pop], [Proj("in_h", "nope", "h", [Identity()])], [])
    with pytest.raises(GraphError, match=r"^in_h: .*Dense input shape mismatch"):
        Graph([Input("in", (2, 2))], [pop], [Proj("in_h", "in", "h", [Dense(np.ones((4, 4)))])], [])
    with pytest.raises(GraphError, match=r"^in_h: .*NaN or inf"):
        Graph([Input("in", (4,))], [pop], [Proj("in_h", "in", "h", [Dense(np.full((4, 4), np.nan))])], [])
    with pytest.raises(GraphError, match=r"^h: neuron parameter threshold does not broadcast"):
        Graph([Input("in", (4,))], [Population("h", (4,), IF(np.ones(3)))], [], [])
    with pytest.raises(GraphError, match="at most one Delay"):
        Graph([Input("in", (4,))], [pop], [Proj("in_h", "in", "h", [Delay(1), Delay(2)])], [])
    with pytest.raises(GraphError, match="IF neurons have beta = 1"):
        Neuron("IF", beta=0.5)


def test_cycle_without_delay_is_named():
    a, b = Population("a", (2,), IF()), Population("b", (2,), IF())
    projs = [Proj("in_a", "in", "a", [Identity()]), Proj("ab", "a", "b", [Identity()]),
             Proj("ba", "b", "a", [Identity()])]
    with pytest.raises(GraphError, match=r"cycle without delay: (a -> b -> a|b -> a -> b).*add a Delay"):
        Graph([Input("in", (2,))], [a, b], projs, [])
    # self-loop
    with pytest.raises(GraphError, match=r"cycle without delay: a -> a"):
        Graph([Input("in", (2,))], [a], [Proj("in_a", "in", "a", [Identity()]),
                                        Proj("aa", "a", "a", [Dense(np.eye(2)), Delay(0)])], [])
    # a per-element delay with some zero entries still closes a zero-delay cycle
    with pytest.raises(GraphError, match="cycle without delay"):
        Graph([Input("in", (2,))], [a], [Proj("in_a", "in", "a", [Identity()]),
                                        Proj("aa", "a", "a", [Dense(np.eye(2)), Delay([0, 1])])], [])
    # one step of delay on the cycle is enough
    projs[2] = Proj("ba", "b", "a", [Identity(), Delay(1)])
    g = Graph([Input("in", (2,))], [a, b], projs, [])
    assert g.topological_order() == ["in", "a", "b"]


def test_topological_order_follows_zero_delay_edges():
    pops = [Population(n, (2,), IF()) for n in ("c", "b", "a")]
    projs = [Proj("in_a", "in", "a", [Identity()]), Proj("ab", "a", "b", [Identity()]),
             Proj("bc", "b", "c", [Identity()])]
    g = Graph([Input("in", (2,))], pops, projs, [Output("o", "c")])
    assert g.topological_order() == ["in", "a", "b", "c"]
    assert g.layers() == ["a", "b", "c"]


# --- recurrence and delays ----------------------------------------------------------------------------
def test_recurrence_with_delay_trace():
    # a: IF thr 1, zero reset; input pulse at t0; self-connection weight 1 with delay 2.
    # recurrent input at t = s[t-2]: spikes at t0, t2, t4
    g = Graph([Input("in", (1,))], [Population("a", (1,), IF(1.0, reset="zero"))],
              [Proj("in_a", "in", "a", [Identity()]), Proj("aa", "a", "a", [Dense([[1.0]]), Delay(2)])],
              [Output("o", "a")])
    x = np.array([1.0, 0, 0, 0, 0, 0]).reshape(6, 1, 1)
    assert run_reference(g, x).spikes["a"][:, 0, 0].astype(int).tolist() == [1, 0, 1, 0, 1, 0]


def test_two_population_loop_with_delay():
    # a -> b (no delay, weight 1), b -> a (delay 1, weight 1); a pulse keeps circulating with period 2:
    # t0 a fires, b fires (same step); t1 a gets b's t0 spike, fires; b fires ...
    g = Graph([Input("in", (1,))], [Population("a", (1,), IF(1.0, reset="zero")),
                                   Population("b", (1,), IF(1.0, reset="zero"))],
              [Proj("in_a", "in", "a", [Identity()]), Proj("ab", "a", "b", [Identity()]),
               Proj("ba", "b", "a", [Identity(), Delay(1)])], [Output("o", "b")])
    r = run_reference(g, np.array([1.0, 0, 0, 0]).reshape(4, 1, 1))
    assert r.spikes["a"][:, 0, 0].astype(int).tolist() == [1, 1, 1, 1]
    assert r.spikes["b"][:, 0, 0].astype(int).tolist() == [1, 1, 1, 1]
    # with delay 2 on the back edge, every other step
    g2 = g.with_projection(Proj("ba", "b", "a", [Delay(2)]))
    r = run_reference(g2, np.array([1.0, 0, 0, 0, 0]).reshape(5, 1, 1))
    assert r.spikes["b"][:, 0, 0].astype(int).tolist() == [1, 0, 1, 0, 1]


def test_delay_per_element():
    # element i delayed by i steps: a pulse at t0 reaches neuron i at step i
    g = chain(3, delay=[0, 1, 2])
    x = np.zeros((4, 1, 3))
    x[0] = 1.0
    got = run_reference(g, x).spikes["p"][:, 0].astype(int)
    assert got.tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]]


def test_delay_after_dense_sees_zero_before_time_zero():
    # the delayed signal is the value at the Delay op (here Dense output incl. bias); before t = 0 it is 0
    g = Graph([Input("in", (1,))], [Population("p", (1,), IF(100.0))],
              [Proj("in_p", "in", "p", [Dense([[2.0]], bias=[0.5]), Delay(2)])], [Output("o", "p")])
    r = run_reference(g, np.array([1.0, 0, 0, 0]).reshape(4, 1, 1), record=["p"])
    # input at p: t0 0, t1 0, t2 2*1+.5, t3 2*0+.5 -> v 0, 0, 2.5, 3.0
    assert r.v["p"][:, 0, 0].tolist() == [0.0, 0.0, 2.5, 3.0]


def test_fan_in_sums_projections():
    g = Graph([Input("x", (1,)), Input("y", (1,))], [Population("p", (1,), IF(100.0))],
              [Proj("xp", "x", "p", [Dense([[1.0]])]), Proj("yp", "y", "p", [Dense([[-2.0]])])],
              [Output("o", "p")])
    r = run_reference(g, {"x": np.ones((2, 1, 1)), "y": np.ones((2, 1, 1))}, record=["p"])
    assert r.v["p"][:, 0, 0].tolist() == [-1.0, -2.0]


# --- connectivity and statistics --------------------------------------------------------------------
def cnn() -> Graph:
    rng = np.random.default_rng(0)
    return Graph(
        [Input("in", (2, 6, 6))],
        [Population("c1", (4, 3, 3), IF()), Population("fc", (5,), LI(0.5))],
        [Proj("conv", "in", "c1", [Conv2d(rng.normal(size=(4, 2, 3, 3)), padding=1), SumPool2d((2, 2))]),
         Proj("dense", "c1", "fc", [Flatten(), Dense(rng.normal(size=(5, 36)))])],
        [Output("o", "fc")],
    )


def test_projection_csr_equals_chain_on_onehots():
    g = cnn()
    for pr in g.projections:
        shp = g.shape_of(pr.source)
        n = int(np.prod(shp))
        eye = np.eye(n).reshape((n, *shp))
        y = eye
        for op in pr.ops:
            y = op.apply(y)
        np.testing.assert_allclose(g.projection_csr(pr).toarray(), y.reshape(n, -1), atol=1e-12)


def test_summary_counts():
    g = cnn()
    s = g.summary()
    assert s["neurons"] == 4 * 9 + 5
    by = {layer["name"]: layer for layer in s["layers"]}
    # conv: 4 out ch x 6x6 positions; valid taps with padding 1 on 6x6: corners 4, edges 6, inside 9 per ch
    conv_syn = 4 * 2 * (4 * 4 + 16 * 6 + 16 * 9)
    # conv+pool chain as one synapse matrix: each pooled neuron sums 4 conv outputs; distinct inputs per
    # pooled neuron = 4x4 window of input (clipped by padding) x 2 ch
    m = g.projection_csr("conv")
    assert by["c1"]["synapses"] == m.nnz
    assert m.nnz < conv_syn
    assert by["fc"]["synapses"] == 36 * 5
    assert by["fc"]["fan_in_max"] == 36
    assert by["c1"]["fan_out_max"] == 5
    assert by["fc"]["sources"] == ["c1"]
    # per-layer stats of a single-op projection use the op's analytic counts
    single = Graph([Input("in", (2, 6, 6))], [Population("c", (4, 6, 6), IF())],
                   [Proj("cv", "in", "c", [Conv2d(np.ones((4, 2, 3, 3)), padding=1)])], [])
    assert single.summary()["synapses"] == conv_syn


def test_graph_is_immutable_and_equal():
    g = cnn()
    assert g == cnn()
    with pytest.raises(AttributeError):
        g.dt = 2.0  # type: ignore[misc]
    g2 = g.with_population(Population("fc", (5,), LI(0.25)))
    assert g2 != g and g2.population["fc"].neuron.beta == 0.25


def test_neuron_parameter_errors():
    with pytest.raises(GraphError, match=r"state bounds are empty"):
        IF(v_min=2.0, v_max=1.0)
    with pytest.raises(GraphError, match="refractory .steps. is out of range"):
        IF(refractory=-1)
    with pytest.raises(GraphError, match="unknown comparison"):
        IF(comparison="<")
    with pytest.raises(GraphError, match="unknown reset_timing"):
        IF(reset_timing="later")
    with pytest.raises(GraphError, match="state_bits must be an integer"):
        IF(state_bits=2.5)
    with pytest.raises(GraphError, match="not finite"):
        IF(threshold=np.inf)


def test_chain_stats_count_zero_weight_synapses() -> None:
    """Flatten then Dense with zero weights: synapses are structural (16 = 2x8), not only the non-zero ones."""
    import numpy as np

    from spikemesh.ir import IF, Dense, Flatten, Graph, Input, Population, Projection

    w = np.zeros((2, 8))
    w[0, 0] = 1.0
    g = Graph(inputs=(Input("in", (2, 4)),), populations=(Population("o", (2,), IF()),),
              projections=(Projection("p", "in", "o", (Flatten(), Dense(w))),), outputs=())
    s = g.projection_stats(g.projections[0])
    assert (s["synapses"], s["fan_in_max"], s["fan_out_max"]) == (16, 8, 2)
    assert g.projection_csr("p").nnz == 1  # the weighted product keeps only the non-zero weight
