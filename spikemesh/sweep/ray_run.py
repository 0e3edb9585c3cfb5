"""The ``ray`` executor: Ray tasks, one CPU and one retry each, the shared data put in Ray's object store once.

Ray already initialised in this process (a user's session, a test): submit every task to it and leave it running.
Otherwise Ray is driven by a child process (spikemesh.sweep.ray_child), started the moment the RayRun is made
(``sweep()`` makes it before it reads the sweep file): it starts a local Ray instance, or joins ``address``. Once it
reports Ray up, this process sends it the tasks; the child sends back each task's rows as it finishes. At the end
``finish()`` tells the child to stop (it shuts down the Ray it started while the caller writes its tables) and
waits for it.

This process runs no points itself while Ray starts, though Ray's start leaves a core partly idle: its own warm-up
(imports and Numba kernels, about a CPU-second) would come on top of the Ray workers' and slow Ray's start. Measured
on the 16-point benchmark sweep on 2 cores, five runs each, alternated: 25.1 s on average with every point on
Ray, 25.6 s with this process running points until Ray was up (slower in each of the five pairs).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from spikemesh.errors import SpikemeshError
from spikemesh.sweep.executors import Rows, Task, default_workers, died
from spikemesh.sweep.ray_child import Link, results
from spikemesh.sweep.spec import Sweep

# a local Ray starts in seconds and joining takes about one; Ray itself retries a wrong address for ever
UP_WITHIN_S = 60.0
_NO_RAY = {"needed": "ray >= 2.9", "available": "not installed",
           "hint": "pip install 'spikemesh[sweep]', or use --executor local"}
_JOIN_HINT = ("start the head with `ray start --head` and pass --address HEAD:6379; a head started by `ray start` in "
              "recent Ray asks for its token: set RAY_AUTH_MODE=token (and RAY_AUTH_TOKEN off the head machine)")


class RayRun:
    """One sweep's use of Ray: made with the executor's options, then ``rows(...)`` once, then ``finish()``."""

    def __init__(self, workers: int | None, address: str | None) -> None:
        self.address = address
        self.up = False  # the child reported Ray up
        self.stopped = False  # the child was told to stop
        loaded = sys.modules.get("ray")
        self.here = loaded is not None and loaded.is_initialized()  # submit to this process's Ray
        self.child: subprocess.Popen[bytes] | None = None
        if self.here:
            return
        if importlib.util.find_spec("ray") is None:
            raise SpikemeshError("the ray executor needs Ray", node="sweep", **_NO_RAY)
        ours, theirs = socket.socketpair()
        args = [str(theirs.fileno()), str(os.getpid()), str(workers or default_workers())] + ([address] if address
                                                                                              else [])
        # Ray's own log lines (a join retrying, say) go to a file: the sweep's errors stay one line, and the
        # end of the file is in the error when the child dies
        self.log = tempfile.TemporaryFile()
        self.child = subprocess.Popen([sys.executable, "-m", "spikemesh.sweep.ray_child", *args],
                                      pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stderr=self.log)
        theirs.close()
        self.link = Link(ours)

    def _where(self) -> str:
        return f"--address {self.address}" if self.address else "a local instance"

    def _recv(self) -> tuple[Any, ...]:
        try:
            return self.link.recv()
        except TimeoutError:
            raise
        except (EOFError, OSError) as e:
            code = self.child.wait() if self.child is not None else None
            self.log.seek(0)
            last = ([""] + self.log.read().decode(errors="replace").strip().splitlines())[-1][:300]
            raise SpikemeshError(f"the Ray driver process ended: {last}", node="sweep", needed="running",
                                 available=f"exit status {code}" if code is not None else type(e).__name__,
                                 hint="--executor local runs without Ray") from None

    def _wait_up(self) -> None:
        """Wait for the child's Ray: up, or an error naming where."""
        hint = _JOIN_HINT if self.address else "--executor local runs without Ray"
        self.link.sock.settimeout(UP_WITHIN_S)
        try:
            msg = self._recv()
        except TimeoutError:
            raise SpikemeshError(f"Ray was not up after {UP_WITHIN_S:.0f} s", node="sweep", needed="a running Ray",
                                 available=self._where(), hint=hint) from None
        self.link.sock.settimeout(None)
        if msg[0] == "error":
            raise SpikemeshError(f"cannot start or join Ray: {msg[1]}", node="sweep", needed="a running Ray",
                                 available=self._where(), hint=hint)
        self.up = True

    def rows(self, sweep: Sweep, todo: list[Task], builds: Path | None) -> Rows:
        """Run ``todo``; yields (point, metric columns) as each finishes."""
        if self.here:
            yield from self._rows_here(sweep, todo, builds)
            return
        try:
            self._wait_up()
            self.link.send(("work", sweep.payload(), todo, builds))
            for _ in todo:
                kind, n, got = self._recv()
                yield from zip(todo[n], self._rows(todo[n], kind, got))
        finally:
            self._close()

    def _rows_here(self, sweep: Sweep, todo: list[Task], builds: Path | None) -> Rows:
        import ray

        for n, kind, got in results(ray, sweep.payload(), todo, builds):
            yield from zip(todo[n], self._rows(todo[n], kind, got))

    @staticmethod
    def _rows(task: Task, kind: str, got: Any) -> list[dict[str, Any]]:
        """A task's rows from a ("rows", rows) or ("lost", message) answer."""
        return got if kind == "rows" else [died(f"ray worker failed while running this point: {got}") for _ in task]

    def _close(self) -> None:
        """Tell the child to stop (cancel its tasks, shut its Ray down); it ends on its own."""
        if self.child is None or self.stopped:
            return
        self.stopped = True
        try:
            self.link.send(("stop",))
            self.link.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # it has already gone

    def finish(self) -> None:
        """Wait for the child: its Ray shut down (a joined cluster left). A child still trying to join is
        ended at once; a local Ray that is still starting is waited for (ending it mid-start would leave Ray's
        agents running)."""
        if self.child is None:
            return
        self._close()
        if self.address and not self.up:
            self.child.kill()  # still trying to join: it has started nothing to shut down
        try:
            self.child.wait(timeout=UP_WITHIN_S)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()
        finally:
            self.link.close()
            self.log.close()
