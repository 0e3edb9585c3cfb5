"""Scale of the fast engine: memory and wall time on ResNet-18 (CIFAR and ImageNet sizes), and small models before
and after (the fast engine delivers convolutions implicitly, spikemesh/simulator/implicit.py).

Cases (each in its own subprocess, so peak RSS — ``VmHWM`` of that child — is per case):
- ``cifar``: ``networks.resnet18`` (3x32x32 input, 557,066 neurons), T = 8, B = 1, input spikes with 10 % density
  (seed 0), ``run_fast_detailed`` with the defaults (delivery "auto"); wall = build + run (JIT excluded, reported
  apart). ``cifar-simulate``: the same through ``spikemesh.simulate`` on the graph (adds the action counts, energy
  and NeuroBench metrics). ``cifar-program``: what a user runs, ``spikemesh.simulate(program, x, engine="fast")``
  on the build compiled for ``tianjic:15x15`` (compiled and saved first, outside the timing; the child loads it:
  its peak RSS includes ``Program.load``; energy by core from the partition). Targets: peak RSS <= 2 GB, wall
  <= 30 s. ``cifar-event`` / ``cifar-dense``: forced delivery modes beside the default.
- the cycle engine on the same build: benchmarks/scale_cycle.py (target <= 6 GB, <= 10 min).
- ``imagenet``: ``networks.resnet18_imagenet`` (3x224x224 input: 2,509,800 neurons), T = 2, B = 1; target peak
  RSS <= 8 GB. ``imagenet-736``: the same network on 3x736x736 inputs, 27.1 M neurons (the size of model the
  8 GB target was set for), T = 2, B = 1.
- ``old-csr``: the bytes the previous flat-CSR build held for the CIFAR case (target int32, slot shared, weight
  float64, delay int32, projection int16 per synapse: 18 bytes; its build needed more for temporaries).
- ``demo`` / ``sinabs``: the bundled demo (T = 20, B = 64) and cnn_sinabs.nir quantized (T = 100, B = 8, 5 %
  density); best of 9 runs after a warm-up (wall and process CPU time). ``--before PATH`` runs these two also
  with the code at PATH (a git worktree of an earlier commit) for a before/after column, alternating before and
  after subprocesses three times (best of each) so both see the same machine load.

Usage: nice python benchmarks/scale.py [--cases cifar,imagenet,...] [--before /tmp/base-worktree]
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

ROOT = Path(__file__).resolve().parents[1]
SINABS = Path("/work/shared/data/nir_paper/cnn_sinabs.nir")


def _spikes(shape: tuple[int, ...], steps: int, density: float, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((steps, 1, *shape)) < density).astype(np.float64)


def compiled_resnet() -> Path:
    """ResNet-18 CIFAR compiled for ``tianjic:15x15`` (seed 0), saved once under the system temp dir."""
    import tempfile

    d = Path(tempfile.gettempdir()) / "spikemesh-scale-resnet18-tianjic15x15"
    if not (d / "program.json").exists():
        sys.path.insert(0, str(ROOT))
        import spikemesh
        from benchmarks import networks

        spikemesh.compile(networks.resnet18(), "tianjic:15x15", seed=0).save(d)
    return d


def case_resnet(builder: str, steps: int, delivery: str = "auto", simulate: bool = False,
                program: bool = False, **kw: int) -> dict:
    sys.path.insert(0, str(ROOT))
    import spikemesh
    from benchmarks import networks
    from spikemesh.simulator.fast import run_fast_detailed

    g = getattr(networks, builder)(**kw)
    x = _spikes(g.inputs[0].shape, steps, 0.10)
    subject = spikemesh.Program.load(compiled_resnet()) if program else g
    t0 = time.perf_counter()
    if simulate:
        res = spikemesh.simulate(subject, x, engine="fast")
    else:
        res = run_fast_detailed(g, x, delivery=delivery).result
    wall = time.perf_counter() - t0 - res.stats["jit_s"]
    st = res.stats
    modes: dict[str, int] = {}
    for m in st["delivery"].values():
        modes[m] = modes.get(m, 0) + 1
    return {"neurons": g.n_neurons, "wall_s": wall, "build_s": st["build_s"], "run_s": st["run_s"],
            "jit_s": st["jit_s"], "synaptic_events": st["synaptic_events"], "delivery": modes,
            "spikes": int(sum(int(v.sum()) for v in res.spikes.values()))}


def case_small(which: str) -> dict:
    sys.path.insert(0, os.getcwd())
    import spikemesh
    from spikemesh.simulator.fast import run_fast

    if which == "demo":
        from spikemesh.data.demo import load_demo

        g, x, _ = load_demo()
    else:
        g, _ = spikemesh.quantize(spikemesh.load(SINABS), weight_bits=8, state_bits=16)
        x = (np.random.default_rng(0).random((100, 8, *g.inputs[0].shape)) < 0.05).astype(np.float64)
    run_fast(g, x[:2])  # warm-up: JIT cache load
    best = cpu = float("inf")
    for _ in range(9):
        t0, c0 = time.perf_counter(), time.process_time()
        res = run_fast(g, x)
        best, cpu = min(best, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    return {"wall_s": best, "cpu_s": cpu, "steps": int(x.shape[0]), "batch": int(x.shape[1]),
            "synaptic_events": res.stats["synaptic_events"]}


def case_old_csr() -> dict:
    sys.path.insert(0, str(ROOT))
    from benchmarks import networks

    g = networks.resnet18()
    syn = 0
    for pr in g.projections:
        m = g.projection_csr(pr)
        syn += int(np.count_nonzero(m.data))
    return {"synapses": syn, "bytes": 18 * syn + 8 * (g.n_neurons + 1)}


CASES = {
    "cifar": lambda: case_resnet("resnet18", 8),
    "cifar-event": lambda: case_resnet("resnet18", 8, "event"),
    "cifar-dense": lambda: case_resnet("resnet18", 8, "dense"),
    "cifar-simulate": lambda: case_resnet("resnet18", 8, simulate=True),
    "cifar-program": lambda: case_resnet("resnet18", 8, simulate=True, program=True),
    "imagenet": lambda: case_resnet("resnet18_imagenet", 2),
    "imagenet-736": lambda: case_resnet("resnet18_imagenet", 2, size=736),
    "old-csr": case_old_csr,
    "demo": lambda: case_small("demo"),
    "sinabs": lambda: case_small("sinabs"),
}


def peak_rss_gb() -> float:
    """This process's peak resident set (VmHWM, GiB): counted from its exec, unlike ``ru_maxrss``, which a child
    inherits from the process that forked it."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def run_case(name: str, cwd: Path = ROOT) -> dict:
    """``name`` in a child process (cwd ``cwd``: whose spikemesh runs); adds its peak RSS."""
    code = (f"import sys, json; sys.path.insert(0, {str(ROOT)!r}); from benchmarks.scale import CASES, peak_rss_gb; "
            f"r = CASES[{name!r}](); r['peak_rss_gb'] = peak_rss_gb(); "
            "print('RESULT ' + json.dumps(r))")
    env = dict(os.environ, PYTHONPATH=str(cwd))
    p = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True)
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"error": (p.stderr.strip().splitlines() or ["no output"])[-1]}


def _best(a: dict, b: dict) -> dict:
    """The faster of two results of one case (an error loses)."""
    if not a or "error" in a:
        return b
    return b if "error" not in b and b["wall_s"] < a["wall_s"] else a


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default="cifar-program,cifar,cifar-simulate,cifar-event,cifar-dense,old-csr,imagenet,"
                                       "imagenet-736,demo,sinabs")
    ap.add_argument("--before", type=Path, default=None, help="worktree of an earlier commit (small cases)")
    args = ap.parse_args()
    if "cifar-program" in args.cases:  # compiled and saved (in a child: the parent's peak RSS stays small, and a
        # forked child inherits it) before the timed child, which loads it
        subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
                        "from benchmarks.scale import compiled_resnet; compiled_resnet()"], cwd=ROOT, check=True)
    print(f"uptime: {os.popen('uptime').read().strip()}")
    print(f"{'case':<16}{'peak RSS GB':>12}{'wall s':>9}{'build s':>9}{'run s':>8}{'jit s':>7}  notes")
    for name in args.cases.split(","):
        small = args.before is not None and name in ("demo", "sinabs")
        r = run_case(name)
        b: dict = {}
        for _ in range(3 if small else 0):  # before / after interleaved: the same machine load for both
            b = _best(b, run_case(name, args.before))
            r = _best(r, run_case(name))
        if "error" in r:
            print(f"{name:<16} error: {r['error']}")
            continue
        if name == "old-csr":
            print(f"{name:<16}{r['bytes'] / 2**30:>12.2f}{'':>9}{'':>9}{'':>8}{'':>7}  "
                  f"{r['synapses']:,} synapses x 18 B (final arrays of the previous flat CSR; not built here)")
            continue
        note = (f"events {r['synaptic_events']:,}" + (f", spikes {r['spikes']:,}" if "spikes" in r else "")
                + (f", delivery {r['delivery']}" if "delivery" in r else "")
                + (f", T={r['steps']} B={r['batch']}, cpu {r['cpu_s']:.3f} s" if "steps" in r else ""))
        print(f"{name:<16}{r['peak_rss_gb']:>12.2f}{r['wall_s']:>9.3f}{r.get('build_s', float('nan')):>9.2f}"
              f"{r.get('run_s', float('nan')):>8.2f}{r.get('jit_s', float('nan')):>7.2f}  {note}")
        if small:
            if "error" in b:
                print(f"{name + ' before':<16} error: {b['error']}")
            else:
                print(f"{name + ' before':<16}{b['peak_rss_gb']:>12.2f}{b['wall_s']:>9.3f}{'':>26}  "
                      f"events {b['synaptic_events']:,}, cpu {b['cpu_s']:.3f} s (after vs before: wall "
                      f"{r['wall_s'] / b['wall_s'] - 1:+.0%}, cpu {r['cpu_s'] / b['cpu_s'] - 1:+.0%})")
    print(f"{'cycle':<16}  benchmarks/scale_cycle.py --rows full (the cycle engine on the same build)")
    print(f"uptime: {os.popen('uptime').read().strip()}")


if __name__ == "__main__":
    sys.exit(main())
