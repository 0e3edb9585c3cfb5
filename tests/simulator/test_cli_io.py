"""`spikemesh simulate --engine fast|cycle`, report.json simulation entry, event-list and raster I/O."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

import spikemesh
from spikemesh.cli import main
from spikemesh.errors import SimulationError
from spikemesh.ir.reference import run_reference
from spikemesh.simulator.io import bin_events, from_nir_observable


def test_simulate_fast_writes_simulation_report(tmp_path, conv_graph, capsys):
    model, build = tmp_path / "m.smg", tmp_path / "build"
    conv_graph.save(model)
    x = (np.random.default_rng(0).random((20, 2, 2, 8, 8)) < 0.4).astype(np.uint8)
    np.save(tmp_path / "x.npy", x)
    assert main(["compile", str(model), "--target", "tianjic", "--out", str(build)]) == 0
    assert main(["simulate", str(build), "--input", str(tmp_path / "x.npy"), "--engine", "fast",
                 "--out", str(tmp_path / "r.npz")]) == 0
    sim = json.loads((build / "report.json").read_text())["simulation"]
    prog = spikemesh.Program.load(build)
    ref = run_reference(prog.graph, x)
    assert sim["engine"] == "fast" and sim["spikes"] == ref.spike_counts()
    assert sim["actions"]["neuron_update"] == prog.graph.n_neurons * 20 * 2
    assert sim["energy"]["total_pj"] > 0 and "synop" in sim["energy"]["by_action_pj"]
    assert 0 < sim["metrics"]["activation_sparsity"] < 1
    with np.load(tmp_path / "r.npz") as z:
        np.testing.assert_array_equal(z["spikes/c1"], ref.spikes["c1"])


def test_simulate_cycle_on_unplaced_build_exit_2(tmp_path, conv_graph, capsys):
    model, build, unplaced = tmp_path / "m.smg", tmp_path / "build", tmp_path / "unplaced"
    conv_graph.save(model)
    np.save(tmp_path / "x.npy", np.zeros((3, 1, 2, 8, 8)))
    assert main(["compile", str(model), "--out", str(build)]) == 0
    prog = spikemesh.Program.load(build)
    assert prog.partition is not None and prog.placement is not None and prog.routes is not None
    # the same build with its partition only (a Program saved through the API before placement)
    replace(prog, sections={"partition": prog.partition}).save(unplaced)
    capsys.readouterr()
    assert main(["simulate", str(unplaced), "--input", str(tmp_path / "x.npy"), "--engine", "cycle"]) == 2
    err = capsys.readouterr().err
    assert "needs a placed and routed Program" in err and "missing ['placement', 'routes']" in err
    assert "Traceback" not in err
    assert main(["simulate", str(unplaced), "--input", str(tmp_path / "x.npy"), "--engine", "fast"]) == 0


def test_event_list_binned_and_simulated(tmp_path, conv_graph):
    # 3 events by hand: (x=1, y=2, on, t=0.5 ms), (x=1, y=2, on, t=0.9 ms) -> step 0 count 2; (x=7, y=0, off, 2.1 ms)
    x = np.array([1, 1, 7])
    y = np.array([2, 2, 0])
    p = np.array([1, 1, 0])
    t = np.array([0.5e-3, 0.9e-3, 2.1e-3])
    arr = bin_events(x, y, p, t, (2, 8, 8), dt=1e-3, steps=4)
    assert arr.shape == (4, 1, 2, 8, 8) and arr.sum() == 3
    assert arr[0, 0, 1, 2, 1] == 2 and arr[2, 0, 0, 0, 7] == 1
    np.savez(tmp_path / "ev.npz", x=x, y=y, p=p, t=t)
    conv_graph.save(tmp_path / "m.smg")
    assert main(["simulate", str(tmp_path / "m.smg"), "--input", str(tmp_path / "ev.npz"), "--steps", "4",
                 "--engine", "fast"]) == 0
    with pytest.raises(SimulationError, match="event x out of range"):
        bin_events(np.array([8]), np.array([0]), np.array([0]), np.array([0.0]), (2, 8, 8), dt=1e-3)


def test_nir_time_gridded_observable():
    class Gridded:  # the fields of nir's TimeGriddedData: data [samples, steps, neurons], dt
        def __init__(self, data, dt):
            self.data, self.dt = data, dt

    d = np.random.default_rng(0).random((3, 5, 12)) < 0.5
    got = from_nir_observable(Gridded(d, 1e-3), 1e-3, (3, 2, 2))
    assert got.shape == (5, 3, 3, 2, 2)
    np.testing.assert_array_equal(got[:, 1].reshape(5, 12), d[1])
