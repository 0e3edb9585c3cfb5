"""Executors: run sweep points and yield each row as its point finishes.

- ``serial``: one after the other in this process (the baseline of benchmarks/sweep.py).
- ``local``: a process pool (``concurrent.futures``, spawned processes) over this machine's cores; each worker
  receives the shared data (graphs, inputs, targets) once and warms its Numba kernels and solvers once.
- ``ray``: Ray tasks, one CPU each; ``address`` joins a running cluster (``ray.init(address=...)``), without one a
  local Ray instance starts with ``workers`` CPUs (or every core), in a child process that drives Ray
  (spikemesh.sweep.ray_child). The shared data goes to Ray's object store once.

The unit of work is a task: the points that differ only in their engine, compiled once and simulated once per
engine (spikemesh.sweep.point.run_group); the rows are those of running each point on its own, apart from the
timing and memory columns. A point's failure is its row (run_group never raises); a worker that dies takes the
task it was running with it: it is retried once on a fresh worker, then its points are recorded as failed.

Ending a sweep: SIGTERM to the process, under ``sigterm_interrupts()`` (the CLI), is Ctrl-C (KeyboardInterrupt):
the pool's workers are ended and finished points stay recorded. A pool worker also ends when the process that
runs the sweep dies without cleaning up (SIGKILL): on Linux it asks for SIGTERM on its parent's death
(``prctl(PR_SET_PDEATHSIG)``, prctl(2)).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from spikemesh.sweep.point import METRICS, run_group, set_payload
from spikemesh.sweep.spec import Point, Sweep

EXECUTORS = ("local", "ray", "serial")


def default_workers() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _build_dir(builds: Path | None, point: Point) -> str | None:
    return None if builds is None else str(builds / f"{point.index:05d}-{point.key}")


Task = list[Point]  # points that differ only in their engine: one compile
Rows = Iterator[tuple[Point, dict[str, Any]]]


def tasks(todo: list[Point]) -> list[Task]:
    """``todo`` grouped into tasks (points equal but for ``engine``), in the order of their first point."""
    groups: dict[str, Task] = {}
    for p in todo:
        same = json.dumps([p.target_key, {k: v for k, v in p.values.items() if k != "engine"}], sort_keys=True,
                          default=str)
        groups.setdefault(same, []).append(p)
    return list(groups.values())


def run_task(task: Task, builds: Path | None, payload: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The rows of a task's points (``payload``: the shared data, else this worker's, set_payload)."""
    return run_group([(p.values, _build_dir(builds, p)) for p in task], task[0].target_key, payload)


def died(error: str) -> dict[str, Any]:
    """The row of a point whose worker died: failed, with the first line of ``error``."""
    row: dict[str, Any] = dict.fromkeys(METRICS)
    lines = error.strip().splitlines() or [""]
    row.update(status="failed", error=lines[0][:500])
    return row


def run_points(sweep: Sweep, todo: list[Point], executor: str = "local", workers: int | None = None,
               builds: Path | None = None, ray_run: Any = None) -> Rows:
    """Run ``todo`` with ``executor`` (one of EXECUTORS, checked by the caller); yields (point, metric columns) in
    completion order. ``ray_run``: the ray executor's spikemesh.sweep.ray_run.RayRun, made (its Ray starting)
    before the sweep file was read; the caller finishes it."""
    if executor == "serial":
        yield from _serial(sweep, tasks(todo), builds)
    elif executor == "local":
        yield from _local(sweep, tasks(todo), workers or default_workers(), builds)
    else:
        yield from ray_run.rows(sweep, tasks(todo), builds)


def _serial(sweep: Sweep, todo: list[Task], builds: Path | None) -> Rows:
    payload = sweep.payload()
    for task in todo:
        yield from zip(task, run_task(task, builds, payload))


def _local(sweep: Sweep, todo: list[Task], workers: int, builds: Path | None) -> Rows:
    queue = list(todo)
    attempts: dict[str, int] = {}
    while queue:
        pool = ProcessPoolExecutor(max_workers=max(1, min(workers, len(queue))),
                                   mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init,
                                   initargs=(os.getpid(), sweep.payload()))
        running: dict[Future[list[dict[str, Any]]], Task] = {}
        try:
            for task in queue:
                running[pool.submit(run_task, task, builds)] = task
            queue = []
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for f in done:
                    task = running.pop(f)
                    try:
                        rows = f.result()
                    except BrokenProcessPool as e:  # a worker died (killed, out of memory, crashed)
                        key = task[0].key
                        attempts[key] = attempts.get(key, 0) + 1
                        if attempts[key] >= 2:
                            rows = [died(f"worker process died twice while running this point: {e}") for _ in task]
                        else:
                            queue.append(task)
                            continue
                    yield from zip(task, rows)
        finally:
            if running:  # stopped early (Ctrl-C, an error recording a row): the running points are abandoned
                _terminate_workers(pool)
            pool.shutdown(wait=True, cancel_futures=True)


def _terminate_workers(pool: ProcessPoolExecutor) -> None:
    """End a pool's worker processes now, rather than at exit after their running points (which
    ``shutdown(wait=False)`` leaves to finish). ``terminate_workers`` is Python >= 3.14's API; before it, the
    pool's process table (``_processes``, a CPython implementation detail)."""
    if hasattr(pool, "terminate_workers"):
        pool.terminate_workers()
        return
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        proc.terminate()


def _worker_init(parent: int, payload: dict[str, Any]) -> None:
    """Pool initializer: end with the sweep's process (``parent``), then keep the shared data (set_payload)."""
    die_with_parent(parent)
    set_payload(payload)


def die_with_parent(parent: int) -> None:
    """Ask Linux to send this process SIGTERM when the thread that started it ends (prctl(2),
    ``PR_SET_PDEATHSIG``); a parent that died before the request was made (``getppid()`` is no longer
    ``parent``) ends this process now. ProcessPoolExecutor (Python 3.11, spawn) starts its workers in the
    thread that calls ``submit``; the sweep submits every task from the thread that runs it and keeps that
    thread until the pool is shut down. Nothing on other systems."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1  # <linux/prctl.h>
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """While active, SIGTERM raises KeyboardInterrupt in the main thread, as Ctrl-C does, so that a sweep
    ended by ``kill`` stops its workers and its Ray as an interrupted one does. Nothing outside the main
    thread (Python runs signal handlers there only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
