"""Cost of counting active neuron updates (spikemesh/simulator/activity.py), which the fast and cycle engines do
when the target prices active and inactive updates apart (``loihi``: 81 / 52 pJ, Davies et al., IEEE Micro 2018,
Table 2): the whole ``simulate`` call of the fast engine on Brian2's CUBA network (4,000 LIF, in-degree 80,
10,000 steps of 0.1 ms; benchmark 2 of Brette et al., J. Comput. Neurosci. 23:349, 2007) with target ``loihi``
(counts them) beside ``tianjic`` (does not), and ``active_updates`` alone on the same run (after its JIT).
Defaults as a user gets them (traces on, specialised kernel after a warm-up run).
Run: ``nice python benchmarks/active_updates.py``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's spikemesh, not an installed one

import spikemesh  # noqa: E402
from spikemesh.simulator.activity import active_updates  # noqa: E402
from spikemesh.simulator.cuba import cuba_graph, cuba_network, initial_inputs  # noqa: E402
from spikemesh.simulator.fast import run_fast_detailed  # noqa: E402


def main(steps: int = 10_000, repeats: int = 2) -> None:
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    net = cuba_network(4000, in_degree=80.0, seed=0)
    g = cuba_graph(net)
    si = initial_inputs(g, net, steps)
    spikemesh.simulate(g, si, engine="fast", target="tianjic", progress=False)  # JIT warm-up
    print(f"CUBA-4k, {steps:,} steps, fast engine: best of {repeats} simulate() calls")
    print(f"{'target':>8} {'simulate s':>11} {'active updates':>15} {'of updates':>11}")
    for tgt in ("tianjic", "loihi"):
        best, res = float("inf"), None
        for _ in range(repeats):
            t0 = time.perf_counter()
            res = spikemesh.simulate(g, si, engine="fast", target=tgt, progress=False)
            best = min(best, time.perf_counter() - t0)
        a = res.stats["actions"]
        act = a.get("neuron_update_active")
        print(f"{tgt:>8} {best:>11.2f} {act if act is not None else '-':>15} "
              f"{(act / a['neuron_update']) if act is not None else float('nan'):>11.3f}")
    run = run_fast_detailed(g, si, progress=False)
    r = run.result
    t0 = time.perf_counter()
    active_updates(run.flat, r.spikes, r.v, run.inputs, r.steps, run.inputs.batch, run.spike_events)
    print(f"active_updates first call (JIT or cache load): {time.perf_counter() - t0:.2f} s")
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        active_updates(run.flat, r.spikes, r.v, run.inputs, r.steps, run.inputs.batch, run.spike_events)
        best = min(best, time.perf_counter() - t0)
    print(f"active_updates alone: {best:.2f} s ({r.stats['synaptic_events']:,} synaptic events, "
          f"kernel run {r.stats['run_s']:.2f} s)")
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
