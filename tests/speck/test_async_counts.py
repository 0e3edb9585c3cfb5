"""The async engine counts every spike: a neuron fires once per input event, so several spikes of one neuron in
one step all count (in ``SimResult.spikes``, ``spike_counts()``, the summary and the CLI table)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import spikemesh

NIR = Path("/work/shared/data/nir_paper/cnn_sinabs.nir")


@pytest.mark.skipif(not NIR.is_file(), reason="NIR paper files not present")
def test_spike_counts_equal_spike_events_on_cnn_sinabs():
    p = spikemesh.compile(spikemesh.load(NIR), "speck")
    x = np.random.default_rng(0).poisson(0.3, (20, 2, 2, 34, 34)).astype(float)  # several events per pixel
    r = spikemesh.simulate(p, x, engine="async")
    events = r.stats["spike_events"]
    assert r.spike_counts() == events
    assert any(int(s.max()) > 1 for s in r.spikes.values())  # a neuron fired more than once in a step
    sm = r.summary()
    assert sm["spikes_per_layer"] == events and sm["time_model"] == "events"
    assert sm["latency_per_sample_cycles"] is None and "event-driven" in sm["notes"]["latency_cycles"]
    fid = sm["fidelity"]
    assert set(fid["layers"]) == set(events) and 0.0 <= fid["output_class_agreement"] <= 1.0
    # energy: SynOps and leak updates at synop_pj per layer, plus static power over the simulated time
    assert sum(sm["energy_by_layer_pJ"].values()) == pytest.approx(sm["energy_per_inference_uJ"] * 2 * 1e6)
