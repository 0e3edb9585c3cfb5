"""Cross-engine invariants on random graphs x random targets (multi-chip, partial-sum trees, delays, recurrence):
spikes, synaptic operations and neuron updates equal between reference, fast, cycle and (ideal devices, ideal ADC)
crossbar; the cycle engine's packets equal Σ spikes × distinct destination cores plus the partial sums sent,
counted from the partition's traffic; the energy of the actions fast and cycle share is equal."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

import spikemesh
from spikemesh.errors import SpikemeshError
from spikemesh.ir.reference import run_reference
from tests.simulator.strategies import integer_graphs


@st.composite
def small_targets(draw: st.DrawFn):
    """Tianjic-like chips of 2x2 tiny cores: few neurons and axons force partial-sum trees and several chips."""
    t = spikemesh.target("tianjic")
    return replace(t, name="tiny", cores_x=2, cores_y=2, chips_x=draw(st.integers(2, 4)), chips_y=4,
                   core=replace(t.core, neurons=draw(st.sampled_from([2, 3])),
                                axons=draw(st.sampled_from([6, 8, 16])), synapse_bits=4096))


def independent_synops(graph, ref, x) -> int:
    """Σ over projections and sources of non-zero events × the source's non-zero fan-out in the projection's
    matrix (spikes; non-zero values of non-spiking populations and inputs), from the reference rasters."""
    total = 0
    for pr in graph.projections:
        m = graph.projection_csr(pr).tocsr()
        fan = np.asarray((m != 0).sum(axis=1)).ravel()
        if pr.source in ref.spikes:
            ev = ref.spikes[pr.source].reshape(-1, len(fan)).sum(axis=0)
        else:
            arr = ref.v[pr.source] if pr.source in ref.v else x
            ev = np.count_nonzero(np.asarray(arr).reshape(-1, len(fan)), axis=0)
        total += int((ev * fan).sum())
    return total


def source_sends(prog, ref, x) -> dict[int, int]:
    """Sends per source core (graph input 0, streamed from the host: -1) from the reference rasters."""
    out: dict[int, int] = {-1: int(np.count_nonzero(x))}
    for name, cores in prog.partition.neuron_core.items():
        arr = ref.spikes[name] if name in ref.spikes else (ref.v[name] != 0)
        s = np.asarray(arr).reshape(-1, cores.size).sum(axis=0)
        for c in np.unique(cores):
            out[int(c)] = out.get(int(c), 0) + int(s[cores == c].sum())
    return out


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(case=integer_graphs(), target=small_targets())
def test_engines_agree_on_random_graphs_and_targets(case, target):
    g, x = case
    try:
        prog = spikemesh.compile(g, target, seed=0, placer="rowmajor", routing="xy", quantize=False)
    except SpikemeshError:
        assume(False)
    event("partial sums" if any(c.role == "partial_sum" for c in prog.partition.cores) else "no partial sums")
    event("several chips" if len({tuple(c[:2]) for c in prog.placement.coords}) > 1 else "one chip")
    event("delays" if any(p.max_delay for p in g.projections) else "no delays")
    ref = run_reference(prog.graph, x)
    fast = spikemesh.simulate(prog, x, engine="fast")
    cyc = spikemesh.simulate(prog, x, engine="cycle")
    for k in ref.spikes:
        np.testing.assert_array_equal(fast.spikes[k], ref.spikes[k])
        np.testing.assert_array_equal(cyc.spikes[k], ref.spikes[k])
    T, B = x.shape[:2]
    syn = independent_synops(prog.graph, ref, x)
    upd = T * B * sum(p.size for p in prog.graph.populations)
    sf, sc = fast.summary(), cyc.summary()
    assert sf["synaptic_operations"] == sc["synaptic_operations"] == syn
    assert sf["neuron_updates"] == sc["neuron_updates"] == upd
    assert sf["spikes_per_layer"] == sc["spikes_per_layer"] == ref.spike_counts()
    for a, pj in sf["energy_by_action_pJ"].items():  # every action fast prices, cycle prices the same
        assert sc["energy_by_action_pJ"][a] == pj, a
    # packets and deliveries, from the partition's traffic (the routes are built from it, not read here)
    part = prog.partition
    tm = part.traffic
    psums = T * B * sum((b[1] - b[0]) * (b[3] - b[2]) * (b[5] - b[4])
                        for c in part.cores if c.role == "partial_sum" for bs in c.boxes.values() for b in bs)
    sends = source_sends(prog, ref, x)
    dests = {s: len({int(d) for d in tm[tm[:, 0] == s, 1]}) for s in sends}
    noc = cyc.stats["noc"]
    assert noc["packets"] == sum(n for s, n in sends.items() if dests[s]) + psums
    assert noc["deliveries"] == sum(n * dests[s] for s, n in sends.items()) + psums


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(case=integer_graphs())
def test_ideal_crossbar_agrees_with_reference(case):
    g, x = case
    ref = run_reference(g, x)
    try:
        xb = spikemesh.simulate(g, x, engine="crossbar", config={"adc_bits": None, "dac_bits": 16})
    except SpikemeshError:  # a chain with two weighted ops (conv then dense) does not map onto one array
        assume(False)
    for k in ref.spikes:
        np.testing.assert_array_equal(xb.spikes[k], ref.spikes[k])
    sm = xb.summary()
    assert sm["synaptic_operations"] == independent_synops(g, ref, x)
    assert sm["neuron_updates"] == x.shape[0] * x.shape[1] * sum(p.size for p in g.populations)
    assert all(v["differing_fraction"] == 0.0 for v in sm["fidelity"]["layers"].values())
