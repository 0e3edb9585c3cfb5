"""The digits demo: the rate code by hand, the split, the shipped model's recorded accuracy, and `spikemesh demo`
end to end on a few samples (both builds, report.html, placement map)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

from spikemesh.cli import main  # noqa: E402
from spikemesh.data.demo import accuracy  # noqa: E402
from spikemesh.data.digits import encode, load_digits_data, load_digits_model, split_indices  # noqa: E402
from spikemesh.ir.reference import run_reference  # noqa: E402


def test_rate_code_by_hand() -> None:
    img = np.zeros((1, 64), dtype=np.int64)
    img[0, :4] = [0, 16, 8, 3]
    x = encode(img)
    assert x.shape == (16, 1, 1, 8, 8) and x.dtype == np.uint8
    flat = x[:, 0, 0].reshape(16, 64)
    assert flat[:, 0].sum() == 0 and flat[:, 1].sum() == 16 and flat[:, 2].sum() == 8 and flat[:, 3].sum() == 3
    assert np.flatnonzero(flat[:, 2]).tolist() == [1, 3, 5, 7, 9, 11, 13, 15]  # floor(t*8/16) rises at odd t+1
    assert np.flatnonzero(flat[:, 3]).tolist() == [5, 10, 15]  # floor(t*3/16) rises at t+1 = 6, 11, 16


def test_split_is_disjoint_and_complete() -> None:
    tr, te = split_indices()
    assert len(te) == 360 and len(tr) == 1797 - 360 and not set(tr) & set(te)


def test_shipped_model_reaches_recorded_accuracy() -> None:
    g = load_digits_model()
    x, y = load_digits_data("test")
    assert g.is_quantized and x.shape == (16, 360, 1, 8, 8)
    acc = accuracy(run_reference(g, x), y)
    assert acc == pytest.approx(g.metadata["accuracy"]["ir_reference_int_test"])
    assert acc > 0.9


def test_demo_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--samples", "8", "--time-limit", "1", "-o", str(tmp_path / "demo"), "--json", "-q"]) == 0
    data = json.loads(capsys.readouterr().out)
    runs = {(r["build"], r["engine"]): r for r in data["runs"]}
    assert set(runs) == {("mesh", "reference"), ("mesh", "cycle"), ("speck", "reference"), ("speck", "async")}
    assert runs[("mesh", "cycle")]["exact_vs_reference"]
    assert runs[("mesh", "cycle")]["accuracy"] == runs[("mesh", "reference")]["accuracy"]
    for key in (("mesh", "cycle"), ("speck", "async")):
        assert runs[key]["energy_per_inference_uj"] > 0 and runs[key]["latency_s"] > 0
    for f in data["files"].values():
        assert Path(f).is_file()
    assert (tmp_path / "demo" / "mesh" / "placement.png").is_file()
