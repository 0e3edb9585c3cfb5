"""Partition benchmark: cores, remote spike copies, partial sums and seconds for every strategy on

(a) conv52k (benchmarks/networks.py) on 256-neuron cores with 16,384 axons (the FC layer's fan-in) and a full
    16,384 × 256 crossbar of 8-bit weights per core, 32 × 32 cores per chip, partial sums supported;
(b) CIFAR-10 ResNet-18 (IF, 557,066 neurons) on ``tianjic:NxN`` with the smallest N the partition itself reports
    (first run on tianjic:1x1 → PartitionInfeasible.min_grid → rerun on that grid);
(c) MLP 784-512-512-256-10 on tianjic:1x1 (partial sums needed) and on the (a) target.

Each case runs in its own process so its peak RSS is its own. Rates: the default 1 spike per neuron per step.
``hypergraph`` needs the optional extra ``partition`` (mtkahypar, pymetis). (b) slicing and tiles take 1–2 min
each (hundreds of thousands of cores, exactly accounted); the other rows take seconds.
Run: ``nice .venv/bin/python benchmarks/partition.py [--quick] [--cases=a,b,c]`` (``--quick`` skips (b)).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

STRATEGIES = ("slicing", "tiles", "groups", "hypergraph")


def _target(name: str):  # noqa: ANN202
    from spikemesh.target.model import CoreSpec, Target
    from spikemesh.target.registry import target

    if name == "a":
        return Target(name="conv256", cores_x=32, cores_y=32,
                      core=CoreSpec(neurons=256, axons=16384, synapse_bits=16384 * 256 * 8, weight_bits=8),
                      features=frozenset({"IF", "partial_sums"}))
    return target(name)


def one(net: str, tname: str, strategy: str) -> dict:
    from networks import NETWORKS

    from spikemesh.errors import SpikemeshError
    from spikemesh.partition import PartitionInfeasible, partition

    g = NETWORKS[net]()
    t0 = time.perf_counter()
    try:
        tgt = _target(tname)
        # capacity is reported, not enforced, so a strategy needing more chips than the grid still shows its figures
        p = partition(g, tgt, strategy, seed=0, time_limit=10.0, check_capacity=False)
        r = p.report
        out = {"cores": r["cores"], "copies": r["remote_spike_copies"], "psums": r["partial_sum_copies"],
               "lb": r["lower_bound_cores"], "min_grid": r["min_grid"], "max_load": r["max_core_load"],
               "fits": r["cores"] <= tgt.n_cores}
        sol = r.get("solver", {})
        if strategy == "hypergraph":
            out["hg"] = {k: sol.get(k) for k in ("vertices", "block_neurons", "hyperedges", "pins", "repaired_splits",
                                                 "hypergraph_layers")}
            out["hg"]["tree_layers"] = len(sol.get("tree_layers", []))
        if not out["fits"]:
            out["error"] = f"needs {r['cores']} cores > {tgt.n_cores} of {tgt.name} (min grid {r['min_grid']})"
    except PartitionInfeasible as e:
        out = {"error": str(e)[:150], "min_grid": list(e.min_grid) if e.min_grid else None}
    except SpikemeshError as e:
        out = {"error": str(e)[:150]}
    out["seconds"] = round(time.perf_counter() - t0, 2)
    out["rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


def run(net: str, tname: str, strategy: str) -> dict:
    res = subprocess.run([sys.executable, __file__, "--one", net, tname, strategy], capture_output=True, text=True,
                         timeout=1800)
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if not line:
        return {"error": (res.stderr.strip().splitlines() or ["crashed"])[-1][:150], "seconds": None}
    return json.loads(line[-1])


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--one":
        print(json.dumps(one(*sys.argv[2:5])))
        return
    quick = "--quick" in sys.argv
    only = next((a.split("=", 1)[1].split(",") for a in sys.argv if a.startswith("--cases=")), ["a", "b", "c"])
    quick = quick or "b" not in only
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; cpus {os.cpu_count()}")
    cases = [("a", "conv52k", "a")] if "a" in only else []
    if not quick:
        probe = run("resnet18", "tianjic", "groups")
        grid = probe.get("min_grid") or [1, 1]
        print(f"(b) resnet18: the groups partition reports it needs tianjic:{grid[0]}x{grid[1]} "
              f"({probe.get('error', '')[:100]})")
        cases.append(("b", "resnet18", f"tianjic:{grid[0]}x{grid[1]}"))
    if "c" in only:
        cases += [("c", "mlp", "tianjic"), ("c", "mlp", "a")]
    rows = []
    hdr = (f"{'case':4} {'network':9} {'target':14} {'strategy':10} {'cores':>8} {'lower bd':>8} "
           f"{'remote copies':>14} {'partial sums':>12} {'seconds':>8} {'RSS MB':>7}")
    print(hdr)
    print("-" * len(hdr))
    for case, net, tname in cases:
        for s in STRATEGIES:
            r = run(net, tname, s)
            rows.append((case, net, tname, s, r))
            tn = "conv256" if tname == "a" else tname
            if "error" in r and "cores" not in r:
                print(f"{case:4} {net:9} {tn:14} {s:10} {'—':>8} {'':>8} {'':>14} {'':>12} {r['seconds'] or 0:8.2f} "
                      f"{r.get('rss_mb', 0):7}  {r['error']}")
            else:
                print(f"{case:4} {net:9} {tn:14} {s:10} {r['cores']:8d} {r['lb']:8d} {r['copies']:14,.0f} "
                      f"{r['psums']:12,.0f} {r['seconds']:8.2f} {r['rss_mb']:7}  {r.get('error', '')}", flush=True)
    res = {(c, n, t, s): r for c, n, t, s, r in rows}
    for c, n, _t, _s, r in rows:
        if "hg" in r:
            h = r["hg"]
            print(f"hypergraph ({c}) {n}: {h['vertices']} block vertices of <= {h['block_neurons']} neurons, "
                  f"{h['hyperedges']} nets, {h['pins']} pins, "
                  f"{h['repaired_splits']} repair splits; layers by hypergraph {h['hypergraph_layers']}, "
                  f"{h['tree_layers']} by partial-sum trees")
    if "a" in only:
        a = {s: res[("a", "conv52k", "a", s)] for s in STRATEGIES}
        ok = [s for s in STRATEGIES if "cores" in a[s]]
        best = min(ok, key=lambda s: (a[s]["copies"], a[s]["cores"]))
        print(f"\n(a) best strategy by remote copies: {best}: {a[best]['copies']:,.0f} = "
              f"{a[best]['copies'] / a['slicing']['copies']:.3f} x slicing (target <= 0.8); groups "
              f"{a['groups']['seconds']} s (target <= 10 s)")
    if not quick:
        tb = [c for c in cases if c[0] == "b"][0][2]
        gb, tt = res[("b", "resnet18", tb, "groups")], res[("b", "resnet18", tb, "tiles")]
        if "cores" in gb and "cores" in tt:
            print(f"(b) groups {gb['cores']:,} cores vs manual tiles {tt['cores']:,}: "
                  f"{100 * (1 - gb['cores'] / tt['cores']):.1f} % fewer (target >= 15 %); groups {gb['seconds']} s "
                  f"(target <= 60 s), peak RSS {gb['rss_mb']} MB (target <= 4096)")
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
