"""Wall time of one 16-point sweep (the bundled demo: 2 targets x 2 core sizes x 4 seeds, exact placer with a
deterministic budget of 20 (about 2-12 CPU seconds a point), cycle engine on the 64 demo samples) under the
``serial``, ``local`` and ``ray`` executors, each in a fresh process (imports, worker start and Numba warm-up
included), with the speed-up over serial and the machine load.

``ray`` is timed twice, each in a fresh process: as ``--executor ray`` without ``--address`` runs (the sweep starts a
local Ray instance and shuts it down, inside the timed command), and the sweep alone on a Ray instance the process
started before the timer (what joining a running cluster costs; Ray's start is printed apart). Every run must give
the same rows apart from the timing columns; the script checks it. Other jobs on the machine slow the parallel runs
most (they compete for the same cores): read the load averages beside the table.

Run: ``.venv/bin/python benchmarks/sweep.py [--workers N]`` (about 5 minutes on 2 quiet cores).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import resource
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
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one executor and print JSON
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, Path(args.spec), Path(args.out), args.workers)))
        return
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"uptime before: {uptime}")
    print(f"cores: {os.cpu_count()}, workers: {args.workers}; machine shared with other jobs: compare the loads")
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "sweep.toml"
        spec.write_text(SPEC)
        results: dict[str, dict[str, float]] = {}
        loads: dict[str, str] = {}
        cpu: dict[str, float] = {}
        for executor in ("serial", "local", "ray", "ray-running"):
            out = Path(tmp) / executor
            cmd = [sys.executable, __file__, "--one", executor, "--spec", str(spec), "--out", str(out),
                   "--workers", str(args.workers)]
            before = os.getloadavg()[0]
            cpu0 = _children_cpu()
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, env=env)
            cpu[executor] = _children_cpu() - cpu0
            if r.returncode != 0:
                print(f"{executor}: failed\n{r.stderr}")
                return
            results[executor] = json.loads(r.stdout.strip().splitlines()[-1])
            loads[executor] = f"{before:.2f} -> {os.getloadavg()[0]:.2f}"
        same = all(_design(Path(tmp) / e / "results.csv") == _design(Path(tmp) / "serial" / "results.csv")
                   for e in results)
    base = results["serial"]["wall_s"]
    print(f"\n16-point sweep, wall seconds (fresh process each; rows identical apart from timing columns: {same})")
    head = "1-min load before -> after"
    print(f"| {'executor':<28} | {'wall s':>7} | {'speed-up':>8} | {'CPU s':>6} | {'failed':>6} | {head:<26} |")
    print(f"|{'-' * 30}|{'-' * 9}|{'-' * 10}|{'-' * 8}|{'-' * 8}|{'-' * 28}|")
    for name, key in (("serial", "serial"), ("local (process pool)", "local"), ("ray (starts local Ray)", "ray"),
                      ("ray (running instance)", "ray-running")):
        wall = results[key]["wall_s"]
        c = f"{cpu[key]:6.1f}" if not key.startswith("ray") else f"{'n/a':>6}"
        failed = results[key]["failed"]
        print(f"| {name:<28} | {wall:7.1f} | {base / wall:7.2f}x | {c} | {failed:6.0f} | {loads[key]:<26} |")
    print(f"\nRay start alone (ray.init before the timer of the running-instance run): "
          f"{results['ray-running']['ray_start_s']:.1f} s. CPU s: the run and its pool workers; CPU s / wall s is the "
          "number of cores the run kept busy (at most 1 serial, 2 local): below that, other jobs had the cores; n/a "
          "for Ray, whose workers are Ray's processes.")
    print(f"uptime after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")


if __name__ == "__main__":
    main()
