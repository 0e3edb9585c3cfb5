"""cnn_sinabs.nir (the NIR paper's N-MNIST CNN exported by sinabs for Speck) on the speck target."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

import spikemesh
from spikemesh.cli import main

#: the NIR paper's sinabs CNN (github.com/neuromorphs/NIR, paper/02_cnn/cnn_sinabs.nir), where the machine keeps it
NIR = Path("/work/shared/data/nir_paper/cnn_sinabs.nir")
pytestmark = pytest.mark.skipif(not NIR.is_file(), reason="NIR paper files not present")


def test_compiles_fast_with_core_map(tmp_path: Path) -> None:
    g = spikemesh.load(NIR)
    spikemesh.compile(g, "speck")  # warm-up: imports (OR-Tools) and caches
    t0 = time.perf_counter()
    p = spikemesh.compile(g, "speck")
    took = time.perf_counter() - t0
    assert took < 0.1 * 3  # target < 100 ms; 3x slack for the loaded shared machine (benchmarks/speck.py times it)
    m = p.report["speck"]["layer2core"]
    assert sorted(m) == ["1", "10", "12", "3", "6"] and len(set(m.values())) == 5
    mem = {row["layer"]: row for row in p.report["speck"]["memory"] if row["layer"]}
    # by hand with sinabs' memory_summary formulas: conv 2->16 k5 s2 p1 on 34x34 -> 16x16: kernel 2*2^(5+4),
    # neuron 16*2^(4+4)
    assert (mem["1"]["kernel_used"], mem["1"]["neuron_used"]) == (1024, 4096)
    # Linear 128 -> 256 on the pooled 8x4x4: kernel 8*2^(4+8) = 32Ki -> cores 3..6 only
    assert mem["10"]["kernel_used"] == 32768 and m["10"] in (3, 4, 5, 6)
    out = tmp_path / "b"
    p.save(out)
    cfg = json.loads((out / "speck_config.json").read_text())
    core1 = cfg["cnn_layers"][str(m["1"])]
    assert core1["dimensions"]["kernel_size"] == 5 and core1["dimensions"]["stride"] == {"x": 2, "y": 2}
    assert core1["destinations"] == [{"layer": m["3"], "enable": True, "pooling": 1, "feature_shift": 0}]
    assert cfg["cnn_layers"][str(m["3"])]["destinations"][0]["pooling"] == 2
    assert cfg["cnn_layers"][str(m["12"])]["monitor_enable"] is True
    assert cfg["dvs_layer"]["destinations"] == [{"layer": m["1"], "enable": True, "feature_shift": 0}]
    # NIR IF is "v > θ" with reset to zero: exact on the chip as v >= θ + 1
    q = p.graph.population["1"].neuron
    assert core1["threshold_high"] == int(q.threshold) + 1 and core1["return_to_zero"] is True
    assert np.abs(np.array(core1["weights"])).max() <= 128


def test_cli_prints_core_map(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", str(NIR), "--target", "speck", "--out", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "speck cores" in out and "kernel" in out and "core" in out


def test_async_runs_and_reloads(tmp_path: Path) -> None:
    p = spikemesh.compile(spikemesh.load(NIR), "speck")
    p.save(tmp_path / "b")
    q = spikemesh.Program.load(tmp_path / "b")
    rng = np.random.default_rng(0)
    x = (rng.random((10, 1, 2, 34, 34)) < 0.005).astype(np.int64)
    a, b = p.simulate(x, engine="async"), q.simulate(x, engine="async")
    assert a.spike_counts() == b.spike_counts() and a.stats["synops_per_core"] == b.stats["synops_per_core"]
    assert a.stats["samples"][0]["input_events"] == int(x.sum())
