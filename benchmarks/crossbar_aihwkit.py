"""Our PCM device model vs IBM aihwkit's own ``PCMLikeNoiseModel`` (Nandakumar et al., ICECS 2019), side by side.

For a grid of target conductances, the mean and standard deviation of the programmed conductance G_P and of the
drifted + 1/f-read-noise conductance G(t) at t = 1 s, 1 h, 1 d, 1 y, 10 y, from
``spikemesh.backends.crossbar.devices`` (program, drift) and from aihwkit
(``apply_programming_noise_to_conductance``, ``generate_drift_coefficients``, ``apply_drift_noise_to_conductance``).
Both draw N samples per point; the relative differences should be within sampling error (about
1/sqrt(N) of the std for the mean, 1/sqrt(2N) for the std itself).

Not part of the default test run: it needs aihwkit, which PyPI ships for CPython 3.11 only as the 1.2.0 sdist
(a C++ build: ~35 min niced on 2 loaded cores). Recipe that worked here: ``apt-get install libopenblas-dev``;
``python3.11 -m venv V``; ``V/bin/pip install torch==2.13.0 "torchvision<0.29"`` first (a later torchvision pulls
a newer torch); the build requirements (setuptools>=77, scikit-build, pybind11>=3.0.1, ninja, cmake>=4.2.1, mypy,
numpy, scipy, requests, protobuf, tqdm, scikit-learn); then, with ``V/bin`` on PATH (the post-link step runs
mypy's ``stubgen``; without it the link fails with "stubgen: not found"),
``V/bin/pip install --no-build-isolation --no-deps aihwkit-1.2.0/``. Run it with the venv's interpreter, e.g.
``nice /work/venvs/aihwkit/bin/python benchmarks/crossbar_aihwkit.py``. spikemesh's devices module is loaded by file
path (it needs only NumPy), so the aihwkit venv needs no spikemesh dependencies.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
G_MAX = 25.0  # µS (aihwkit PCMLikeNoiseModel default converter g_max = 25 µS)
GRID = (0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 25.0)  # µS targets
TIMES = {"1s": 1.0, "1h": 3600.0, "1d": 86400.0, "1y": 3.156e7, "10y": 3.156e8}
N = 200_000


def _devices() -> object:
    path = ROOT / "spikemesh" / "simulator" / "cores" / "crossbar" / "devices.py"
    spec = importlib.util.spec_from_file_location("sm_devices", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["sm_devices"] = mod
    spec.loader.exec_module(mod)
    return mod


def ours(dev: object, gt: float, t: float | None, rng: np.random.Generator) -> np.ndarray:
    g_t = np.full(N, gt)
    model = dev.DeviceModel(prog_noise="pcm", drift=True, read_noise=True, t_read_s=t or 0.0)  # type: ignore[attr-defined]
    g_p = dev.program(g_t, model, 0.0, G_MAX, rng)  # type: ignore[attr-defined]
    if t is None:
        return g_p
    return dev.drift(g_p, g_t, t, model, G_MAX, rng)  # type: ignore[attr-defined]


def theirs(noise: object, gt: float, t: float | None) -> np.ndarray:
    import torch

    g_t = torch.full((N,), gt, dtype=torch.float64)
    g_p = noise.apply_programming_noise_to_conductance(g_t)  # type: ignore[attr-defined]
    if t is None:
        return g_p.numpy()
    nu = noise.generate_drift_coefficients(g_t)  # type: ignore[attr-defined]
    return noise.apply_drift_noise_to_conductance(g_p, nu, t).numpy()  # type: ignore[attr-defined]


def main() -> None:
    import aihwkit
    import torch
    from aihwkit.inference.noise.pcm import PCMLikeNoiseModel

    print(f"load average: {os.getloadavg()}")
    print(f"aihwkit {aihwkit.__version__}, torch {torch.__version__}; N = {N:,} samples per point")
    torch.manual_seed(0)
    dev = _devices()
    rng = np.random.default_rng(0)
    noise = PCMLikeNoiseModel(g_max=G_MAX)
    t0 = time.perf_counter()
    worst_mean = worst_std = 0.0
    print(f"{'G_T µS':>7} {'t':>5} {'mean ours':>10} {'mean aihw':>10} {'Δmean %':>8} {'std ours':>9} {'std aihw':>9} "
          f"{'Δstd %':>7}")
    for gt in GRID:
        for name, t in (("prog", None), *TIMES.items()):
            a, b = ours(dev, gt, t, rng), theirs(noise, gt, t)
            dm = 100 * (a.mean() - b.mean()) / b.mean()
            ds = 100 * (a.std() - b.std()) / b.std()
            worst_mean, worst_std = max(worst_mean, abs(dm)), max(worst_std, abs(ds))
            print(f"{gt:>7.1f} {name:>5} {a.mean():>10.4f} {b.mean():>10.4f} {dm:>8.2f} {a.std():>9.4f} "
                  f"{b.std():>9.4f} {ds:>7.2f}")
    print(f"max |Δmean| {worst_mean:.2f} %, max |Δstd| {worst_std:.2f} % (acceptance: within 2 %); "
          f"{time.perf_counter() - t0:.1f} s")
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
