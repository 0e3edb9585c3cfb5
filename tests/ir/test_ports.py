"""Multi-port current-based neurons (``Neuron.ports``, ``Projection.port``): hand-computed traces, validation,
serialisation, quantization and NIR export.

Expected values are worked out by hand from i_k ← α_k·i_k + syn_gain_k·x_k, v ← β·v + gain·Σ_k i_k + leak
(values exact in binary floating point)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from spikemesh.errors import GraphError, SimulationError
from spikemesh.ir import CubaLIF, Graph, Identity, Input, Neuron, Output, Population, Projection, Scale
from spikemesh.ir.passes.quantize import quantize
from spikemesh.ir.reference import PopState, run_reference


def two_inputs(neuron: Neuron, n: int = 1, port_b: int = 1) -> Graph:
    return Graph(
        inputs=(Input("a", (n,)), Input("b", (n,))),
        populations=(Population("p", (n,), neuron),),
        projections=(Projection("pa", "a", "p", (Identity(),)), Projection("pb", "b", "p", (Scale(2.0),), port_b)),
        outputs=(Output("o", "p"),),
    )


def test_two_ports_hand_trace_float():
    # port 0: α 0.5, syn_gain 1; port 1: α 0.25, syn_gain 1 (input scaled by 2 on the edge); β 0.5, gain 1
    # neuron 0 gets a = 4 at t0: i0 = 4, 2, 1 -> v = 4, 2 + 2 = 4, 2 + 1 = 3
    # neuron 1 gets b = 4 at t0: i1 = 8, 2, .5 -> v = 8, 4 + 2 = 6, 3 + .5 = 3.5 (> threshold 5 at t0, t1)
    g = two_inputs(CubaLIF(alpha=[0.5, 0.25], beta=0.5, threshold=5.0, reset="none", ports=2), n=2)
    a = np.zeros((3, 1, 2))
    b = np.zeros((3, 1, 2))
    a[0, 0, 0] = 4
    b[0, 0, 1] = 4
    r = run_reference(g, {"a": a, "b": b}, record=["p"])
    np.testing.assert_array_equal(r.v["p"][:, 0], [[4, 8], [4, 6], [3, 3.5]])
    np.testing.assert_array_equal(r.spikes["p"][:, 0].astype(int), [[0, 1], [0, 1], [0, 0]])


def test_two_ports_same_port_sums_like_one_port():
    # both edges on port 0 of a two-port neuron == a single-port neuron fed a + 2b (port 1 stays 0)
    n2 = CubaLIF(alpha=[0.5, 0.25], beta=0.75, threshold=3.0, ports=2)
    n1 = CubaLIF(alpha=0.5, beta=0.75, threshold=3.0)
    rng = np.random.default_rng(0)
    x = {"a": rng.integers(0, 3, (20, 2, 3)).astype(float), "b": rng.integers(0, 2, (20, 2, 3)).astype(float)}
    r2 = run_reference(two_inputs(n2, 3, port_b=0), x, record=["p"])
    r1 = run_reference(two_inputs(n1, 3, port_b=0), x, record=["p"])
    np.testing.assert_array_equal(r2.v["p"], r1.v["p"])
    np.testing.assert_array_equal(r2.spikes["p"], r1.spikes["p"])


def test_two_ports_int_mode_truncates_each_port():
    # α_k = 2048/4096 and 1024/4096: i0 = 7, trunc(3.5) = 3, 1; i1 = -6 (b = -3 scaled by 2), trunc(-1.5) = -1, 0
    # β = 1 (IF-like CubaLIF with beta 1): v = 7 - 6 = 1, 1 + 3 - 1 = 3, 3 + 1 + 0 = 4
    nrn = CubaLIF(alpha=[0.5, 0.25], beta=1.0, threshold=100.0, reset="none", ports=2, state_bits=16, weight_bits=8)
    g = two_inputs(nrn)
    a = np.array([7, 0, 0], float).reshape(3, 1, 1)
    b = np.array([-3, 0, 0], float).reshape(3, 1, 1)
    r = run_reference(g, {"a": a, "b": b}, record=["p"], mode="int")
    assert r.v["p"].dtype == np.int64
    np.testing.assert_array_equal(r.v["p"][:, 0, 0], [1, 3, 4])


def test_per_neuron_per_port_decays():
    # alpha of shape (n, ports): neuron 0 decays port 1 by .5, neuron 1 by 0 (β = 0 shows the current directly)
    nrn = CubaLIF(alpha=[[0.0, 0.5], [0.0, 0.0]], beta=0.0, threshold=100.0, reset="none", ports=2)
    g = two_inputs(nrn, n=2)
    b = np.zeros((3, 1, 2))
    b[0] = 1
    r = run_reference(g, {"a": np.zeros((3, 1, 2)), "b": b}, record=["p"])
    np.testing.assert_array_equal(r.v["p"][:, 0], [[2, 2], [1, 0], [0.5, 0]])


def test_port_validation_errors():
    with pytest.raises(GraphError, match="port 2 does not exist") as e:
        two_inputs(CubaLIF(alpha=[0.5, 0.5], beta=0.5, ports=2), port_b=2)
    assert e.value.node == "pb"
    with pytest.raises(GraphError, match="port 1 does not exist"):
        two_inputs(CubaLIF(alpha=0.5, beta=0.5))
    with pytest.raises(GraphError, match="current-based kind"):
        Neuron("LIF", beta=0.5, ports=2)
    with pytest.raises(GraphError, match="ports is out of range"):
        CubaLIF(alpha=0.5, beta=0.5, ports=0)
    with pytest.raises(GraphError, match="does not broadcast"):  # 3 decays for 2 ports
        two_inputs(CubaLIF(alpha=[0.5, 0.5, 0.5], beta=0.5, ports=2))
    with pytest.raises(GraphError, match="port is out of range"):
        Projection("x", "a", "p", (Identity(),), port=-1)


def test_single_port_engine_input_rejected_clearly():
    st = PopState("p", CubaLIF(alpha=[0.5, 0.5], beta=0.5, ports=2), (3,), 1, False)
    with pytest.raises(SimulationError, match="one input per port"):
        st.step(np.zeros((1, 3)))


def test_serialise_round_trip_and_single_port_unchanged(tmp_path):
    g = two_inputs(CubaLIF(alpha=[0.5, 0.25], beta=0.5, syn_gain=[1.0, 3.0], threshold=5.0, ports=2), n=2)
    g.save(tmp_path / "g.smg")
    g2 = Graph.load(tmp_path / "g.smg")
    assert g2 == g and g2.population["p"].neuron.ports == 2 and g2.projection["pb"].port == 1
    # single-port graphs keep their file layout: no "ports" / "port" keys
    g1 = two_inputs(CubaLIF(alpha=0.5, beta=0.5), port_b=0)
    g1.save(tmp_path / "g1.smg")
    with np.load(tmp_path / "g1.smg") as z:
        body = json.loads(z["__meta__"].tobytes())["body"]
    assert "ports" not in body["populations"][0]["neuron"]
    assert all("port" not in pr for pr in body["projections"])


def test_quantize_folds_each_ports_gain_into_its_weights():
    # syn_gain [2, 3], no decay (α = β = 0, so int mode loses nothing): v = 2·a + 3·(2·b) every step, a spike at
    # v >= 12 (subtractive reset), in the float original and in the quantized int graph (gains folded per port)
    nrn = CubaLIF(alpha=[0.0, 0.0], beta=0.0, syn_gain=[2.0, 3.0], threshold=12.0, ports=2)
    g = two_inputs(nrn, n=2)
    q, _ = quantize(g, weight_bits=8, state_bits=16)
    assert q.projection["pb"].port == 1
    assert np.all(q.population["p"].neuron.syn_gain == 1)
    assert q.metadata["quantization"]["p"]["scale"] == 1.0  # integer weights × integer gains
    rng = np.random.default_rng(3)
    x = {"a": rng.integers(0, 4, (30, 1, 2)).astype(float), "b": rng.integers(0, 3, (30, 1, 2)).astype(float)}
    rf = run_reference(g, x, record=["p"], mode="float")
    rq = run_reference(q, x, record=["p"], mode="int")
    want = 2 * x["a"] + 6 * x["b"]
    np.testing.assert_array_equal(rf.v["p"], want - 12 * (want >= 12))
    np.testing.assert_array_equal(rq.v["p"], rf.v["p"])
    np.testing.assert_array_equal(rq.spikes["p"], rf.spikes["p"])
    assert 0 < rq.spikes["p"].sum() < rq.spikes["p"].size


def test_nir_export_warns_about_ports():
    pytest.importorskip("nir")
    from spikemesh.frontend.nir import to_nir

    g = two_inputs(CubaLIF(alpha=[0.5, 0.25], beta=0.5, threshold=5.0, ports=2, reset="zero"))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ng = to_nir(g)
    assert any("2 synaptic current ports" in str(x.message) for x in w)
    node = ng.nodes["p"]
    np.testing.assert_allclose(node.tau_syn, g.dt / 0.5)  # port 0's decay
