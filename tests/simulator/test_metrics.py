"""One metrics model for every engine, checked against hand counts: partial-sum packets (one per accumulated
neuron, not the flat index span of a conv tile), synaptic operations charged to the partial-sum core that holds
the synapse, and ``SimResult.summary()`` with the same keys everywhere."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import spikemesh
from spikemesh.ir import IF, LIF, Conv2d, Dense, Flatten, Graph, Input, Output, Population, Projection, SumPool2d
from spikemesh.ir.reference import run_reference
from spikemesh.target.model import EnergyTable


def _vol(b):
    return (b[1] - b[0]) * (b[3] - b[2]) * (b[5] - b[4])


@pytest.fixture(scope="module")
def psum_case():
    """Conv 12 -> 6 channels on 6x6 with 3x3 kernels, then pool -> dense 5, on cores of 32 neurons / 64 axons:
    every conv tile of 1x3 positions x 6 channels needs a partial-sum tree over the input channels (its flat
    neuron bounds span 183 indices for 18 neurons), and the dense layer one over its 54 sources."""
    rng = np.random.default_rng(0)
    g = Graph(inputs=(Input("in", (12, 6, 6)),),
              populations=(Population("c1", (6, 6, 6), LIF(0.875)), Population("o", (5,), IF())),
              projections=(Projection("a", "in", "c1", (Conv2d(rng.integers(-2, 4, (6, 12, 3, 3)).astype(float),
                                                               padding=1),)),
                           Projection("b", "c1", "o", (SumPool2d(2), Flatten(),
                                                       Dense(rng.integers(-2, 3, (5, 54)).astype(float))))),
              outputs=(Output("out", "o"),))
    t = spikemesh.target("tianjic")
    t = replace(t, name="small", cores_x=4, cores_y=5, chips_x=2, chips_y=2,
                core=replace(t.core, neurons=32, axons=64))
    prog = spikemesh.compile(g, t, seed=0, placer="rowmajor", routing="xy")
    x = (np.random.default_rng(1).random((6, 2, 12, 6, 6)) < 0.3).astype(float)
    return g, prog, x


def test_partial_sum_packets_by_hand(psum_case):
    g, prog, x = psum_case
    part = prog.partition
    psum = [c for c in part.cores if c.role == "partial_sum"]
    assert any(max(hi - lo for lo, hi in c.neurons.values()) > sum(_vol(b) for bs in c.boxes.values() for b in bs)
               for c in psum)  # the case that overcounted: flat bounds span more than the core's neurons
    res = spikemesh.simulate(prog, x, engine="cycle")
    ref = run_reference(prog.graph, x)
    steps = x.shape[0] * x.shape[1]
    psums = steps * sum(_vol(b) for c in psum for bs in c.boxes.values() for b in bs)
    sends = {}  # per source core (graph input 0 streamed from the host: -1)
    for name, cores in part.neuron_core.items():
        s = ref.spikes[name].reshape(-1, cores.size).sum(axis=0)
        for c in np.unique(cores):
            sends[int(c)] = sends.get(int(c), 0) + int(s[cores == c].sum())
    sends[-1] = int(np.count_nonzero(x))
    noc = res.stats["noc"]
    # each spike is one packet to every distinct destination core of its source in the partition's traffic
    # (sources without destinations, the output layer's cores, send none)
    tm = part.traffic
    dests = {s: len({int(d) for d in tm[tm[:, 0] == s, 1]}) for s in sends}
    assert all(len(tm[tm[:, 0] == c.index]) == 1 for c in psum)  # a partial-sum core sends to its merge core only
    assert noc["packets"] == sum(n for s, n in sends.items() if dests[s]) + psums
    assert noc["deliveries"] == sum(sends[s] * dests[s] for s in sends) + psums


def test_synops_are_charged_to_the_core_that_holds_the_synapse(psum_case):
    """Per core, from the projection matrices and the cores' input-unit ranges (not the engine's arrays): a
    conv tree node performs the synapses from its input channels into its box; a dense tree node those from its
    source neurons."""
    g, prog, x = psum_case
    unit = EnergyTable(synop_pj=1.0, neuron_update_pj=0.0, router_hop_pj=0.0, interchip_bit_pj=0.0)
    prog = replace(prog, target=replace(prog.target, energy=unit))
    g = prog.graph  # the lowered graph the engines run
    ref = run_reference(g, x)
    sends = {"in": (x != 0).sum(axis=(0, 1)).reshape(-1), "c1": ref.spikes["c1"].sum(axis=(0, 1)).reshape(-1)}
    expected = np.zeros(len(prog.partition.cores))
    for c in prog.partition.cores:
        if c.role == "source":
            continue
        for layer, boxes in c.boxes.items():
            for pr in g.incoming(layer):
                m = (g.projection_csr(pr) != 0).tocsr()
                src_shape = g.shape_of(pr.source)
                per_unit = int(np.prod(src_shape[1:])) if pr.name == "a" else 1  # conv: a unit is a channel
                u0, u1 = c.inputs.get(pr.name, (0, 0)) if c.inputs or c.role == "partial_sum" else (0, 10**9)
                rows = np.arange(m.shape[0])
                rows = rows[(rows // per_unit >= u0) & (rows // per_unit < u1)]
                dst = np.zeros(m.shape[1], dtype=bool)
                for b in boxes:
                    view = g.shape_of(layer) if len(g.shape_of(layer)) == 3 else (g.shape_of(layer)[0], 1, 1)
                    idx = np.zeros(view, dtype=bool)
                    idx[b[0]:b[1], b[2]:b[3], b[4]:b[5]] = True
                    dst |= idx.reshape(-1)
                expected[c.index] += float(sends[pr.source][rows] @ np.asarray(m[rows][:, dst].sum(axis=1)).ravel())
    for engine in ("fast", "cycle"):
        sm = spikemesh.simulate(prog, x, engine=engine).summary()
        got = np.array(sm["energy_by_core_pJ"])
        # the merge cores also add their children's partial sums (one unit-weight op per neuron and child)
        merge = np.zeros_like(expected)
        for c in prog.partition.cores:
            if c.role == "partial_sum":
                merge[c.merge_into] += x.shape[0] * x.shape[1] * sum(_vol(b) for bs in c.boxes.values() for b in bs)
        np.testing.assert_allclose(got, expected + merge)
        assert sm["synaptic_operations"] == int(expected.sum())
        assert all(got[c.index] > 0 for c in prog.partition.cores if c.role == "partial_sum")


def test_summary_has_the_same_keys_for_every_engine(psum_case, conv_graph):
    from spikemesh.ir.result import SUMMARY_KEYS

    g, prog, x = psum_case
    sums = [spikemesh.simulate(prog, x, engine=e).summary() for e in ("fast", "cycle")]
    q, _ = spikemesh.quantize(conv_graph)
    xq = (np.random.default_rng(2).random((4, 2, 2, 8, 8)) < 0.3).astype(float)
    sums.append(spikemesh.simulate(q, xq, engine="crossbar").summary())
    sums.append(spikemesh.simulate(q, xq, engine="trainer").summary())
    sums.append(spikemesh.simulate(q, xq, engine="reference").summary())
    for sm in sums:
        assert tuple(sm) == SUMMARY_KEYS, sm["engine"]
        if sm["latency_per_sample_s"] is None:
            assert sm["notes"]["latency"]  # says why
        if sm["energy_per_inference_uJ"] is None:
            assert sm["notes"]["energy"]
    fast, cycle = sums[0], sums[1]
    assert fast["spikes_per_layer"] == cycle["spikes_per_layer"]
    assert fast["synaptic_operations"] == cycle["synaptic_operations"]
    assert cycle["time_model"] == "cycles" and cycle["latency_per_sample_cycles"] > 0
    # energy per inference = total / batch; power = total / simulated time (static included)
    tot = sum(cycle["energy_by_action_pJ"].values())
    assert cycle["energy_per_inference_uJ"] == pytest.approx(tot / 2 / 1e6)
    assert cycle["average_power_mW"] == pytest.approx(tot * 1e-9 / (2 * cycle["latency_per_sample_s"]))
    assert sum(cycle["energy_by_layer_pJ"].values()) == pytest.approx(tot)
    assert sum(fast["energy_by_core_pJ"]) == pytest.approx(sum(fast["energy_by_action_pJ"].values()))
    for a in ("synop", "synapse_read_bits", "neuron_update", "partial_sum_add"):  # shared actions: equal energy
        assert fast["energy_by_action_pJ"][a] == cycle["energy_by_action_pJ"][a]
    xb = sums[2]
    assert xb["fidelity"]["layers"]["c1"]["differing_fraction"] == 0.0  # 8-bit ADC reads this small net exactly
    assert xb["synaptic_operations"] == spikemesh.simulate(q, xq, engine="fast").summary()["synaptic_operations"]


def test_loihi_energy_table_is_davies_2018_table_2():
    e = spikemesh.target("loihi").energy
    assert (e.synop_pj, e.neuron_update_pj, e.packet_pj, e.router_hop_pj, e.router_hop_ns_pj) == (
        23.6, 52.0, 1.7, 3.0, 4.0)
    status = {f: st for f, _, _, st in e.rows()}
    assert status["synop_pj"] == status["router_hop_ns_pj"] == "published" and status["interchip_bit_pj"] == "assumed"
    for name in ("tianjic", "loihi", "speck", "crossbar", "trainer"):  # every priced field names a source
        assert all(src for _, _, src, _ in spikemesh.target(name).energy.rows())


def test_cli_target_show_prints_sources(capsys):
    from spikemesh.cli import main

    assert main(["target", "show", "loihi"]) == 0
    out = capsys.readouterr().out
    assert "23.6 pJ" in out and "Davies et al." in out and "assumed" in out
    assert main(["targets", "--energy"]) == 0
    assert capsys.readouterr().out.count("energy table") >= 5


def test_cli_simulate_writes_the_summary(tmp_path, conv_graph, capsys):
    import json

    from spikemesh.cli import main
    from spikemesh.ir.result import SUMMARY_KEYS

    model, build = tmp_path / "m.smg", tmp_path / "build"
    conv_graph.save(model)
    np.save(tmp_path / "x.npy", (np.random.default_rng(0).random((5, 2, 2, 8, 8)) < 0.4).astype(np.uint8))
    assert main(["compile", str(model), "--target", "tianjic", "--out", str(build), "--time-limit", "2"]) == 0
    assert main(["simulate", str(build), "--input", str(tmp_path / "x.npy"), "--engine", "cycle"]) == 0
    out = capsys.readouterr().out
    assert "energy per inference" in out and "latency per sample" in out and " cycles)" in out
    sim = json.loads((build / "report.json").read_text())["simulation"]
    assert tuple(sim["summary"]) == SUMMARY_KEYS and sim["summary"]["spikes_per_layer"] == sim["spikes"]
    assert sim["summary"]["average_power_mW"] > 0
