"""Wall time of one 16-point sweep (the bundled demo: 2 targets x 2 core sizes x 4 seeds, exact placer with a
deterministic budget of 20 (2-4 s a point), cycle engine on the 64 demo samples) under the
``serial``, ``local`` and ``ray`` executors, each in a fresh process (imports, worker start and Numba warm-up
included; spikemesh's bytecode cached, as for an installed package), with the speed-up over serial and the
machine load.

``ray`` is timed twice, each in a fresh process: as ``--executor ray`` without ``--address`` runs (the sweep starts a
local Ray instance and shuts it down, inside the timed command), and the sweep alone on a Ray instance the process
started before the timer (what joining a running cluster costs; Ray's start is printed apart). Every run must give
the same rows apart from the timing columns; the script checks it. Other jobs on the machine slow the parallel runs
most (they compete for the same cores): read the load averages beside the table.

Each executor runs ``--repeat`` times (default 3), in rounds of all four, and the table gives the median wall time,
the speed-up of the medians and each round's own speed-up (one machine's speed drifts by a few percent over
minutes; a round's runs are close in time).

Run: ``.venv/bin/python benchmarks/sweep.py [--workers N] [--repeat R]`` (about 7 minutes on 2 quiet cores).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's spikemesh, also in the runs (PYTHONPATH) and their workers

SPEC = """
[axes]
model = "demo"
inputs = "demo"
target = ["tianjic", "tianjic:2x2"]
core.neurons = [128, 256]
placer = "cpsat"
time_limit = 20.0
seed = [0, 1, 2, 3]
engine = "cycle"
"""


def one(run: str, spec: Path, out: Path, workers: int) -> dict[str, float]:
    """Run the sweep once in this process (``run``: an executor, or "ray-running": Ray started before the timer);
    returns wall seconds (and Ray's start time)."""
    times: dict[str, float] = {}
    if run == "ray-running":
        import ray

        t = time.perf_counter()
        ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR")
        times["ray_start_s"] = time.perf_counter() - t
    t0 = time.perf_counter()
    import spikemesh

    res = spikemesh.sweep(spec, out, executor=run.removesuffix("-running"), workers=workers)
    times["wall_s"] = time.perf_counter() - t0
    times["failed"] = res.failed
    return times


def _children_cpu() -> float:
    """CPU seconds (user + system) of finished child processes and theirs (pool workers are joined; Ray's workers
    belong to Ray's own processes and are not counted)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _design(path: Path) -> list[list[str]]:
    from spikemesh.sweep.point import TIMING

    rows = list(csv.reader(io.StringIO(path.read_text())))
    keep = [i for i, c in enumerate(rows[0]) if c not in TIMING]
    return [[r[i] for i in keep] for r in rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--repeat", type=int, default=3, help="rounds of the four runs (median reported)")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one executor and print JSON
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, Path(args.spec), Path(args.out), args.workers)))
        return
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"uptime before: {uptime}")
    print(f"cores: {os.cpu_count()}, workers: {args.workers}, rounds: {args.repeat}; machine shared with other jobs: "
          "compare the loads")
    names = {"serial": "serial", "local": "local (process pool)", "ray": "ray (starts local Ray)",
             "ray-running": "ray (running instance)"}
    walls: dict[str, list[float]] = {e: [] for e in names}
    cpus: dict[str, list[float]] = {e: [] for e in names}
    loads: dict[str, list[str]] = {e: [] for e in names}
    failed: dict[str, int] = dict.fromkeys(names, 0)
    ray_start: list[float] = []
    same = True
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "sweep.toml"
        spec.write_text(SPEC)
        # as an installed package runs: bytecode cached (this machine sets PYTHONDONTWRITEBYTECODE, which makes every
        # process, each pool and Ray worker included, compile spikemesh's sources again); one untimed run writes it
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        subprocess.run([sys.executable, "-c", "from spikemesh.sweep.point import warm_up; warm_up()"], env=env,
                       check=True, cwd=ROOT)
        for rnd in range(args.repeat):  # rounds of every executor in turn: a slow spell of the machine hits all
            for executor in names:
                out = Path(tmp) / f"{executor}-{rnd}"
                cmd = [sys.executable, __file__, "--one", executor, "--spec", str(spec), "--out", str(out),
                       "--workers", str(args.workers)]
                before = os.getloadavg()[0]
                cpu0 = _children_cpu()
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, env=env)
                if r.returncode != 0:
                    print(f"{executor}: failed\n{r.stderr}")
                    return
                res = json.loads(r.stdout.strip().splitlines()[-1])
                walls[executor].append(res["wall_s"])
                cpus[executor].append(_children_cpu() - cpu0)
                loads[executor].append(f"{before:.2f}->{os.getloadavg()[0]:.2f}")
                failed[executor] += int(res["failed"])
                ray_start += [res["ray_start_s"]] if "ray_start_s" in res else []
                same &= _design(out / "results.csv") == _design(Path(tmp) / "serial-0" / "results.csv")
    base = statistics.median(walls["serial"])
    print(f"\n16-point sweep, wall seconds (fresh process each; rows identical apart from timing columns: {same})")
    print("| executor                     | median wall s | speed-up | per round      | CPU s | failed | 1-min load "
          "before->after |")
    print(f"|{'-' * 30}|{'-' * 15}|{'-' * 10}|{'-' * 16}|{'-' * 7}|{'-' * 8}|{'-' * 26}|")
    for e, name in names.items():
        wall = statistics.median(walls[e])
        rounds = " ".join(f"{w:.1f}" for w in walls[e])
        per = " ".join(f"{s / w:.2f}" for s, w in zip(walls["serial"], walls[e]))
        c = f"{statistics.median(cpus[e]):5.1f}" if not e.startswith("ray") else "  n/a"
        print(f"| {name:<28} | {wall:13.1f} | {base / wall:7.2f}x | {per:<14} | {c} | {failed[e]:6d} | "
              f"{' '.join(loads[e])} |  ({rounds})")
    print(f"\nspeed-up: median serial / median executor; per round: serial / executor of the same round. Ray start "
          f"alone (ray.init before the timer of the running-instance runs): {statistics.median(ray_start):.1f} s. "
          "CPU s: the run and its pool workers; CPU s / wall s is the number of cores the run kept busy (at most 1 "
          "serial, 2 local): below that, other jobs had the cores; n/a for Ray, whose workers are Ray's processes.")
    print(f"uptime after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")


if __name__ == "__main__":
    main()
