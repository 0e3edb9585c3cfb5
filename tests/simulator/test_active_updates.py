"""Active vs inactive neuron updates (Loihi, Davies et al., IEEE Micro 2018, Table 2: 81 pJ active, 52 pJ
inactive): an update is active when the neuron receives a synaptic event or fires in the step. Hand-computed
counts on a small graph, an independent count from the reference rasters on random graphs, fast == cycle."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings

import spikemesh
from spikemesh.errors import SpikemeshError
from spikemesh.ir import IF, LI, Delay, Dense, Graph, Input, Output, Population, Projection
from spikemesh.ir.reference import run_reference
from spikemesh.simulator.activity import active_updates
from spikemesh.simulator.fast import flat_graph, run_fast_detailed
from tests.simulator.strategies import integer_graphs
from tests.simulator.test_engine_invariants import small_targets


def _graph() -> Graph:
    return Graph(
        (Input("in", (2,)),),
        (Population("a", (2,), IF(threshold=2.0)), Population("b", (1,), IF(threshold=1.0)),
         Population("c", (1,), IF(threshold=2.0)), Population("r", (1,), LI(beta=0.5))),
        (Projection("pa", "in", "a", (Dense([[1.0, 0.0], [0.0, 2.0]]),)),
         Projection("pb", "a", "b", (Delay(1), Dense([[1.0, 1.0]]))),
         Projection("pc", "in", "c", (Dense([[0.0, 0.0]], [1.0]),)),  # bias only: no synaptic event
         Projection("pr", "c", "r", (Dense([[1.0]]),))),
        (Output("o", "b"),))


def test_hand_computed_counts_and_energy() -> None:
    g = _graph()
    x = np.array([[[1, 0]], [[0, 0]], [[0, 1]], [[0, 0]]], dtype=np.int64)
    ref = run_reference(g, x)
    # preconditions (what the hand count reads): a1 fires at step 2, b at step 3, c (bias 1, θ 2) at steps 1, 3
    assert ref.spikes["a"][:, 0].tolist() == [[False, False], [False, False], [False, True], [False, False]]
    assert ref.spikes["b"][:, 0, 0].tolist() == [False, False, False, True]
    assert ref.spikes["c"][:, 0, 0].tolist() == [False, True, False, True]
    # active: a0 step 0 (input 0); a1 step 2 (input 1, fires); b step 3 (a1's spike after one step, fires);
    # c steps 1, 3 (fires; its bias is no event); r steps 1, 3 (c's spikes). 7 of 5 neurons x 4 steps = 20
    res = spikemesh.simulate(g, x, engine="fast", target="loihi")
    acts = res.stats["actions"]
    assert acts["neuron_update"] == 20
    assert acts["neuron_update_active"] == 7
    e = res.summary()["energy_by_action_pJ"]
    assert e["neuron_update_active"] == pytest.approx(7 * 81.0)
    assert e["neuron_update"] == pytest.approx(13 * 52.0)
    by_layer = res.summary()["energy_by_layer_pJ"]
    assert by_layer["c"] == pytest.approx(2 * 81.0 + 2 * 52.0)  # no synapses into c (its weights are zero)
    assert by_layer["a"] == pytest.approx(2 * 81.0 + 6 * 52.0 + 2 * 23.6)  # + its two synaptic ops
    # from the rasters instead of the kernel's spike events: the same per-neuron counts
    run = run_fast_detailed(g, x)
    r = run.result
    by_events, _ = active_updates(run.flat, r.spikes, r.v, run.inputs, 4, 1, run.spike_events)
    by_rasters, _ = active_updates(run.flat, r.spikes, r.v, run.inputs, 4, 1)
    assert by_events.tolist() == by_rasters.tolist() == [0, 0, 1, 1, 1, 2, 2]  # in0 in1 a0 a1 b c r
    # a table without the active figure charges every update neuron_update_pj and counts no active updates
    tj = spikemesh.simulate(g, x, engine="fast", target="tianjic")
    assert "neuron_update_active" not in tj.stats["actions"]
    assert tj.summary()["energy_by_action_pJ"]["neuron_update"] == pytest.approx(20 * 1.27)


def test_traces_off_counts_targets_of_untraced_sources_as_active() -> None:
    g = _graph()
    x = np.array([[[1, 0]], [[0, 0]], [[0, 1]], [[0, 0]]], dtype=np.int64)
    res = spikemesh.simulate(g, x, engine="fast", target="loihi", traces=False)
    assert res.stats["actions"]["neuron_update_active"] == 7  # r is a sink: nothing depends on its values
    assert "notes" not in res.stats
    g2 = g.replace(populations=(*g.populations, Population("q", (1,), IF(threshold=9.0))),
                   projections=(*g.projections, Projection("pq", "r", "q", (Dense([[1.0]]),))))
    on = spikemesh.simulate(g2, x, engine="fast", target="loihi")
    off = spikemesh.simulate(g2, x, engine="fast", target="loihi", traces=False)
    # r's value is non-zero from step 1 on (c fires at step 1), so q receives an event in steps 1, 2, 3
    assert on.stats["actions"]["neuron_update_active"] == 7 + 3
    assert off.stats["actions"]["neuron_update_active"] == 7 + 4  # unknown per-step values: every step
    assert "upper bound" in off.stats["notes"]["neuron_update_active"]


def independent_active(graph: Graph, ref, x: np.ndarray) -> int:
    """Σ over (step, sample, population neuron) of [it receives an event or fires], by loops over the flat
    graph's synapses and the reference rasters."""
    flat = flat_graph(graph, graph.is_quantized)
    T, B = x.shape[:2]
    send = np.zeros((T, B, flat.n), dtype=bool)
    fire = np.zeros((T, B, flat.n), dtype=bool)
    for name in flat.order:
        a, b = flat.node_range(name)
        if name in ref.spikes:
            send[:, :, a:b] = fire[:, :, a:b] = ref.spikes[name].reshape(T, B, -1)
        elif name in ref.v:
            send[:, :, a:b] = ref.v[name].reshape(T, B, -1) != 0
        else:
            send[:, :, a:b] = np.asarray(x).reshape(T, B, -1) != 0
    got = fire.copy()
    for s in range(flat.n):
        for k in range(flat.indptr[s], flat.indptr[s + 1]):
            d, tgt = int(flat.delay[k]), int(flat.target[k])
            if d < T:
                got[d:, :, tgt] |= send[:T - d, :, s]
    pops = np.zeros(flat.n, dtype=bool)
    for p in graph.populations:
        a, b = flat.node_range(p.name)
        pops[a:b] = True
    return int(got[:, :, pops].sum())


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(case=integer_graphs(), target=small_targets())
def test_fast_and_cycle_count_the_same_active_updates(case, target) -> None:
    g, x = case
    target = replace(target, energy=replace(target.energy, neuron_update_active_pj=3.0))
    try:
        prog = spikemesh.compile(g, target, seed=0, placer="rowmajor", routing="xy", quantize=False)
    except SpikemeshError:
        assume(False)
    ref = run_reference(prog.graph, x)
    fast = spikemesh.simulate(prog, x, engine="fast")
    cyc = spikemesh.simulate(prog, x, engine="cycle")
    n = independent_active(prog.graph, ref, x)
    assert fast.stats["actions"]["neuron_update_active"] == cyc.stats["actions"]["neuron_update_active"] == n
    sf, sc = fast.summary(), cyc.summary()
    for a in ("neuron_update", "neuron_update_active"):
        assert sf["energy_by_action_pJ"][a] == sc["energy_by_action_pJ"][a]
    upd = sf["neuron_updates"]
    assert sf["energy_by_action_pJ"]["neuron_update_active"] == pytest.approx(3.0 * n)
    assert sf["energy_by_action_pJ"]["neuron_update"] == pytest.approx(target.energy.neuron_update_pj * (upd - n))
    assert sum(sf["energy_by_core_pJ"]) == pytest.approx(sum(v for k, v in sf["energy_by_action_pJ"].items()
                                                             if k != "static"))
    assert sum(sf["energy_by_layer_pJ"].values()) == pytest.approx(sum(sf["energy_by_action_pJ"].values()))


def test_counting_refused_when_the_synapse_table_would_not_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The active-update count lists every synapse; when that would not fit it is a one-line refusal naming the
    bytes needed and available (not an out-of-memory kill), and a target with one update price still runs."""
    import spikemesh.simulator.activity as activity

    g = _graph()
    x = np.array([[[1, 0]], [[0, 0]], [[0, 1]], [[0, 0]]], dtype=np.int64)
    n_syn = int(flat_graph(g, True).out_degree.sum())
    assert n_syn > 0
    monkeypatch.setattr(activity, "available_memory", lambda: activity.SYNAPSE_BYTES * n_syn - 1)
    with pytest.raises(SpikemeshError, match="neuron_update_active.*does not fit.*tianjic") as e:
        spikemesh.simulate(g, x, engine="fast", target="loihi")
    assert "\n" not in str(e.value)
    assert spikemesh.simulate(g, x, engine="fast", target="tianjic").stats["actions"]["neuron_update"] == 20
    monkeypatch.setattr(activity, "available_memory", lambda: activity.SYNAPSE_BYTES * n_syn)
    assert spikemesh.simulate(g, x, engine="fast", target="loihi").stats["actions"]["neuron_update_active"] == 7
