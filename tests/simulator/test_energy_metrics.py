"""Action counts, energy and NeuroBench metrics against independent counts from reference rasters."""

from __future__ import annotations

import numpy as np

import spikemesh
from spikemesh.ir import LIF, Dense, Graph, Input, Output, Population, Projection
from spikemesh.ir.reference import run_reference
from spikemesh.simulator.energy import Actions, energy
from spikemesh.target.model import EnergyTable


def mlp_20_30_5(seed=0):
    """An MLP 20 -> 30 -> 5 with 5 of 20 input columns pruned (50 steps: NeuroBench 2.3.0 reports Dense = 37,500
    and ConnectionSparsity = 0.2 for this shape)."""
    rng = np.random.default_rng(seed)
    w1 = rng.integers(1, 4, (30, 20)).astype(float) * rng.choice([-1, 1], (30, 20))
    w1[:, :5] = 0
    w2 = rng.integers(1, 4, (5, 30)).astype(float) * rng.choice([-1, 1], (5, 30))
    return Graph(inputs=(Input("in", (20,)),),
                 populations=(Population("h", (30,), LIF(0.75, threshold=3.0, state_bits=16, weight_bits=8)),
                              Population("o", (5,), LIF(0.75, threshold=3.0, state_bits=16, weight_bits=8))),
                 projections=(Projection("l1", "in", "h", (Dense(w1),)), Projection("l2", "h", "o", (Dense(w2),))),
                 outputs=(Output("out", "o"),))


def test_counts_equal_independent_counts_from_reference_rasters():
    g = mlp_20_30_5()
    B, T = 4, 50
    x = (np.random.default_rng(1).random((T, B, 20)) < 0.3).astype(float)
    ref = run_reference(g, x)
    res = spikemesh.simulate(g, x, engine="fast", target="tianjic")
    # synaptic ops = sum over sources of spikes x non-zero fan-out (from the weight matrices, not the engine)
    fo_in = np.count_nonzero(g.projection["l1"].ops[0].weight, axis=0)
    fo_h = np.count_nonzero(g.projection["l2"].ops[0].weight, axis=0)
    syn = int((x.sum(axis=(0, 1)) * fo_in).sum() + (ref.spikes["h"].sum(axis=(0, 1)) * fo_h).sum())
    acts = res.stats["actions"]
    assert acts["synop"] == syn
    assert acts["neuron_update"] == (30 + 5) * T * B
    assert acts["synapse_read_bits"] == syn * 8
    m = res.stats["metrics"]
    assert m["effective_acs"] == syn / B
    assert m["dense"] == 37_500  # T x weights = 50 x 750 (NeuroBench "Dense")
    assert m["connection_sparsity"] == 0.2  # 150 pruned of 750
    n_spk = ref.spikes["h"].sum() + ref.spikes["o"].sum()
    assert np.isclose(m["activation_sparsity"], 1 - n_spk / (T * B * 35))
    assert m["spikes_per_layer"] == {"h": int(ref.spikes["h"].sum()), "o": int(ref.spikes["o"].sum())}
    t = spikemesh.target("tianjic").energy
    e = res.stats["energy"]
    assert np.isclose(e["by_action_pj"]["synop"], syn * t.synop_pj)
    assert np.isclose(e["by_action_pj"]["neuron_update"], 35 * T * B * t.neuron_update_pj)
    assert np.isclose(e["total_pj"], syn * t.synop_pj + 35 * T * B * t.neuron_update_pj
                      + syn * 8 * t.synapse_read_bit_pj)


def test_energy_by_core_and_static():
    table = EnergyTable(synop_pj=2.0, neuron_update_pj=0.5, router_hop_pj=1.5, interchip_bit_pj=10.0,
                        synapse_read_bit_pj=0.0, static_mw=3.0)
    a = Actions(seconds=2e-3)
    a.add("synop", np.array([10, 0, 4]))
    a.add("router_hop", np.array([1, 2, 3]))
    a.add("link", np.array([5, 5, 5]))  # counted, no energy field
    rep = energy(a, table)
    np.testing.assert_allclose(rep.by_core, [21.5, 3.0, 12.5])
    assert rep.by_action["static"] == 3.0 * 2e-3 * 1e9
    assert np.isclose(rep.total_pj, 37.0 + 6e6)


def test_counts_on_two_port_cuba_from_reference_raster():
    """Multi-port neurons: synaptic ops count every synapse once, whichever port it feeds (exc and inh alike)."""
    from spikemesh.simulator.cuba import cuba_graph, cuba_network, initial_inputs
    from spikemesh.simulator.io import as_dense_inputs

    net = cuba_network(300, in_degree=30, seed=5)
    g = cuba_graph(net)
    T = 150
    si = initial_inputs(g, net, T)
    ref = run_reference(g, as_dense_inputs(g, si))
    res = spikemesh.simulate(g, si, engine="fast", target="loihi")
    outdeg = np.bincount(net.pre, minlength=net.n)  # the connectivity, not the engine's arrays
    spikes = ref.spikes["lif"][:, 0].sum(axis=0)
    assert spikes.sum() > 50
    init_ops = 2 * net.n  # the init input: one synapse per neuron, at steps 0 and 1
    acts = res.stats["actions"]
    assert acts["synop"] == int((spikes * outdeg).sum()) + init_ops
    assert res.stats["synaptic_events"] == int((spikes * outdeg).sum())
    assert acts["neuron_update"] == net.n * T
