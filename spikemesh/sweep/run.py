"""``sweep``: check a sweep file, run its unfinished points on an executor, record each as it finishes, and write
the tables and the page."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spikemesh.errors import SpikemeshError
from spikemesh.fileio import atomic_open, atomic_write_json
from spikemesh.sweep import html as html_page
from spikemesh.sweep.executors import EXECUTORS, default_workers, run_points
from spikemesh.sweep.results import (
    SWEEP_FORMAT,
    check_out,
    columns,
    read_point,
    table,
    write_csv,
    write_parquet,
    write_point,
)
from spikemesh.sweep.spec import Point, Sweep, load_sweep


@dataclass
class SweepResult:
    """What a sweep left in ``out``: the table rows (product order) and counts of this run."""

    out: Path
    columns: list[str]
    rows: list[dict[str, Any]]
    ran: int
    skipped: int
    failed: int
    wall_s: float
    parquet: bool


def sweep(spec: str | Path | dict[str, Any], out: str | Path, *, executor: str = "local",
          address: str | None = None, workers: int | None = None, keep_builds: bool = False,
          retry_failed: bool = False, points: int | None = None, progress: bool = False,
          on_point: Callable[[Point, dict[str, Any], int, int, int], None] | None = None) -> SweepResult:
    """Run a design-space sweep (spikemesh.sweep.spec describes the file) into directory ``out``.

    ``executor``: "local" (process pool over ``workers`` cores, default all), "ray" (``address`` joins a cluster;
    without one a local Ray instance with ``workers`` CPUs starts, and is shut down before this returns) or
    "serial". Points already recorded in
    ``out/points`` are skipped (failed ones too, unless ``retry_failed``). ``keep_builds`` saves each point's
    build directory under ``out/builds``. ``points`` overrides the file's ``[sweep] points`` limit.
    ``on_point(point, metrics, done, total, failed)`` is called as each point finishes (its metric columns; counts
    of the whole sweep). Writes ``results.csv``, ``results.parquet``
    (with pyarrow) and ``sweep.html``; returns a SweepResult.
    """
    if executor not in EXECUTORS:
        raise SpikemeshError(f"unknown executor {executor!r}", node="sweep", needed=" | ".join(EXECUTORS),
                             available=executor, hint="--executor local (default), ray or serial")
    if address is not None and executor != "ray":
        raise SpikemeshError("an address is for the ray executor", node="sweep", needed="--executor ray",
                             available=f"--executor {executor}", hint="drop --address, or add --executor ray")
    if workers is not None and workers < 1:
        raise SpikemeshError("workers must be positive", node="sweep", needed=">= 1", available=workers)
    out = Path(out)
    check_out(out)
    t0 = time.perf_counter()
    # a local Ray instance starts now, while the sweep file is read and checked (seconds either way)
    ray_run = None
    if executor == "ray":
        from spikemesh.sweep.ray_run import RayRun

        ray_run = RayRun(workers, address)
    try:
        sw = load_sweep(spec, points=points)
        out.mkdir(parents=True, exist_ok=True)
        peak = "VmHWM after /proc/self/clear_refs (MiB), else ru_maxrss"
        atomic_write_json(out / "sweep.json", {"format": SWEEP_FORMAT, "source": sw.source, "axes": sw.axes,
                                               "settings": sw.settings, "points": len(sw.points), "peak_memory": peak})
        for stale in (out / "points").glob(".*.tmp"):  # a point file being written when a sweep was killed
            stale.unlink(missing_ok=True)
        finished: dict[str, dict[str, Any]] = {}
        for p in sw.points:
            m = read_point(out, p)
            if m is not None and (m.get("status") == "ok" or not retry_failed):
                finished[p.key] = m
        todo = [p for p in sw.points if p.key not in finished]
        skipped = len(finished)
        failed = sum(1 for m in finished.values() if m.get("status") != "ok")
        builds = out / "builds" if keep_builds else None
        # once fewer points are left than the executor runs at a time, a core is idle: prepare the page there
        slots = 1 if executor == "serial" else workers or default_workers()
        left = len(todo)
        with _progress(progress, len(sw.points), skipped, failed) as tick:
            for point, metrics in run_points(sw, todo, executor, workers, builds, ray_run):
                write_point(out, point, metrics)
                finished[point.key] = metrics
                failed += metrics.get("status") != "ok"
                tick(failed)
                if on_point is not None:
                    on_point(point, metrics, len(finished), len(sw.points), failed)
                left -= 1
                if 0 < left == slots - 1:
                    html_page.warm()
        cols = columns(sw)
        rows = table(sw, finished)
        write_csv(out / "results.csv", cols, rows)
        parquet = write_parquet(out / "results.parquet", cols, rows)
        write_html(out / "sweep.html", sw, cols, rows)
        res = SweepResult(out=out, columns=cols, rows=rows, ran=len(todo), skipped=skipped, failed=failed,
                          wall_s=0.0, parquet=parquet)
    finally:
        if ray_run is not None:  # Ray shuts down while the tables are written; wait for it
            ray_run.finish()
    res.wall_s = time.perf_counter() - t0
    return res


def write_html(path: Path, sw: Sweep, cols: list[str], rows: list[dict[str, Any]]) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(html_page.render(sw, cols, rows))


class _progress:
    """A rich progress bar over points with the running count of failures; nothing when not asked for or when
    the console is not a terminal."""

    def __init__(self, enabled: bool, total: int, done: int, failed: int) -> None:
        self.enabled, self.total, self.done, self.failed = enabled, total, done, failed
        self.bar: Any = None

    def __enter__(self) -> Callable[[int], None]:
        if self.enabled:
            from rich.console import Console

            console = Console(stderr=True)
            if console.is_terminal:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

                self.bar = Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(),
                                    TextColumn("[red]{task.fields[failed]} failed"), TimeRemainingColumn(),
                                    console=console, transient=False)
                self.bar.start()
                self.task = self.bar.add_task("", total=self.total, completed=self.done, failed=self.failed)
        return self.tick

    def tick(self, failed: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, advance=1, failed=failed)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
