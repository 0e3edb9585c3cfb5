"""The ``ray`` executor: Ray tasks, one CPU and one retry each, the shared data put in Ray's object store once.

Ray already initialised in this process (a user's session, a test): submit every task to it and leave it running.
Otherwise Ray is driven by a child process (spikemesh.sweep.ray_child), started the moment the RayRun is made
(``sweep()`` makes it before it reads the sweep file): it starts a local Ray instance, or joins ``address``. This
process runs tasks itself until the child reports Ray up, then sends it the tasks not taken yet and stops taking
tasks after the one it runs; the child sends back each task's rows as it finishes. At the end ``finish()`` tells the
child to stop (it shuts down the Ray it started while the caller writes its tables) and waits for it.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import threading
from collections import deque
from pathlib import Path
from typing import Any

from spikemesh.errors import SpikemeshError
from spikemesh.sweep.executors import Rows, Task, default_workers, died, run_task
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
        self.error: BaseException | None = None
        self.lock = threading.Lock()
        self.queue: deque[Task] = deque()
        self.sent: list[Task] = []  # the tasks the child runs
        self.stop = False  # closing: send nothing more
        self.have_work = threading.Event()  # the tasks are known (or the run is closing)
        self.ready = threading.Event()  # the child has the tasks, or failed (self.error)
        self.sweep: Sweep | None = None
        self.builds: Path | None = None
        self.up = False  # the child reported Ray up
        self.ran_here = 0  # points this process ran while Ray started
        loaded = sys.modules.get("ray")
        self.here = loaded is not None and loaded.is_initialized()  # submit to this process's Ray
        self.child: subprocess.Popen[bytes] | None = None
        if self.here:
            return
        if importlib.util.find_spec("ray") is None:
            self.error = SpikemeshError("the ray executor needs Ray", node="sweep", **_NO_RAY)
            self.ready.set()
            return
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
        self.thread = threading.Thread(target=self._hand_over, name="spikemesh-ray", daemon=True)
        self.thread.start()

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

    def _hand_over(self) -> None:
        """Wait for the child's Ray, then send it the tasks this process has not taken."""
        try:
            self.link.sock.settimeout(UP_WITHIN_S)
            try:
                msg = self._recv()
            except TimeoutError:
                self.error = SpikemeshError(f"Ray was not up after {UP_WITHIN_S:.0f} s", node="sweep",
                                            needed="a running Ray", available=self._where(),
                                            hint=_JOIN_HINT if self.address else "--executor local runs without Ray")
                return
            self.link.sock.settimeout(None)
            if msg[0] == "error":
                self.error = SpikemeshError(f"cannot start or join Ray: {msg[1]}", node="sweep",
                                            needed="a running Ray", available=self._where(),
                                            hint=_JOIN_HINT if msg[2] else "--executor local runs without Ray")
                return
            self.up = True
            self.have_work.wait()
            with self.lock:  # held while sending: _close() sends too
                if self.stop or not self.queue:
                    return
                self.sent = list(self.queue)
                self.queue.clear()
                assert self.sweep is not None
                self.link.send(("work", self.sweep.payload(), self.sent, self.builds))
        except BaseException as e:  # noqa: BLE001 - re-raised in the sweep's thread by rows()
            self.error = e
        finally:
            self.ready.set()

    def rows(self, sweep: Sweep, todo: list[Task], builds: Path | None) -> Rows:
        """Run ``todo``; yields (point, metric columns) as each finishes."""
        self.sweep, self.builds = sweep, builds
        if self.error is not None:
            raise self.error
        if self.here:
            yield from self._rows_here(sweep, todo, builds)
            return
        with self.lock:
            self.queue.extend(todo)
        self.have_work.set()
        try:
            yield from self._driver_rows(sweep.payload())
            self.ready.wait()
            if self.error is not None:
                raise self.error
            for _ in self.sent:
                kind, n, got = self._recv()
                yield from zip(self.sent[n], self._rows(self.sent[n], kind, got))
        finally:
            self._close()

    def _driver_rows(self, payload: dict[str, Any]) -> Rows:
        """Run tasks in this process until the child has Ray up (or failed)."""
        while True:
            with self.lock:
                if self.ready.is_set() or not self.queue:
                    return
                task = self.queue.popleft()
            self.ran_here += len(task)
            yield from zip(task, run_task(task, self.builds, payload))

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
        with self.lock:
            closed, self.stop = self.stop, True
            self.have_work.set()
            if self.child is None or closed:
                return
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
            self.thread.join(timeout=5)
            self.link.close()
            self.log.close()
