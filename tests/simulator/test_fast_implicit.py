"""The fast engine's implicit (weight-shared) delivery: random conv stacks equal the reference spike for spike in
both delivery modes (event-driven and dense gather) and in the specialised kernel; the synaptic event counts equal
Σ sends × out-degree counted independently from the reference's rasters and the explicit synapse blocks; a run
that cannot fit in memory is refused before allocating."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from spikemesh.errors import SimulationError
from spikemesh.ir import IF, Conv2d, Graph, Identity, Input, Output, Population, Projection
from spikemesh.ir.reference import run_reference
from spikemesh.simulator.arrays import projection_parts
from spikemesh.simulator.fast import memory_estimate, run_fast, run_fast_detailed
from tests.simulator.conv_strategies import conv_stacks

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _same(ref, got, what):
    for k in ref.spikes:
        np.testing.assert_array_equal(got.spikes[k], ref.spikes[k], err_msg=f"{what} {k}")
    for k in ref.v:
        np.testing.assert_array_equal(got.v[k], ref.v[k], err_msg=f"{what} {k}")


@SETTINGS
@given(conv_stacks())
def test_conv_stacks_equal_reference_in_every_delivery_mode(case):
    g, x = case
    ref = run_reference(g, x, mode="int")
    for delivery in ("auto", "event", "dense"):
        got = run_fast(g, x, mode="int", delivery=delivery)
        _same(ref, got, delivery)
        if delivery != "auto":  # a forced mode is what the statistics report (dense only where it applies)
            assert set(got.stats["delivery"].values()) <= {delivery, "event"}


def test_forced_dense_runs_a_gather_convolution():
    g = _two_convs()
    x = (np.random.default_rng(1).random((6, 1, 2, 6, 6)) < 0.5).astype(float)
    ref = run_reference(g, x)
    dense = run_fast(g, x, delivery="dense")
    event = run_fast(g, x, delivery="event")
    _same(ref, dense, "dense")
    _same(ref, event, "event")
    assert dense.stats["delivery"] == {"in>a": "dense", "a>b": "dense", "in>b:res": "event"}
    assert event.stats["delivery_steps"]["in>a"] == {"event": 6, "dense": 0}
    assert dense.stats["synaptic_events"] == event.stats["synaptic_events"]


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_stacks())
def test_conv_stacks_specialised_kernel_equals_reference(case):
    g, x = case
    _same(run_reference(g, x, mode="int"), run_fast(g, x, mode="int", specialize=True), "specialised")


def _independent_events(g, x, ref) -> tuple[int, int]:
    """(spike-driven, value-driven) synaptic events: Σ over sources of sends × out-degree, the out-degree counted
    from the explicit synapse blocks (non-zero weights per source), the sends from the reference's rasters."""
    D = max((pr.max_delay for pr in g.projections), default=0)
    sends = {g.inputs[0].name: (x != 0).sum(axis=(0, 1)).reshape(-1)}
    for p in g.populations:
        sends[p.name] = (ref.spikes[p.name] if p.neuron.spiking else ref.v[p.name] != 0).sum(axis=(0, 1)).reshape(-1)
    spk = {p.name for p in g.populations if p.neuron.spiking}
    out = [0, 0]
    for pr in g.projections:
        parts, _ = projection_parts(g, pr, True, D)
        for src, _tgt, w, _d in parts:
            deg = np.bincount(src[w != 0], minlength=len(sends[pr.source]))
            out[0 if pr.source in spk else 1] += int(deg @ sends[pr.source])
    return out[0], out[1]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_stacks())
def test_synaptic_events_equal_sends_times_out_degree(case):
    g, x = case
    ref = run_reference(g, x, mode="int")
    run = run_fast_detailed(g, x, mode="int")
    assert (run.result.stats["synaptic_events"], run.result.stats["value_events"]) == _independent_events(g, x, ref)
    # the flat graph's out-degree is the explicit CSR's, without building it for the fast engine
    np.testing.assert_array_equal(run.flat.out_degree, np.diff(run.flat.indptr))


def _two_convs() -> Graph:
    rng = np.random.default_rng(0)
    w1 = rng.integers(-2, 3, (4, 2, 3, 3)).astype(float)
    w2 = rng.integers(-2, 3, (2, 4, 3, 3)).astype(float)
    return Graph(inputs=(Input("in", (2, 6, 6)),),
                 populations=(Population("a", (4, 6, 6), IF(threshold=2.0)), Population("b", (2, 6, 6), IF())),
                 projections=(Projection("in>a", "in", "a", (Conv2d(w1, padding=1),)),
                              Projection("a>b", "a", "b", (Conv2d(w2, padding=1),)),
                              Projection("in>b:res", "in", "b", (Identity(),))),
                 outputs=(Output("out", "b"),))


def test_fast_engine_keeps_no_per_synapse_arrays_for_convolutions():
    g = _two_convs()
    run = run_fast_detailed(g, np.ones((2, 1, 2, 6, 6)))
    assert len(run.flat.ex_weight) == 0  # every projection is implicit
    assert "csr" not in run.flat._cache  # the full CSR was never built
    n_syn = sum(int(np.count_nonzero(g.projection_csr(pr).data)) for pr in g.projections)
    assert int(run.flat.out_degree.sum()) == n_syn


def test_run_that_cannot_fit_is_refused_before_allocating():
    g = _two_convs()
    T, B = 10**7, 64
    need = memory_estimate(g, T, B)
    assert need > 64 * 2**30  # rasters alone: T·B·(4·36 + 2·36) bits
    x = np.zeros((1, 1, 2, 6, 6))

    class Huge:  # [T, B, ...] shape without allocating it
        shape = (T, B, 2, 6, 6)

        def __array__(self, *a, **k):
            raise AssertionError("the inputs were read before the memory check")

    with pytest.raises(SimulationError) as e:
        run_fast(g, Huge())
    msg = str(e.value)
    assert "\n" not in msg and "GiB" in msg and "available" in msg and "fewer steps" in msg
    assert run_fast(g, x).steps == 1


def test_uniform_population_parameters_are_stored_once():
    g = _two_convs()
    thr = np.arange(72, dtype=float).reshape(2, 6, 6) + 1  # b: a threshold per neuron
    g = Graph(inputs=g.inputs, populations=(g.populations[0], Population("b", (2, 6, 6), IF(threshold=thr))),
              projections=g.projections, outputs=g.outputs)
    run = run_fast_detailed(g, np.ones((2, 1, 2, 6, 6)))
    fg = run.flat
    assert list(fg.pop_uniform) == [1, 0]
    assert len(fg.par["threshold"]) == 1 + 72  # one value for a, one per neuron for b
    a0, a1 = fg.node_range("a")
    b0, b1 = fg.node_range("b")
    np.testing.assert_array_equal(fg.threshold[a0:a1], 2.0)
    np.testing.assert_array_equal(fg.threshold[b0:b1], thr.reshape(-1))
    _same(run_reference(g, np.ones((2, 1, 2, 6, 6))), run.result, "per-neuron threshold")
