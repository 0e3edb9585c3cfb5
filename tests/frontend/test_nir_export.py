"""NIR export: save_nir → nir's type-checked read → load gives identical reference rasters; what NIR cannot
say is named in a warning."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from spikemesh.frontend import FrontendWarning, load, save_nir
from spikemesh.frontend.nir.read import read_checked
from spikemesh.ir.reference import run_reference
from tests.frontend import models

from .test_nir_import import DATA, needs_data


def _roundtrip(g, tmp_path: Path, **kw):
    path = tmp_path / "m.nir"
    with warnings.catch_warnings():
        warnings.simplefilter("error", FrontendWarning)  # these models are fully expressible in NIR
        save_nir(g, path, **kw)
    ng = read_checked(path)  # nir's own reader with its type check
    for node in ng.nodes.values():  # per-neuron arrays, never 0-d
        for k in ("tau", "tau_mem", "r", "v_threshold", "tau_syn", "w_in", "v_leak"):
            if hasattr(node, k):
                assert np.ndim(getattr(node, k)) >= 1
    return load(path, dt=g.dt), ng


@pytest.mark.parametrize("build", [models.mlp, models.conv_net, models.recurrent])
@pytest.mark.parametrize("seed", [0, 1])
def test_roundtrip_identical_rasters(build, seed: int, tmp_path: Path) -> None:
    g = build(seed)
    g2, _ = _roundtrip(g, tmp_path)
    x = models.spikes(g, steps=60, seed=seed)
    a, b = run_reference(g, x), run_reference(g2, x)
    assert set(a.spikes) <= set(b.spikes)
    assert sum(int(v.sum()) for v in a.spikes.values()) > 0
    for k in a.spikes:
        assert np.array_equal(a.spikes[k], b.spikes[k]), k


def test_roundtrip_if_continuous_convention(tmp_path: Path) -> None:
    g = models.conv_net(2)
    g2, ng = _roundtrip(g, tmp_path, if_convention="continuous")
    assert np.allclose(ng.nodes["c1"].r, 1 / g.dt)
    x = models.spikes(g, steps=30)
    assert np.array_equal(run_reference(g, x).spikes["fc"], run_reference(g2, x).spikes["fc"])


def test_recurrent_delay_left_implicit(tmp_path: Path) -> None:
    g = models.recurrent(0)
    _, ng = _roundtrip(g, tmp_path)
    assert not any(type(n).__name__ == "Delay" for n in ng.nodes.values())
    assert ("h", "w_rec") in ng.edges and ("w_rec", "h") in ng.edges


@needs_data
def test_paper_cnn_roundtrip(tmp_path: Path) -> None:
    g = load(DATA / "cnn_sinabs.nir")
    g2, _ = _roundtrip(g, tmp_path)
    x = (np.random.default_rng(0).random((20, 1, 2, 34, 34)) < 0.2).astype(float)
    a, b = run_reference(g, x), run_reference(g2, x)
    assert all(np.array_equal(a.spikes[k], b.spikes[k]) for k in a.spikes)


def test_export_warns_what_nir_cannot_say(tmp_path: Path) -> None:
    g = models.mlp(0, reset="subtract", comparison=">=")
    g = g.with_population(g.population["l1"].__class__("l1", (30,), g.population["l1"].neuron.replace(
        refractory=2, reset_timing="after_decay")))
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        save_nir(g, tmp_path / "m.nir")
    msgs = [str(w.message) for w in rec if issubclass(w.category, FrontendWarning)]
    l1 = next(m for m in msgs if m.startswith("l1:"))
    for what in ("subtractive reset", "'>='", "after_decay", "refractory period of 2 steps"):
        assert what in l1
    assert any(m.startswith("l2:") and "subtractive reset" in m for m in msgs)
    # the file is still valid NIR, and reads back as reset-to-zero with '>' (NIR's only semantics)
    back = load(tmp_path / "m.nir")
    assert back.population["l2"].neuron.reset == "zero" and back.population["l2"].neuron.comparison == ">"
