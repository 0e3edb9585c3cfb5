"""Executors: run sweep points and yield each row as its point finishes.

- ``serial``: one after the other in this process (the baseline of benchmarks/sweep.py).
- ``local``: a process pool (``concurrent.futures``, spawned processes) over this machine's cores; each worker
  receives the shared data (graphs, inputs, targets) once and warms its Numba kernels and solvers once.
- ``ray``: Ray tasks, one CPU each; ``address`` joins a running cluster (``ray.init(address=...)``), without one a
  local Ray instance starts with ``workers`` CPUs (or every core), and this process runs points itself until it is
  up. The shared data goes to Ray's object store once.

The unit of work is a task: the points that differ only in their engine, compiled once and simulated once per
engine (spikemesh.sweep.point.run_group); the rows are those of running each point on its own, apart from the
timing and memory columns. A point's failure is its row (run_group never raises); a worker that dies takes the
task it was running with it: it is retried once on a fresh worker, then its points are recorded as failed.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from spikemesh.errors import SpikemeshError
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


def _run_task(task: Task, builds: Path | None, payload: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return run_group([(p.values, _build_dir(builds, p)) for p in task], task[0].target_key, payload)


def _died(error: str) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(METRICS)
    lines = error.strip().splitlines() or [""]
    row.update(status="failed", error=lines[0][:500])
    return row


def run_points(sweep: Sweep, todo: list[Point], executor: str = "local", workers: int | None = None,
               address: str | None = None, builds: Path | None = None) -> Rows:
    """Run ``todo`` with ``executor``; yields (point, metric columns) in completion order."""
    if executor == "serial":
        yield from _serial(sweep, tasks(todo), builds)
    elif executor == "local":
        yield from _local(sweep, tasks(todo), workers or default_workers(), builds)
    elif executor == "ray":
        yield from _ray(sweep, tasks(todo), workers, address, builds)
    else:
        raise SpikemeshError(f"unknown executor {executor!r}", node="sweep", needed=" | ".join(EXECUTORS),
                             available=executor)


def _serial(sweep: Sweep, todo: list[Task], builds: Path | None) -> Rows:
    payload = sweep.payload()
    for task in todo:
        yield from zip(task, _run_task(task, builds, payload))


def _local(sweep: Sweep, todo: list[Task], workers: int, builds: Path | None) -> Rows:
    queue = list(todo)
    attempts: dict[str, int] = {}
    while queue:
        pool = ProcessPoolExecutor(max_workers=max(1, min(workers, len(queue))),
                                   mp_context=multiprocessing.get_context("spawn"), initializer=set_payload,
                                   initargs=(sweep.payload(),))
        running: dict[Future[list[dict[str, Any]]], Task] = {}
        try:
            for task in queue:
                running[pool.submit(_run_task, task, builds)] = task
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
                            rows = [_died(f"worker process died twice while running this point: {e}") for _ in task]
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


def _ray_task(payload: dict[str, Any], task: Task, builds: Path | None) -> list[dict[str, Any]]:
    return _run_task(task, builds, payload)


def _ray(sweep: Sweep, todo: list[Task], workers: int | None, address: str | None, builds: Path | None) -> Rows:
    try:
        import ray
    except ImportError:
        raise SpikemeshError("the ray executor needs Ray", node="sweep", needed="ray >= 2.9", available="not installed",
                             hint="pip install 'spikemesh[sweep]', or use --executor local") from None
    run = _RayRun(ray, sweep, todo, workers, address, builds)
    try:
        if run.starting_local:
            yield from run.driver_points()
        yield from run.results()
    finally:
        run.close()


class _RayRun:
    """Ray tasks, one CPU and one retry each, the shared data put in the object store once.

    Joining (a running instance in this process, or ``address``): connect, submit every task. Starting a local
    instance (no address): ``ray.init`` runs in a thread while this process runs points itself, so the cores work
    during Ray's start (seconds, mostly spent waiting for Ray's processes to come up); when Ray is up, the thread
    submits the tasks not taken yet and this process stops taking tasks after the one it is running. The thread
    lives until ``ray.shutdown``: Ray ties the processes it starts to the thread that starts them (Linux
    ``PR_SET_PDEATHSIG``, delivered when the parent thread ends).
    """

    def __init__(self, ray: Any, sweep: Sweep, todo: list[Task], workers: int | None, address: str | None,
                 builds: Path | None) -> None:
        self.ray, self.sweep, self.builds, self.address = ray, sweep, builds, address
        self.queue = deque(todo)
        self.lock = threading.Lock()
        self.running: dict[Any, Task] = {}
        self.error: BaseException | None = None
        self.started = False  # this run called ray.init, so it calls ray.shutdown
        self.stop = False  # closing: submit nothing more
        self.ready = threading.Event()  # connected and the queue submitted, or failed (self.error)
        self.release = threading.Event()  # the starting thread may end (Ray is shut down)
        self.init: dict[str, Any] | None = None
        if not ray.is_initialized():
            self.init = {"log_to_driver": False, "logging_level": logging.ERROR}
            if address:
                self.init["address"] = address
            else:
                # "local": a new instance, even where `ray start` left one to auto-detect (Ray's ray.init docs)
                self.init.update(address="local", num_cpus=workers or default_workers(), include_dashboard=False)
        self.starting_local = self.init is not None and not address
        self.thread: threading.Thread | None = None
        if self.starting_local:
            self.thread = threading.Thread(target=self._start, name="spikemesh-ray-start", daemon=True)
            self.thread.start()
        else:
            self._connect()

    def _start(self) -> None:
        self._connect()
        self.release.wait()

    def _connect(self) -> None:
        try:
            if self.init is not None:
                try:
                    self.ray.init(**self.init)
                except (ConnectionError, RuntimeError, ValueError) as e:
                    raise SpikemeshError(f"cannot start or join Ray: {e}", node="sweep",
                                         available=self.address or "local",
                                         hint="start the head with `ray start --head` and pass --address HEAD:6379"
                                         ) from None
                self.started = True
            remote = self.ray.remote(num_cpus=1, max_retries=1)(_ray_task)
            shared = self.ray.put(self.sweep.payload())
            with self.lock:
                while self.queue and not self.stop:
                    task = self.queue.popleft()
                    self.running[remote.remote(shared, task, self.builds)] = task
        except BaseException as e:  # noqa: BLE001 - re-raised in the sweep's thread by results()
            self.error = e
        finally:
            self.ready.set()

    def driver_points(self) -> Rows:
        """Run tasks in this process until Ray is up (or failed to start)."""
        payload = self.sweep.payload()
        while True:
            with self.lock:
                if self.ready.is_set() or not self.queue:
                    return
                task = self.queue.popleft()
            yield from zip(task, _run_task(task, self.builds, payload))

    def results(self) -> Rows:
        """The rows of the submitted points as they finish."""
        self.ready.wait()
        if self.error is not None:
            raise self.error
        while self.running:
            done, _ = self.ray.wait(list(self.running), num_returns=1)
            for ref in done:
                task = self.running.pop(ref)
                try:
                    rows = self.ray.get(ref)
                except self.ray.exceptions.RayError as e:  # the worker died (max_retries used up) or the task was lost
                    rows = [_died(f"ray worker failed while running this point: {type(e).__name__}: {e}") for _ in task]
                yield from zip(task, rows)

    def close(self) -> None:
        """Cancel what is still running; shut Ray down if this run started it (after its start has finished)."""
        with self.lock:
            self.stop = True
        self.ready.wait()
        try:
            for ref in self.running:
                self.ray.cancel(ref, force=True)
            if self.started:
                self.ray.shutdown()
        finally:
            self.release.set()
            if self.thread is not None:
                self.thread.join()
