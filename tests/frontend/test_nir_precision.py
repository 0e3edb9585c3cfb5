"""NIR import keeps the discrete coefficients a file means: a float32 time constant of two steps gives β = 0.5
exactly (dt/τ computed in the file's precision), so threshold ties resolve as in float32 simulators."""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np

from spikemesh.frontend import load
from spikemesh.ir.reference import run_reference

DT = 1e-4


def _lif_file(path: Path, dtype: type) -> Path:
    """Input(1) -> Affine(w = 1) -> LIF(τ = 2 dt, r = 1, θ = 0.75) -> Output, parameters stored as ``dtype`` (as
    SpikingJelly's exporter writes float32 tensors)."""
    f = lambda *v: np.array(v, dtype=dtype)  # noqa: E731
    nodes = {"input": nir.Input(input_type={"input": np.array([1])}),
             "fc": nir.Affine(weight=f(1.0).reshape(1, 1), bias=f(0.0)),
             "lif": nir.LIF(tau=f(2 * DT), r=f(1.0), v_leak=f(0.0), v_threshold=f(0.75)),
             "output": nir.Output(output_type={"output": np.array([1])})}
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")]))
    return path


def test_float32_tau_of_two_steps_gives_beta_one_half(tmp_path: Path) -> None:
    assert float(np.float32(2 * DT)) != 2 * DT  # the file's τ is 2·dt only to float32 precision
    g = load(_lif_file(tmp_path / "lif32.nir", np.float32), dt=DT)
    nrn = next(iter(g.populations)).neuron
    assert float(np.asarray(nrn.beta).reshape(-1)[0]) == 0.5
    assert float(np.asarray(nrn.gain).reshape(-1)[0]) == 0.5


def test_threshold_tie_resolves_as_with_exact_coefficients(tmp_path: Path) -> None:
    """Two input spikes: v = 0.5, then 0.5·0.5 + 0.5 = 0.75 = θ; NIR's "v > θ" does not fire (β = 0.4999999…
    put v a hair above θ and fired)."""
    g = load(_lif_file(tmp_path / "lif32.nir", np.float32), dt=DT)
    x = np.zeros((4, 1, 1))
    x[:2] = 1.0
    spikes = next(iter(run_reference(g, x).spikes.values()))
    assert int(spikes.sum()) == 0
    g64 = load(_lif_file(tmp_path / "lif64.nir", np.float64), dt=DT)
    assert float(np.asarray(next(iter(g64.populations)).neuron.beta).reshape(-1)[0]) == 0.5
