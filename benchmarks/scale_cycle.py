"""Scale of the ``cycle`` engine: ResNet-18 CIFAR (benchmarks/networks.py, IF neurons, 557,066 neurons, 5.0e8
synapses) compiled for ``tianjic:15x15``, T = 8, B = 1, inputs at 10 % density. Targets: peak RSS <= 6 GB, wall
(build + run) <= 10 min; simulated cycles per wall second reported.

Rows (each in its own subprocess, peak RSS = the process's VmHWM, reset with /proc/self/clear_refs before each
phase so a phase's peak is its own):

- ``full``: ``spikemesh.simulate(program, x, engine="cycle")`` as a user calls it (functional run + fan-out
  counts + NoC + energy).
- ``parts``: the cycle engine's own part on the same spikes: the functional spikes come from ``run_reference``
  (spike-exact with the engines, docs/semantics.md), then ``fanout.fanout`` (synapse counts per source and
  performing core), ``cycle.cycle_noc`` (compute load, packets, NoC) and ``energy.count_actions``. This row
  measures the part whose memory must grow with neurons, cores and links, not synapses, independently of the
  functional engine's representation of the synapses.

Usage: nice python benchmarks/scale_cycle.py [--rows parts,full] [--steps 8] [--density 0.1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _status(key: str) -> int:
    """A /proc/self/status entry in bytes (VmHWM: peak RSS since the last reset; VmRSS: current)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)


def _phase(out: dict, name: str, fn, *args, **kw):
    _reset_peak()
    t0 = time.perf_counter()
    val = fn(*args, **kw)
    out[name] = {"s": round(time.perf_counter() - t0, 2), "peak_rss_gb": round(_status("VmHWM") / 2**30, 3),
                 "rss_after_gb": round(_status("VmRSS") / 2**30, 3)}
    return val


def child(row: str, steps: int, density: float) -> dict:
    import spikemesh
    from benchmarks.networks import resnet18

    out: dict = {"row": row}
    g = resnet18()
    prog = _phase(out, "compile", spikemesh.compile, g, "tianjic:15x15", seed=0)
    out["cores"] = len(prog.partition.cores)
    x = (np.random.default_rng(0).random((steps, 1, 3, 32, 32)) < density).astype(float)
    if row == "full":
        res = _phase(out, "simulate_cycle", spikemesh.simulate, prog, x, engine="cycle")
        noc = res.stats["noc"]
        run_s = out["simulate_cycle"]["s"]
    else:
        from spikemesh.ir.reference import run_reference
        from spikemesh.simulator.cycle import cycle_noc
        from spikemesh.simulator.energy import count_actions, energy
        from spikemesh.simulator.fanout import Layout, fanout
        from spikemesh.simulator.io import step_inputs

        ref = _phase(out, "reference_spikes", run_reference, prog.graph, x)
        graph, part = prog.graph, prog.partition
        layout = Layout.of(graph)

        pops = [p for p in layout.populations if p in ref.spikes]
        ev = [np.nonzero(ref.spikes[p].reshape(steps, 1, -1)) for p in pops]
        run = SimpleNamespace(  # the FastRun fields cycle_noc reads, from the reference run
            result=ref, flat=layout, inputs=step_inputs(graph, x, layout, integer=True),
            spike_events=(np.concatenate([e[0] for e in ev]), np.concatenate([e[1] for e in ev]),
                          np.concatenate([e[2] + layout.node_range(p)[0] for e, p in zip(ev, pops)])))
        ref.stats["run_s"] = 0.0
        fan = _phase(out, "fanout", fanout, graph, layout, part)
        out["fanout_pairs"] = int(fan.into.nnz)
        out["expanded_projections"] = list(fan.expanded)
        res, acts = _phase(out, "cycle_noc", cycle_noc, prog, run, None, fan)
        sends = np.bincount(run.spike_events[2], minlength=layout.n) + np.bincount(run.inputs.index,
                                                                                    minlength=layout.n)
        a = _phase(out, "energy_counts", count_actions, layout, sends, steps, 1, prog.target.core.weight_bits, part,
                   fan)
        out["synaptic_operations"] = int(a.counts["synop"].sum())
        out["energy_total_pj"] = energy(a, prog.target.energy).total_pj
        noc = res.stats["noc"]
        run_s = out["fanout"]["s"] + out["cycle_noc"]["s"] + out["energy_counts"]["s"]
    cycles = sum(noc["latency_cycles_per_sample"])
    out.update(simulated_cycles=int(cycles), packets=noc["packets"], router_traversals=noc["router_traversals"],
               interchip_flits=noc["interchip_flits"], channels=noc["channels"],
               forwarding_phases=noc["forwarding_phases"], noc_setup_s=round(noc["setup_s"], 2),
               noc_kernel_s=round(noc["noc_s"], 2),
               run_s=round(run_s, 2), cycles_per_s=round(cycles / run_s, 1),
               build_plus_run_s=round(out["compile"]["s"] + run_s, 1),
               peak_rss_gb=max(v["peak_rss_gb"] for v in out.values() if isinstance(v, dict)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", default="parts")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--density", type=float, default=0.1)
    ap.add_argument("--child", default=None)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child, a.steps, a.density)))
        return
    print(f"# {os.popen('uptime').read().strip()}")
    for row in a.rows.split(","):
        p = subprocess.run([sys.executable, __file__, "--child", row, "--steps", str(a.steps), "--density",
                            str(a.density)], capture_output=True, text=True, cwd=ROOT)
        if p.returncode:
            print(f"{row}: failed (exit {p.returncode}): {p.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(p.stdout.strip().splitlines()[-1])
        print(json.dumps(r, indent=1))
    print(f"# {os.popen('uptime').read().strip()}")


if __name__ == "__main__":
    main()
