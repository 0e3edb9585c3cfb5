"""The ``ray`` executor: Ray tasks, one CPU and one retry each, the shared data put in Ray's object store once.

Joining (Ray already initialised in this process, or ``address``): connect, submit every task. Starting a local
instance (no address): ``ray.init`` runs in a thread from the moment the RayRun is made (``sweep()`` makes it
before it reads the sweep file), and this process runs tasks itself until Ray is up, so the cores work during Ray's
start; then the thread submits the tasks not taken yet, and this process stops taking tasks after the one it runs.
At the end the thread shuts Ray down while the caller writes its tables; ``finish()`` waits for it. The thread
lives until then because Ray ties the processes it starts to the thread that starts them (Linux
``PR_SET_PDEATHSIG``, delivered when the parent thread ends). While the thread starts Ray, the interpreter's switch
interval is 0.5 ms instead of 5: ``ray.init`` waits on many short calls, and each wait for the GIL held by the
thread running points cost up to 5 ms (Ray came up in 3.5 s instead of 2.4 s on 2 cores).

A local instance starts without three of the processes ``ray.init`` starts, none of which a sweep uses: the
autoscaler monitor (nothing to scale on one machine), the log monitor (it forwards worker output to the driver,
which ``log_to_driver=False`` turns off) and the dashboard's API server (jobs and state APIs; it also runs with
``include_dashboard=False``). ``ray start`` has switches for the first two (``--no-monitor``,
``--include-log-monitor``), ``ray.init`` has none, so while this thread calls ``ray.init`` the three ``start_*``
methods of ``ray._private.node.Node`` do nothing (guarded: a Ray without them starts as usual). Measured on 2 cores
(Ray 2.60): Ray's processes take 1.4 CPU-seconds less to start (2.3 instead of 3.6, the driver's included),
``ray.init`` 1.7 s instead of 2.1, and ``ray.shutdown`` 0.1 s instead of 1.3 (the autoscaler monitor's SIGTERM
handler reports to the GCS that shutdown has already stopped, until a 1 s timeout).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from spikemesh.errors import SpikemeshError
from spikemesh.sweep.executors import Rows, Task, default_workers, died, run_task
from spikemesh.sweep.spec import Sweep


def _ray_task(payload: dict[str, Any], task: Task, builds: Path | None) -> list[dict[str, Any]]:
    return run_task(task, builds, payload)


@contextlib.contextmanager
def _lean_node(ray: Any) -> Iterator[None]:
    """While it is active, a local Ray node starts without its autoscaler monitor, log monitor and API server."""
    node = getattr(getattr(ray, "_private", None), "node", None)
    cls = getattr(node, "Node", None)
    skip = [name for name in ("start_monitor", "start_log_monitor", "start_api_server") if hasattr(cls, name)]
    saved = {name: cls.__dict__.get(name) for name in skip}
    for name in skip:
        setattr(cls, name, _nothing)
    try:
        yield
    finally:
        for name, fn in saved.items():
            if fn is None:
                delattr(cls, name)
            else:
                setattr(cls, name, fn)


def _nothing(*args: Any, **kwargs: Any) -> None:
    return None


@contextlib.contextmanager
def _signals_kept(ray: Any) -> Iterator[None]:
    """While it is active, ``ray.init`` leaves this process's SIGTERM handling as it is: Ray's core worker
    installs no crash handler (absl's failure signal handler also takes SIGTERM: it prints a stack trace and
    kills the process, skipping the shutdown of the Ray it started) and, in the main thread, the SIGTERM
    handler ``ray.init`` sets (``sys.exit``) is replaced by the one there before."""
    constants = getattr(getattr(ray, "_private", None), "ray_constants", None)
    had = getattr(constants, "RAY_DISABLE_FAILURE_SIGNAL_HANDLER", None)
    if had is not None:
        constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER = True
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main else None
    try:
        yield
    finally:
        if had is not None:
            constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER = had
        if main and previous is not None:
            signal.signal(signal.SIGTERM, previous)


class RayRun:
    """One sweep's use of Ray: made with the executor's options, then ``rows(...)`` once, then ``finish()``."""

    def __init__(self, workers: int | None, address: str | None) -> None:
        self.address = address
        self.ray: Any = None
        self.lock = threading.Lock()
        self.queue: deque[Task] = deque()
        self.running: dict[Any, Task] = {}
        self.sweep: Sweep | None = None
        self.builds: Path | None = None
        self.error: BaseException | None = None
        self.started = False  # this run called ray.init, so it calls ray.shutdown
        self.stop = False  # closing: submit nothing more
        self.have_work = threading.Event()  # the tasks are known (or the run is closing)
        self.ready = threading.Event()  # connected and the tasks submitted, or failed (self.error)
        self.release = threading.Event()  # the starting thread may shut Ray down and end
        loaded = sys.modules.get("ray")
        self.init: dict[str, Any] | None = None
        if loaded is None or not loaded.is_initialized():
            self.init = {"log_to_driver": False, "logging_level": logging.ERROR}
            if address:
                self.init["address"] = address
            else:
                # "local": a new instance, even where `ray start` left one to auto-detect (Ray's ray.init docs)
                self.init.update(address="local", num_cpus=workers or default_workers(), include_dashboard=False)
        self.thread: threading.Thread | None = None
        if self.init is not None and not address:
            self.thread = threading.Thread(target=self._start, name="spikemesh-ray-start", daemon=True)
            self.thread.start()

    def _start(self) -> None:
        interval = sys.getswitchinterval()
        sys.setswitchinterval(0.0005)
        try:
            self._init()
            self.have_work.wait()
            self._submit()
        finally:
            sys.setswitchinterval(interval)
        self.release.wait()
        if self.started:
            self.ray.shutdown()

    def _init(self) -> None:
        try:
            import ray
        except ImportError:
            self.error = SpikemeshError("the ray executor needs Ray", node="sweep", needed="ray >= 2.9",
                                        available="not installed",
                                        hint="pip install 'spikemesh[sweep]', or use --executor local")
            return
        self.ray = ray
        if self.init is None:
            return
        try:
            with _lean_node(ray) if not self.address else contextlib.nullcontext(), _signals_kept(ray):
                ray.init(**self.init)
            self.started = True
        except (ConnectionError, RuntimeError, ValueError) as e:
            self.error = SpikemeshError(f"cannot start or join Ray: {e}", node="sweep",
                                        available=self.address or "local",
                                        hint="start the head with `ray start --head` and pass --address HEAD:6379; "
                                        "a head started by `ray start` in recent Ray asks for its token: set "
                                        "RAY_AUTH_MODE=token (and RAY_AUTH_TOKEN off the head machine)")
        except BaseException as e:  # noqa: BLE001 - re-raised in the sweep's thread by rows()
            self.error = e

    def _submit(self) -> None:
        try:
            if self.error is None and self.queue and not self.stop:
                remote = self.ray.remote(num_cpus=1, max_retries=1)(_ray_task)
                assert self.sweep is not None
                shared = self.ray.put(self.sweep.payload())
                with self.lock:
                    while self.queue and not self.stop:
                        task = self.queue.popleft()
                        self.running[remote.remote(shared, task, self.builds)] = task
        except BaseException as e:  # noqa: BLE001 - re-raised in the sweep's thread by rows()
            self.error = e
        finally:
            self.ready.set()

    def rows(self, sweep: Sweep, todo: list[Task], builds: Path | None) -> Rows:
        """Run ``todo``; yields (point, metric columns) as each finishes."""
        self.sweep, self.builds = sweep, builds
        with self.lock:
            self.queue.extend(todo)
        if self.thread is None:  # joining: connect and submit here
            self._init()
            self._submit()
        else:
            self.have_work.set()
        try:
            if self.thread is not None:
                yield from self._driver_rows(sweep.payload())
            self.ready.wait()
            if self.error is not None:
                raise self.error
            while self.running:
                done, _ = self.ray.wait(list(self.running), num_returns=1)
                for ref in done:
                    task = self.running.pop(ref)
                    try:
                        rows = self.ray.get(ref)
                    except self.ray.exceptions.RayError as e:  # the worker died (retry used up) or the task was lost
                        rows = [died(f"ray worker failed while running this point: {type(e).__name__}: {e}")
                                for _ in task]
                    yield from zip(task, rows)
        finally:
            self._cancel()
            self.release.set()  # the starting thread shuts its Ray down while the caller writes the tables

    def _driver_rows(self, payload: dict[str, Any]) -> Rows:
        """Run tasks in this process until Ray is up (or failed to start)."""
        while True:
            with self.lock:
                if self.ready.is_set() or not self.queue:
                    return
                task = self.queue.popleft()
            yield from zip(task, run_task(task, self.builds, payload))

    def _cancel(self) -> None:
        with self.lock:
            self.stop = True
        self.have_work.set()
        self.ready.wait()
        for ref in self.running:
            self.ray.cancel(ref, force=True)
        self.running.clear()

    def finish(self) -> None:
        """Shut down a Ray this run started (disconnect from one it joined by address) and wait for it."""
        if self.thread is not None:
            self._cancel()  # a run that never reached rows() (the sweep file was refused): nothing to submit
            self.release.set()
            self.thread.join()
        elif self.started:
            self.ray.shutdown()
