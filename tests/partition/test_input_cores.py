"""Targets with the "input_cores" feature: graph inputs are replayed by source cores on the mesh (so conv52k's 205 cores
of 256 neurons include 12 for its 3,072 inputs) instead of streamed from the host. Checked: source cores by hand,
traffic into each core equal to the host-streamed partition's, capacity counts them, every strategy, and a compiled
Program whose cycle engine sends input packets from the source cores and still equals the reference."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import spikemesh
from spikemesh.partition import PartitionInfeasible, partition
from spikemesh.target.model import CoreSpec, Target


def small_target(neurons: int, cores: tuple[int, int] = (4, 4), inputs: bool = True) -> Target:
    feats = {"IF", "LIF", "Integrator", "partial_sums"} | ({"input_cores"} if inputs else set())
    return Target(name="m", cores_x=cores[0], cores_y=cores[1], core=CoreSpec(neurons, 4096, 1 << 24),
                  features=frozenset(feats))


@pytest.mark.parametrize("strategy", ["slicing", "tiles", "groups", "hypergraph"])
def test_source_cores_by_hand_and_traffic_equal_to_host_streaming(conv_graph: spikemesh.Graph,
                                                                  strategy: str) -> None:
    if strategy == "hypergraph":
        pytest.importorskip("mtkahypar")
    host = partition(conv_graph, small_target(48, inputs=False), strategy=strategy, seed=0)
    src = partition(conv_graph, small_target(48), strategy=strategy, seed=0)
    n = host.n_cores
    # 2x8x8 = 128 input elements in cores of 48: [0, 48), [48, 96), [96, 128) after the population cores
    assert src.n_cores == n + 3 and src.report["source_cores"] == 3
    assert [(c.role, c.layers, c.neurons["in"]) for c in src.cores[n:]] == [
        ("source", ("in",), (0, 48)), ("source", ("in",), (48, 96)), ("source", ("in",), (96, 128))]
    assert np.array_equal(src.neuron_core["in"], n + np.arange(128) // 48)
    assert src.cores[:n] == host.cores[:n]
    h, s = np.asarray(host.traffic), np.asarray(src.traffic)
    assert (s[:, 0] >= 0).all() and (h[:, 0] < 0).any()
    # per destination core, the copies from the inputs are the same, now split by source core
    for d in range(n):
        assert h[(h[:, 0] < 0) & (h[:, 1] == d), 2].sum() == pytest.approx(s[(s[:, 0] >= n) & (s[:, 1] == d), 2].sum())
    assert np.array_equal(h[h[:, 0] >= 0], s[s[:, 0] < n])
    assert src.report["remote_spike_copies"] == pytest.approx(host.report["remote_spike_copies"])


def test_capacity_counts_source_cores(conv_graph: spikemesh.Graph) -> None:
    n = partition(conv_graph, small_target(48, inputs=False), strategy="slicing", seed=0).n_cores
    w = n  # a 1-row mesh with exactly the population cores: no room for the 3 source cores
    partition(conv_graph, small_target(48, cores=(w, 1), inputs=False), strategy="slicing", seed=0)
    with pytest.raises(PartitionInfeasible, match=f"{n + 3} cores"):
        partition(conv_graph, small_target(48, cores=(w, 1)), strategy="slicing", seed=0)


def test_compiled_program_sends_inputs_from_source_cores(tmp_path: Path, conv_graph: spikemesh.Graph) -> None:
    base = spikemesh.target("tianjic")
    t = replace(base, features=base.features | {"input_cores"})
    prog = spikemesh.compile(conv_graph, t, seed=0, time_limit=2.0)
    part = prog.partition
    src_cores = [c.index for c in part.cores if c.role == "source"]
    assert len(src_cores) == 1 and prog.report["placement"]["host_hop_weighted_traffic"] == 0.0
    assert all(r.source >= 0 for r in prog.routes.routes) and src_cores[0] in {r.source for r in prog.routes.routes}
    x = (np.random.default_rng(1).random((20, 2, 2, 8, 8)) < 0.2).astype(np.int64)
    ref = spikemesh.simulate(prog, x, engine="reference")
    cyc = spikemesh.simulate(prog, x, engine="cycle")
    for k in ref.spikes:
        assert np.array_equal(ref.spikes[k], cyc.spikes[k]), k
    # every input element that is non-zero is one packet from its source core: packets = input events + spikes
    sent = int((x != 0).sum()) + sum(int((ref.spikes[k] != 0).sum()) for k in ("c1", "p"))
    assert cyc.stats["noc"]["packets"] == sent
    out = prog.save(tmp_path / "b")
    rows = json.loads((out / "placement.json").read_text())["cores"]
    assert [(r["role"], r["layer"]) for r in rows if r["core"] == src_cores[0]] == [("source", "in")]
    loaded = spikemesh.Program.load(out)
    assert loaded.partition == part
    again = spikemesh.simulate(loaded, x, engine="cycle")
    assert again.stats["noc"]["packets"] == sent
    assert all(np.array_equal(again.spikes[k], ref.spikes[k]) for k in ref.spikes)
