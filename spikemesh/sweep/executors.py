"""Executors: run sweep points and yield each row as its point finishes.

- ``serial``: one after the other in this process (the baseline of benchmarks/sweep.py).
- ``local``: a process pool (``concurrent.futures``, spawned processes) over this machine's cores; each worker
  receives the shared data (graphs, inputs, targets) once and warms its Numba kernels and solvers once.
- ``ray``: Ray tasks, one CPU each; ``address`` joins a running cluster (``ray.init(address=...)``), without one a
  local Ray instance starts with ``workers`` CPUs (or every core). The shared data goes to Ray's object store once.

A point's failure is its row (spikemesh.sweep.point.run_point never raises); a worker that dies takes the points
it was running with it: they are retried once on a fresh worker, then recorded as failed.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from spikemesh.errors import SpikemeshError
from spikemesh.sweep.point import METRICS, run_point, set_payload
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


def _died(error: str) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(METRICS)
    lines = error.strip().splitlines() or [""]
    row.update(status="failed", error=lines[0][:500])
    return row


def run_points(sweep: Sweep, todo: list[Point], executor: str = "local", workers: int | None = None,
               address: str | None = None, builds: Path | None = None) -> Iterator[tuple[Point, dict[str, Any]]]:
    """Run ``todo`` with ``executor``; yields (point, metric columns) in completion order."""
    if executor == "serial":
        yield from _serial(sweep, todo, builds)
    elif executor == "local":
        yield from _local(sweep, todo, workers or default_workers(), builds)
    elif executor == "ray":
        yield from _ray(sweep, todo, workers, address, builds)
    else:
        raise SpikemeshError(f"unknown executor {executor!r}", node="sweep", needed=" | ".join(EXECUTORS),
                             available=executor)


def _serial(sweep: Sweep, todo: list[Point], builds: Path | None) -> Iterator[tuple[Point, dict[str, Any]]]:
    payload = sweep.payload()
    for p in todo:
        yield p, run_point(p.values, p.target_key, _build_dir(builds, p), payload)


def _local(sweep: Sweep, todo: list[Point], workers: int,
           builds: Path | None) -> Iterator[tuple[Point, dict[str, Any]]]:
    queue = list(todo)
    attempts: dict[str, int] = {}
    while queue:
        pool = ProcessPoolExecutor(max_workers=max(1, min(workers, len(queue))),
                                   mp_context=multiprocessing.get_context("spawn"), initializer=set_payload,
                                   initargs=(sweep.payload(),))
        running: dict[Future[dict[str, Any]], Point] = {}
        try:
            for p in queue:
                running[pool.submit(run_point, p.values, p.target_key, _build_dir(builds, p))] = p
            queue = []
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for f in done:
                    p = running.pop(f)
                    try:
                        yield p, f.result()
                    except BrokenProcessPool as e:  # a worker died (killed, out of memory, crashed)
                        attempts[p.key] = attempts.get(p.key, 0) + 1
                        if attempts[p.key] >= 2:
                            yield p, _died(f"worker process died twice while running this point: {e}")
                        else:
                            queue.append(p)
        finally:
            pool.shutdown(wait=not running, cancel_futures=True)


def _ray_point(payload: dict[str, Any], values: dict[str, Any], target_key: str,
               build: str | None) -> dict[str, Any]:
    return run_point(values, target_key, build, payload)


def _ray(sweep: Sweep, todo: list[Point], workers: int | None, address: str | None,
         builds: Path | None) -> Iterator[tuple[Point, dict[str, Any]]]:
    try:
        import ray
    except ImportError:
        raise SpikemeshError("the ray executor needs Ray", node="sweep", needed="ray >= 2.9", available="not installed",
                             hint="pip install 'spikemesh[sweep]', or use --executor local") from None
    started = False
    if not ray.is_initialized():
        try:
            if address:
                ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
            else:
                ray.init(num_cpus=workers or default_workers(), include_dashboard=False, log_to_driver=False,
                         logging_level=logging.ERROR)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise SpikemeshError(f"cannot start or join Ray: {e}", node="sweep", available=address or "local",
                                 hint="start the head with `ray start --head` and pass --address HEAD:6379") from None
        started = True
    remote = ray.remote(num_cpus=1, max_retries=1)(_ray_point)
    shared = ray.put(sweep.payload())
    running = {remote.remote(shared, p.values, p.target_key, _build_dir(builds, p)): p for p in todo}
    try:
        while running:
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                p = running.pop(ref)
                try:
                    row = ray.get(ref)
                except ray.exceptions.RayError as e:  # the worker died (max_retries used up) or the task was lost
                    row = _died(f"ray worker failed while running this point: {type(e).__name__}: {e}")
                yield p, row
    finally:
        for ref in running:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()
