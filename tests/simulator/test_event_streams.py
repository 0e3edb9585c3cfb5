"""Event streams as DVS users hold them (tonic-style structured arrays, (N, 4) arrays, npz of x, y, p, t) binned
with dt, in the API (spikemesh.from_events) and on the CLI (--dt)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import spikemesh
from spikemesh.cli import main
from spikemesh.errors import SimulationError
from spikemesh.ir import Graph

EV = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])
# x, y, t [µs], p: by hand, with dt = 1 ms: steps 0, 1, 2, 2
EVENTS = np.array([(1, 2, 0, 1), (3, 4, 1500, 0), (1, 2, 2999, 1), (1, 2, 2000, 1)], dtype=EV)


def _expected() -> np.ndarray:
    out = np.zeros((3, 1, 2, 8, 8), dtype=np.int64)
    out[0, 0, 1, 2, 1] = 1
    out[1, 0, 0, 4, 3] = 1
    out[2, 0, 1, 2, 1] = 2  # two ON events in step 2 at (x=1, y=2): counts
    return out


def test_three_forms_bin_alike() -> None:
    want = _expected()
    a = spikemesh.from_events(EVENTS, (2, 8, 8), dt=1e-3)
    cols = np.stack([EVENTS["x"], EVENTS["y"], EVENTS["t"], EVENTS["p"]], axis=1).astype(np.int64)
    b = spikemesh.from_events(cols, (2, 8, 8), dt=1e-3)
    c = spikemesh.from_events({"x": EVENTS["x"], "y": EVENTS["y"], "p": EVENTS["p"], "t": EVENTS["t"] * 1e-6},
                              (2, 8, 8), dt=1e-3)
    for got in (a, b, c):
        assert np.array_equal(got, want)
    coarse = spikemesh.from_events(EVENTS, (2, 8, 8), dt=2e-3)  # steps 0, 0, 1, 1
    assert coarse.shape[0] == 2 and coarse[0].sum() == 2 and coarse[1, 0, 1, 2, 1] == 2


def test_list_is_a_batch_and_one_channel_merges_polarity() -> None:
    x = spikemesh.from_events([EVENTS, EVENTS[:1]], (1, 8, 8), dt=1e-3)
    assert x.shape == (3, 2, 1, 8, 8)
    assert x[:, 0].sum() == 4 and x[:, 1].sum() == 1


def test_unknown_form_lists_accepted_forms() -> None:
    with pytest.raises(SimulationError) as e:
        spikemesh.from_events(np.zeros((3, 3)), (2, 8, 8), dt=1e-3)
    msg = str(e.value)
    assert "\n" not in msg and "structured array" in msg and "(N, 4)" in msg and ".npz" in msg


def test_cli_reads_structured_events_with_dt(tmp_path: Path, conv_graph: Graph,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    conv_graph.save(tmp_path / "m.smg")
    np.save(tmp_path / "ev.npy", EVENTS)
    assert main(["simulate", str(tmp_path / "m.smg"), "-i", str(tmp_path / "ev.npy"), "--dt", "0.001",
                 "-o", str(tmp_path / "r.npz"), "--json"]) == 0
    capsys.readouterr()
    with np.load(tmp_path / "r.npz") as z:
        assert z["spikes/c1"].shape[:2] == (3, 1)
    assert main(["simulate", str(tmp_path / "m.smg"), "-i", str(tmp_path / "ev.npy"), "--dt", "0.002",
                 "-o", str(tmp_path / "r2.npz"), "-q"]) == 0
    with np.load(tmp_path / "r2.npz") as z:
        assert z["spikes/c1"].shape[:2] == (2, 1)
