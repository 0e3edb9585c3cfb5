"""End-to-end compile benchmark: the default ``spikemesh.compile`` of

- ``snn2conv`` (the snnTorch-style 2-conv SNN, networks.py) on ``tianjic:2x2`` and ``tianjic:3x3``,
- MLP 784-512-512-256-10 on ``tianjic:2x2``,
- CIFAR-10 ResNet-18 (IF) on ``tianjic:15x15``.

Per case: wall seconds per stage and in total, cores vs the partition's lower bound (and which resource sets it),
hop-weighted and inter-chip traffic, and the solver status per stage (``optimal``: every solver call of the stage
finished at an optimum or a proof; ``limit``: some call stopped at its share of the time limit; ``heuristic``: the
stage ran a heuristic with a fixed work budget, which proves nothing). Each case runs in its own process, after a
warm-up compile of a tiny model in that process (so Numba's on-disk cache is loaded, as on any later run).

    PYTHONPATH=. .venv/bin/python benchmarks/compile.py [--cases snn2conv-2x2,...] [--time-limit S] [--seed N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

CASES = {"snn2conv-2x2": ("snn2conv", "tianjic:2x2"), "snn2conv-3x3": ("snn2conv", "tianjic:3x3"),
         "mlp-2x2": ("mlp", "tianjic:2x2"), "resnet18-15x15": ("resnet18", "tianjic:15x15")}
STAGES = ("partition", "place", "route")
#: report.json entry of each stage
REPORT_KEY = {"partition": "partition", "place": "placement", "route": "routing"}


def load() -> str:
    a, b, c = os.getloadavg()
    return f"load {a:.2f} {b:.2f} {c:.2f}"


def legacy_status(rep: dict[str, Any], stage: str) -> str:
    """Status from the solver fields of builds made before stages reported one (for before/after tables)."""
    r = rep.get(REPORT_KEY[stage], {})
    if stage == "partition":
        s = r.get("solver", {})
        ok = s.get("split_optimal", True) and s.get("sharing", {}).get("status", "OPTIMAL") in ("OPTIMAL", "trivial")
        return "optimal" if ok else "limit"
    if stage == "place":
        ca = r.get("solver", {}).get("chip_assignment", {})
        return {"OPTIMAL": "optimal", "FEASIBLE": "limit"}.get(ca.get("status", ""), "heuristic")
    sel = r.get("selection", {}).get("status", "")
    return {"OPTIMAL": "optimal", "FEASIBLE": "limit"}.get(sel, "heuristic")


def one(case: str, time_limit: float | None, seed: int) -> dict[str, Any]:
    import networks

    import spikemesh

    net, tname = CASES[case]
    spikemesh.compile(networks.mlp(seed, (16, 8, 4)), "tianjic")  # warm-up: load Numba's cache
    g = networks.NETWORKS[net](seed)
    opts: dict[str, Any] = {"seed": seed}
    if time_limit is not None:
        opts["time_limit"] = time_limit
    t0 = time.perf_counter()
    prog = spikemesh.compile(g, tname, **opts)
    wall = time.perf_counter() - t0
    rep = prog.report
    part, pl = rep["partition"], rep["placement"]
    status = {}
    for st in STAGES:
        b = rep.get(REPORT_KEY[st], {}).get("budget")
        status[st] = b["status"] if b else legacy_status(rep, st)
    lbs = part.get("lower_bounds", {})
    return {"case": case, "neurons": g.n_neurons, "wall": wall, "time": rep["time"], "cores": part["cores"],
            "lb": part["lower_bound_cores"], "lb_by": max(lbs, key=lambda k: lbs[k]) if lbs else "",
            "hop": pl["hop_weighted_traffic"], "interchip": pl["interchip_traffic"], "status": status,
            "budget": rep.get("budget")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--time-limit", type=float, default=None, help="compile time limit (default: the default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.time_limit, args.seed)))
        return
    print(f"spikemesh compile, default options{'' if args.time_limit is None else f', time limit {args.time_limit}'}; "
          f"{load()}")
    print(f"{'case':16} {'total s':>7} {'part s':>6} {'place s':>7} {'route s':>7} {'cores':>5} {'bound':>5} "
          f"{'ratio':>5} {'hop-weighted':>12} {'inter-chip':>10}  status (partition/place/route)  load")
    for case in args.cases.split(","):
        cmd = [sys.executable, __file__, "--one", case, "--seed", str(args.seed)]
        if args.time_limit is not None:
            cmd += ["--time-limit", str(args.time_limit)]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
        line = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
        if not line:
            print(f"{case:16} failed: {(res.stderr.strip().splitlines() or ['?'])[-1][:200]}")
            continue
        r = json.loads(line[-1])
        t = r["time"]
        st = "/".join(r["status"][s] for s in STAGES)
        print(f"{case:16} {r['wall']:>7.2f} {t.get('partition', 0):>6.2f} {t.get('place', 0):>7.2f} "
              f"{t.get('route', 0):>7.2f} {r['cores']:>5} {r['lb']:>5} {r['cores'] / max(1, r['lb']):>5.2f} "
              f"{r['hop']:>12,.0f} {r['interchip']:>10,.0f}  {st:30} {load()}")
        if r.get("budget"):
            print(f"{'':16} budget: {json.dumps(r['budget'])}")


if __name__ == "__main__":
    main()
