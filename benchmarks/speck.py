"""Speck backend benchmark: compile time for cnn_sinabs.nir, then events, SynOps, energy and latency per sample
of the ``async`` engine on generated N-MNIST-like event streams (saccade-like moving digit blobs, 2 polarities,
34x34), and the same with no input (0 dynamic energy).

Run: ``nice python benchmarks/speck.py [--samples 8] [--steps 100]``. Figures are measured; load is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import spikemesh

#: the NIR paper's sinabs CNN (github.com/neuromorphs/NIR, paper/02_cnn/cnn_sinabs.nir), where the machine keeps it
NIR = Path("/work/shared/data/nir_paper/cnn_sinabs.nir")


def nmnist_like(rng: np.random.Generator, steps: int, rate: float = 0.02) -> np.ndarray:
    """[steps, 2, 34, 34] event counts: a random stroke pattern swept along N-MNIST's 3 saccades; ON events at the
    leading edge, OFF at the trailing edge (a stand-in: N-MNIST itself cannot be downloaded here)."""
    img = np.zeros((34, 34), dtype=bool)
    for _ in range(4):
        y, x = rng.integers(8, 26, 2)
        dy, dx = rng.integers(-1, 2, 2)
        for k in range(10):
            img[np.clip(y + k * dy, 0, 33), np.clip(x + k * dx, 0, 33)] = True
    out = np.zeros((steps, 2, 34, 34), dtype=np.int64)
    path = [(1, 1), (1, -1), (-1, 0)]
    prev = img
    for t in range(steps):
        dy, dx = path[(3 * t) // steps]
        cur = np.roll(prev, (dy if t % 3 == 0 else 0, dx if t % 3 == 1 else 0), axis=(0, 1))
        on, off = cur & ~prev, prev & ~cur
        out[t, 0] = on & (rng.random(on.shape) < 0.9)
        out[t, 1] = off & (rng.random(off.shape) < 0.9)
        out[t] |= rng.random((2, 34, 34)) < rate * 0.05  # sensor noise
        prev = cur
    return out


COLD = """
import json, sys, time
t0 = time.perf_counter()
import spikemesh
t1 = time.perf_counter()
g = spikemesh.load(sys.argv[1])
t2 = time.perf_counter()
p = spikemesh.compile(g, "speck")
t3 = time.perf_counter()
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"ortools", "numba", "torch", "scipy", "networkx", "pandas"})
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "compile": t3 - t2, "heavy": heavy}))
"""


def cold(runs: int = 5) -> None:
    """A user's one-off ``spikemesh compile cnn_sinabs.nir --target speck``: fresh processes (interpreter start
    excluded, then the whole CLI wall time including it)."""
    root = Path(__file__).resolve().parent.parent
    # as an installed package: bytecode cached (this machine sets PYTHONDONTWRITEBYTECODE, which makes every
    # process recompile the sources); the first run below writes the caches and is not counted
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"PYTHONPATH": str(root)}
    subprocess.run([sys.executable, "-c", COLD, str(NIR)], capture_output=True, env=env, check=True, cwd=root)
    rows = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", COLD, str(NIR)], capture_output=True, text=True, env=env,
                             check=True, cwd=root)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    cli = []
    for i in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "spikemesh.cli", "compile", str(NIR), "--target", "speck", "--out",
                        f"/tmp/speck_bench_{os.getpid()}_{i}"], capture_output=True, env=env, check=True, cwd=root)
        cli.append(time.perf_counter() - t0)
    base = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        base.append(time.perf_counter() - t0)
    med = {k: float(np.median([r[k] for r in rows])) * 1e3 for k in ("import", "load", "compile")}
    print(f"cold (fresh process, median of {runs}): import spikemesh {med['import']:.1f} ms, load(.nir) "
          f"{med['load']:.1f} ms (numpy + h5py imports), compile {med['compile']:.1f} ms; "
          f"sum {sum(med.values()):.1f} ms; heavy modules imported: {rows[0]['heavy'] or 'none'}")
    print(f"CLI `spikemesh compile cnn_sinabs.nir --target speck` wall: median {np.median(cli) * 1e3:.0f} ms, best "
          f"{min(cli) * 1e3:.0f} ms (bare interpreter start {np.median(base) * 1e3:.0f} ms)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--steps", type=int, default=100)
    args = ap.parse_args()
    print(f"load: {os.getloadavg()}")
    cold()
    g = spikemesh.load(NIR)
    t0 = time.perf_counter()
    p = spikemesh.compile(g, "speck")
    first = time.perf_counter() - t0
    warm = []
    for _ in range(5):
        t0 = time.perf_counter()
        p = spikemesh.compile(g, "speck")
        warm.append(time.perf_counter() - t0)
    print(f"compile cnn_sinabs.nir for speck in this process: first {first * 1e3:.1f} ms, warm median "
          f"{np.median(warm) * 1e3:.1f} ms; stages {p.report['time']}")
    print("core map:", p.report["speck"]["layer2core"], "| assignment:", p.report["speck"]["assignment"]["method"],
          "min headroom", p.report["speck"]["assignment"].get("min_headroom"))
    rng = np.random.default_rng(0)
    x = np.stack([nmnist_like(rng, args.steps) for _ in range(args.samples)], axis=1)
    p.simulate(x[:, :1], engine="async")  # JIT warm-up
    t0 = time.perf_counter()
    r = p.simulate(x, engine="async")
    wall = time.perf_counter() - t0
    dt = g.dt
    print(f"\nasync engine, {args.samples} samples x {args.steps} steps (dt = {dt * 1e3:g} ms -> "
          f"{args.steps * dt * 1e3:g} ms per sample); wall {wall:.2f} s")
    print(f"{'sample':>6} {'in events':>10} {'SynOps':>10} {'spikes':>8} {'drops':>6} {'E total [uJ]':>13} "
          f"{'E dyn [uJ]':>11} {'lat mean [us]':>14} {'lat max [us]':>13}")
    syn_pj = p.target.energy.synop_pj
    static_pj = p.target.energy.static_mw * args.steps * dt * 1e9
    for i, s in enumerate(r.stats["samples"]):
        dyn = s["synops"] * syn_pj
        lm = f"{s['latency_mean_s'] * 1e6:.3f}" if s["latency_mean_s"] is not None else "-"
        lx = f"{s['latency_max_s'] * 1e6:.3f}" if s["latency_max_s"] is not None else "-"
        print(f"{i:>6} {s['input_events']:>10} {s['synops']:>10} {s['spikes']:>8} {s['dropped']:>6} "
              f"{(dyn + static_pj) / 1e6:>13.4f} {dyn / 1e6:>11.4f} {lm:>14} {lx:>13}")
    synops_total = sum(s["synops"] for s in r.stats["samples"])
    print(f"engine throughput: {synops_total / wall / 1e6:.1f} M SynOps/s (wall, numba)")
    idle = p.simulate(np.zeros_like(x[:, :1]), engine="async")
    print(f"\nno input: events 0, SynOps {sum(idle.stats['synops_per_core'])}, dynamic energy "
          f"{idle.stats['energy_dynamic_pj']:.1f} pJ, static {idle.stats['energy']['by_action_pj']['static'] / 1e6:.4f}"
          f" uJ (0.42 mW x {args.steps * dt * 1e3:g} ms)")
    print(f"energy model: 0.42 mW resting (Yao et al. 2024) + {syn_pj:g} pJ/SynOp (calibration parameter, "
          f"no published figure); load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
