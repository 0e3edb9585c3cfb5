"""CUBA dynamics: spikemesh (fast engine, float mode) against Brian2 cpp_standalone on the same network.

Both get the connectivity and initial membrane potentials of benchmarks/sim_speed.py (spikemesh.simulator.cuba,
seed 0), 1 s biological time. Brian2 records every spike (SpikeMonitor, record=True; a separate build from the
timing run of sim_speed.py). Printed: total spikes and mean rate of each, the first step where the rasters
differ, the fraction of spikes in common (same neuron, same step) within the first 50 / 100 / 200 ms, and the
correlation of per-neuron spike counts over the whole second. Float mode is not bit-identical (operation order
differs), and the network is chaotic, so rasters diverge after a while; the rates must agree.

Usage: nice python benchmarks/cuba_agreement.py [--n 4000] [--brian2-python PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim_speed import BRIAN2_CUBA_MODEL  # noqa: E402  (same directory)

BRIAN2_SCRIPT = r'''
import json, sys
import numpy as np
from brian2 import *
d = np.load(sys.argv[1])
set_device("cpp_standalone", directory=sys.argv[2], build_on_run=True)
prefs.devices.cpp_standalone.openmp_threads = 0
''' + BRIAN2_CUBA_MODEL + r'''
M = SpikeMonitor(P)
run(int(d["steps"]) * defaultclock.dt)
np.savez(sys.argv[3], i=np.asarray(M.i[:]), step=np.rint(np.asarray(M.t[:] / defaultclock.dt)).astype(np.int64))
print(json.dumps({"spikes": int(M.num_spikes)}))
'''


def brian2_raster(python: str, net, steps: int) -> np.ndarray:  # noqa: ANN001
    with tempfile.TemporaryDirectory(prefix="brian2_agree_") as tmp:
        t = Path(tmp)
        np.savez(t / "net.npz", n=net.n, pre=net.pre, post=net.post, v0=net.v0, steps=steps)
        (t / "run.py").write_text(BRIAN2_SCRIPT)
        p = subprocess.run([python, str(t / "run.py"), str(t / "net.npz"), str(t / "standalone"), str(t / "sp.npz")],
                           capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=1200)
        if p.returncode != 0:
            raise RuntimeError(p.stderr[-2000:])
        z = np.load(t / "sp.npz")
        r = np.zeros((steps, net.n), dtype=bool)
        r[z["step"], z["i"]] = True
        return r


def compare(a: np.ndarray, b: np.ndarray, dt: float) -> dict:
    diff = np.nonzero((a != b).any(axis=1))[0]
    out = {"spikes_spikemesh": int(a.sum()), "spikes_brian2": int(b.sum()),
           "rate_hz_spikemesh": float(a.sum() / a.shape[1] / (a.shape[0] * dt)),
           "rate_hz_brian2": float(b.sum() / b.shape[1] / (b.shape[0] * dt)),
           "first_differing_step": int(diff[0]) if len(diff) else None,
           "count_correlation": float(np.corrcoef(a.sum(axis=0), b.sum(axis=0))[0, 1])}
    for ms in (50, 100, 200):
        k = int(round(ms * 1e-3 / dt))
        both = int((a[:k] & b[:k]).sum())
        out[f"common_fraction_{ms}ms"] = both / max(int(a[:k].sum() + b[:k].sum() - both), 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--brian2-python", default="/work/brian2-venv/bin/python")
    a = ap.parse_args()
    from spikemesh.simulator.cuba import cuba_graph, cuba_network, initial_inputs
    from spikemesh.simulator.fast import run_fast

    net = cuba_network(a.n, in_degree=80.0, seed=0)
    g = cuba_graph(net)
    ours = run_fast(g, initial_inputs(g, net, a.steps), traces=False, progress=False).spikes["lif"][:, 0]
    theirs = brian2_raster(a.brian2_python, net, a.steps)
    print(json.dumps(compare(ours, theirs, g.dt), indent=1))


if __name__ == "__main__":
    main()
