"""The Ray driver of a sweep: a child process of the sweep's process that starts a local Ray instance (or joins
a cluster), runs the tasks the sweep sends it as Ray tasks and sends back each task's rows as it finishes.

Why a process of its own: Ray starts (``import ray`` and ``ray.init`` hold the interpreter lock for about a
CPU-second) while the sweep's process reads the sweep file and its models, on the other core; Ray's start-up
changes below stay out of the sweep's process (a user's Python session); and this process ends Ray cleanly when
the sweep's process dies without cleaning up (``kill -9``): it gets SIGTERM then (parent-death signal) and shuts
Ray down, after ``ray.init`` has returned if Ray was still starting (Ray's agents outlive a start cut short).

A local instance starts without three of the processes ``ray.init`` starts, none of which a sweep uses: the
autoscaler monitor (nothing to scale on one machine), the log monitor (it forwards worker output to the driver,
which ``log_to_driver=False`` turns off) and the dashboard's API server (jobs and state APIs; it also runs with
``include_dashboard=False``). ``ray start`` has switches for the first two (``--no-monitor``,
``--include-log-monitor``), ``ray.init`` has none, so the three ``start_*`` methods of ``ray._private.node.Node``
do nothing in this process (guarded: a Ray without them starts as usual). Measured on 2 cores (Ray 2.60): Ray's
processes take 1.4 CPU-seconds less to start (2.3 instead of 3.6, the driver's included) and ``ray.shutdown``
takes 0.1 s instead of 1.3 (the autoscaler monitor's SIGTERM handler reports to the GCS that shutdown has
already stopped, until a 1 s timeout). ``ray.init`` then waits for the raylet to register with the GCS, asking
once a second; asked every 20 ms, a local ``ray.init`` took 1.0 s instead of 1.6 on 2 idle cores. The raylet's
own connections retry every 20 ms instead of every second (FAST_CONNECT).

Messages (pickles over the socket whose descriptor is the first argument):

- to the sweep: ``("up",)`` once Ray is up, or ``("error", message, joining)``; then ``("rows", n, rows)`` for
  each finished task (``n``: its place in the work), or ``("lost", n, message)`` when its worker died twice;
- from the sweep: ``("work", payload, tasks, builds)`` once, then ``("stop",)`` or the end of the stream at any
  time: running tasks are cancelled, Ray is shut down (a joined cluster is only left) and this process ends.

Run: ``python -m spikemesh.sweep.ray_child FD PARENT_PID WORKERS [ADDRESS]``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from spikemesh.sweep.executors import die_with_parent, run_task


def ray_task(payload: dict[str, Any], task: Any, builds: Any) -> list[dict[str, Any]]:
    """A Ray task: the rows of a sweep task (spikemesh.sweep.executors.run_task)."""
    return run_task(task, builds, payload)


def _nothing(*args: Any, **kwargs: Any) -> None:
    return None


def _exit(*args: Any) -> None:
    raise SystemExit(0)


def prepare(ray: Any, local: bool) -> None:
    """Ray's start in this process, changed for good: SIGTERM stays with this process (``ray.init`` in the main
    thread would set a handler that exits at once, in the middle of the start too, leaving Ray's agents
    running), Ray's core worker installs no crash handler (absl's failure signal handler also takes SIGTERM: it
    prints a stack trace and kills the process, skipping Ray's shutdown) and, ``local``, a local node starts
    without its autoscaler monitor, log monitor and dashboard API server, is found registered as soon as it is
    (registered_first) and retries its connections sooner (FAST_CONNECT). Each guarded: a Ray without the name
    starts as usual."""
    private = getattr(ray, "_private", None)
    utils = getattr(private, "utils", None)
    if hasattr(utils, "set_sigterm_handler"):
        utils.set_sigterm_handler = _nothing
    constants = getattr(private, "ray_constants", None)
    if hasattr(constants, "RAY_DISABLE_FAILURE_SIGNAL_HANDLER"):
        constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER = True
    cls = getattr(getattr(private, "node", None), "Node", None)
    for name in ("start_monitor", "start_log_monitor", "start_api_server") if local else ():
        if hasattr(cls, name):
            setattr(cls, name, _nothing)
    services = getattr(private, "services", None)
    if local and hasattr(services, "get_node"):
        services.get_node = registered_first(services.get_node)
    if local:  # Ray's processes read their settings from RAY_<name> variables; a user's own setting is kept
        for name, value in FAST_CONNECT.items():
            os.environ.setdefault(name, value)


#: A local node's socket connections retry every 20 ms, 500 times, instead of every 1000 ms, 10 times (Ray's
#: defaults, ray_config_def.h: the same 10 s in all). The raylet connects to its object store, which starts in a
#: thread of its own; when the store was not listening yet, the start stood still for a second (2 of 6 starts of
#: the benchmark sweep on 2 cores; none in 6 with this).
FAST_CONNECT = {"RAY_raylet_client_connect_timeout_milliseconds": "20", "RAY_raylet_client_num_connect_attempts": "500"}


def registered_first(get_node: Callable[[str, str], Any]) -> Callable[[str, str], Any]:
    """``get_node`` (the node's record in the GCS, which a starting node waits for), called once the GCS has the
    node: Ray's own wait asks the GCS once a second (GlobalStateAccessor::GetNode), so a local start lost 0.5 s on
    average after the raylet had registered; this asks every 20 ms, for at most Ray's 30 s. Any problem in asking
    leaves the wait to Ray."""

    def get_node_when_registered(gcs_address: str, node_id: str) -> Any:
        deadline = time.monotonic() + 30
        with contextlib.suppress(Exception):
            has = registered(gcs_address)
            while time.monotonic() < deadline and not has(node_id):
                time.sleep(0.02)
        return get_node(gcs_address, node_id)

    return get_node_when_registered


def registered(gcs_address: str) -> Callable[[str], bool]:
    """A check of whether the GCS at ``gcs_address`` has a node (its hex id) alive: one request a call."""
    from ray._raylet import GcsClient, NodeID
    from ray.core.generated.gcs_pb2 import GcsNodeInfo
    from ray.core.generated.gcs_service_pb2 import GetAllNodeInfoRequest

    gcs = GcsClient(address=gcs_address)

    def has(node_id: str) -> bool:
        this = GetAllNodeInfoRequest.NodeSelector(node_id=NodeID.from_hex(node_id).binary())
        return bool(gcs.get_all_node_info(timeout=5, node_selectors=[this],
                                          state_filter=GcsNodeInfo.GcsNodeState.ALIVE))

    return has


class Link:
    """Pickled messages over a socket, both ways (this process and the sweep's)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.rfile: BinaryIO = sock.makefile("rb")
        self.wfile: BinaryIO = sock.makefile("wb")

    def send(self, msg: tuple[Any, ...]) -> None:
        pickle.dump(msg, self.wfile, protocol=pickle.HIGHEST_PROTOCOL)
        self.wfile.flush()

    def recv(self) -> tuple[Any, ...]:
        """The next message; EOFError or OSError when the other end has gone."""
        return pickle.load(self.rfile)

    def close(self) -> None:
        for f in (self.rfile, self.wfile, self.sock):
            with contextlib.suppress(OSError):  # unsent bytes to a process that has gone
                f.close()


def results(ray: Any, payload: dict[str, Any], tasks: list[Any], builds: Any,
            stop: threading.Event | None = None) -> Iterator[tuple[int, str, Any]]:
    """Run ``tasks`` as Ray tasks (one CPU, one retry each, ``payload`` put in the object store once); yields
    (n, "rows", rows) for task n as it finishes, or (n, "lost", message) when its worker died twice. Tasks still
    running when ``stop`` is set, or when the caller stops iterating, are cancelled."""
    remote = ray.remote(num_cpus=1, max_retries=1)(ray_task)
    shared = ray.put(payload)
    running = {remote.remote(shared, task, builds): n for n, task in enumerate(tasks)}
    try:
        while running and not (stop is not None and stop.is_set()):
            done, _ = ray.wait(list(running), num_returns=1, timeout=None if stop is None else 0.1)
            for ref in done:
                n = running.pop(ref)
                try:
                    got = ray.get(ref)
                except ray.exceptions.RayError as e:  # the worker died (retry used up) or the task was lost
                    yield n, "lost", f"{type(e).__name__}: {e}"
                else:
                    yield n, "rows", got
    finally:
        for ref in running:
            ray.cancel(ref, force=True)


def main(argv: list[str]) -> int:
    fd, parent, workers = int(argv[0]), int(argv[1]), int(argv[2])
    address = argv[3] if len(argv) > 3 else None
    # SIGTERM (the sweep's process died: parent-death signal) while Ray starts: end once ray.init has returned,
    # so that Ray's shutdown finds every process it started (ended mid-start, Ray's agents are left running)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the sweep's process, which tells this one
    die_with_parent(parent)
    link = Link(socket.socket(fileno=fd))
    import ray

    prepare(ray, local=address is None)
    if address is None:
        where: dict[str, Any] = {"address": "local", "num_cpus": workers, "include_dashboard": False}
    else:
        where = {"address": address}
    if stopping.is_set():
        return 0
    try:
        ray.init(log_to_driver=False, logging_level=logging.ERROR, **where)
    except (ConnectionError, RuntimeError, ValueError) as e:
        link.send(("error", str(e), address is not None))
        return 0
    signal.signal(signal.SIGTERM, _exit)  # from now on SIGTERM ends this process through Ray's shutdown below
    try:
        if stopping.is_set():
            return 0
        link.send(("up",))
        try:
            msg = link.recv()
        except (EOFError, OSError, pickle.UnpicklingError):
            msg = ("stop",)
        if msg[0] == "work":
            _run(ray, link, *msg[1:])
    except (BrokenPipeError, ConnectionResetError):
        pass  # the sweep's process has gone
    finally:
        ray.shutdown()
    return 0


def _run(ray: Any, link: Link, payload: dict[str, Any], tasks: list[Any], builds: Any) -> None:
    stop = threading.Event()

    def listen() -> None:
        with contextlib.suppress(EOFError, OSError, pickle.UnpicklingError):
            link.recv()  # ("stop",), else the end of the stream
        stop.set()

    threading.Thread(target=listen, daemon=True).start()
    for n, kind, got in results(ray, payload, tasks, builds, stop):
        link.send((kind, n, got))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
