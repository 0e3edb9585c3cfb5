"""The fast engine equals the reference executor spike for spike (and state for state in int mode)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import spikemesh
from spikemesh.data.demo import load_demo
from spikemesh.errors import GraphError, SimulationError
from spikemesh.ir import IF, LIF, Dense, Graph, Input, Output, Population, Projection
from spikemesh.ir.reference import run_reference
from spikemesh.simulator.fast import run_fast
from spikemesh.simulator.io import step_inputs
from tests.simulator.strategies import integer_graphs

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_same(ref, got, exact_v=True):
    assert set(ref.spikes) == set(got.spikes)
    for k in ref.spikes:
        np.testing.assert_array_equal(got.spikes[k], ref.spikes[k], err_msg=k)
    for k in ref.v:
        if exact_v:
            np.testing.assert_array_equal(got.v[k], ref.v[k], err_msg=k)
        else:
            np.testing.assert_allclose(got.v[k], ref.v[k], rtol=1e-9, atol=1e-9, err_msg=k)
    for k in ref.outputs:
        if exact_v:
            np.testing.assert_array_equal(got.outputs[k], ref.outputs[k], err_msg=k)
        else:
            np.testing.assert_allclose(got.outputs[k], ref.outputs[k], rtol=1e-9, atol=1e-9, err_msg=k)


@SETTINGS
@given(integer_graphs(integer=True))
def test_random_integer_graphs_equal_reference(case):
    g, x = case
    ref = run_reference(g, x, mode="int")
    got = run_fast(g, x, mode="int")
    assert got.mode == "int"
    assert_same(ref, got)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(integer_graphs(integer=False))
def test_random_float_graphs_equal_reference(case):
    # dyadic weights and decays: spikes agree exactly, states up to summation order
    g, x = case
    ref = run_reference(g, x, mode="float")
    got = run_fast(g, x, mode="float")
    assert_same(ref, got, exact_v=False)


def test_demo_model_equals_reference():
    g, x, _ = load_demo()
    assert_same(run_reference(g, x[:, :8]), spikemesh.simulate(g, x[:, :8], engine="fast"))


def test_conv_fixture_quantized(conv_graph):
    q, _ = spikemesh.quantize(conv_graph)
    rng = np.random.default_rng(3)
    for seed in range(3):
        x = (np.random.default_rng(seed).random((100, 2, 2, 8, 8)) < 0.3).astype(float)
        assert_same(run_reference(q, x), run_fast(q, x))
    del rng


def test_hand_trace_subtract_and_delay():
    # IF threshold 2, subtract reset, input 1 per step: spikes every second step; a Delay(3) relay copies them
    g = Graph(inputs=(Input("in", (1,)),),
              populations=(Population("a", (1,), IF(threshold=2.0)), Population("b", (1,), IF(threshold=1.0))),
              projections=(Projection("ia", "in", "a", (Dense([[1.0]]),)),
                           Projection("ab", "a", "b", (Dense([[1.0]]), spikemesh.ir.Delay(3)))),
              outputs=(Output("o", "b"),))
    x = np.ones((10, 1, 1))
    r = run_fast(g, x, mode="int")
    assert r.spikes["a"][:, 0, 0].nonzero()[0].tolist() == [1, 3, 5, 7, 9]
    assert r.spikes["b"][:, 0, 0].nonzero()[0].tolist() == [4, 6, 8]


def test_step_inputs_round_trip():
    g = Graph(inputs=(Input("in", (3, 2)),), populations=(Population("a", (6,), LIF(0.5)),),
              projections=(Projection("p", "in", "a", (spikemesh.ir.Flatten(),)),), outputs=(Output("o", "a"),))
    x = np.random.default_rng(0).integers(0, 3, (7, 2, 3, 2)).astype(float)
    from spikemesh.simulator.fast import flat_graph

    si = step_inputs(g, x, flat_graph(g, True), True)
    np.testing.assert_array_equal(si.dense("in"), x)
    assert_same(run_reference(g, x, mode="int"), run_fast(g, si, mode="int"))


def test_int_mode_rejects_fractional_weights():
    g = Graph(inputs=(Input("in", (2,)),), populations=(Population("a", (1,), IF()),),
              projections=(Projection("p", "in", "a", (Dense([[0.5, 1.0]]),)),), outputs=(Output("o", "a"),))
    with pytest.raises(GraphError, match="p: .*is not integer in int mode"):
        run_fast(g, np.ones((2, 1, 2)), mode="int")
    with pytest.raises(SimulationError, match="input array shape mismatch"):
        run_fast(g, np.ones((2, 1, 3)))


@pytest.mark.slow  # compiles one kernel per example; test_cuba_small_equals_reference covers the path
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(integer_graphs(integer=True))
def test_specialised_kernel_equals_reference(case):
    g, x = case
    ref = run_reference(g, x, mode="int")
    got = run_fast(g, x, mode="int", specialize=True)
    assert got.stats["kernel"] == "specialised"
    assert_same(ref, got)


def test_cuba_small_equals_reference():
    from spikemesh.simulator.cuba import cuba_graph, cuba_network, initial_inputs
    from spikemesh.simulator.io import as_dense_inputs

    net = cuba_network(400, in_degree=40, seed=2)
    g = cuba_graph(net)
    si = initial_inputs(g, net, 200)
    ref = run_reference(g, as_dense_inputs(g, si), record=["lif"])
    got = run_fast(g, si, specialize=True, record=["lif"])  # uniform two-port CubaLIF
    assert got.stats["kernel"] == "specialised"
    np.testing.assert_array_equal(got.spikes["lif"], ref.spikes["lif"])
    np.testing.assert_allclose(got.v["lif"], ref.v["lif"], rtol=1e-9, atol=1e-12)
    assert ref.spikes["lif"].sum() > 100
