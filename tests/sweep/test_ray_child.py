"""The Ray driver process of a sweep (spikemesh.sweep.ray_child), spoken to directly through its socket."""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from spikemesh.sweep import load_sweep
from spikemesh.sweep.executors import run_task, tasks
from spikemesh.sweep.point import TIMING
from spikemesh.sweep.ray_child import FAST_CONNECT
from tests.sweep.procs import KillsItsRayWorker, alive, end, environ, kill_left, session

ROOT = Path(__file__).resolve().parents[2]


def _design(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def _start(*args: str) -> tuple[subprocess.Popen[bytes], socket.socket]:
    """The child, in a session of its own, with a local Ray of 2 CPUs (``args``: an address to join instead)."""
    ours, theirs = socket.socketpair()
    child = subprocess.Popen([sys.executable, "-m", "spikemesh.sweep.ray_child", str(theirs.fileno()),
                              str(os.getpid()), "2", *args], pass_fds=[theirs.fileno()], cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)
    theirs.close()
    return child, ours


def _exchange(payload: object, work: list) -> tuple[dict[int, str], dict[int, tuple[str, object]], dict[int, str],
                                                    int | None, dict[str, str]]:
    """Start the child, wait for Ray up, send ``work``, collect one answer per task, tell it to stop. Returns the
    child's processes while Ray was up, the answers by task ({n: (kind, rows or message)}), those processes still
    running 10 s after the child ended, the child's exit status and the raylet's environment."""
    child, sock = _start()
    rfile, wfile = sock.makefile("rb"), sock.makefile("wb")
    procs: dict[int, str] = {}
    env: dict[str, str] = {}
    try:
        assert pickle.load(rfile) == ("up",)
        procs = session(child.pid)
        raylet = [pid for pid, cmd in procs.items() if "raylet/raylet" in cmd]
        env = environ(raylet[0]) if raylet else {}
        pickle.dump(("work", payload, work, None), wfile)
        wfile.flush()
        got = {}
        for _ in work:
            kind, n, rows = pickle.load(rfile)
            got[n] = (kind, rows)
        pickle.dump(("stop",), wfile)
        wfile.flush()
        end(child)
        left = alive(procs, within=10)
    finally:
        kill_left({**procs, **session(child.pid)})
        if child.poll() is None:
            child.kill()
    return procs, got, left, child.returncode, env


def test_ray_child_runs_the_work_on_a_lean_local_ray_and_leaves_nothing(tmp_path: Path) -> None:
    """The child reports Ray up; its local instance has GCS, raylet and workers but no autoscaler monitor, log
    monitor or dashboard API server (a sweep uses none of them); the work it is sent comes back as the rows of
    running the same tasks here; told to stop, it exits 0 and every process it started is gone."""
    pytest.importorskip("ray", reason="Ray is not installed (the sweep extra: pip install -e '.[sweep]')")
    spec = tmp_path / "sweep.toml"
    spec.write_text('[axes]\nmodel = "demo"\nplacer = ["rowmajor", "zigzag"]\nseed = [0, 1]\n')
    sw = load_sweep(spec)
    work = tasks(sw.points)
    procs, got, left, code, env = _exchange(sw.payload(), work)
    cmds = " ".join(procs.values())
    assert "gcs_server" in cmds and "raylet" in cmds and "ray::" in cmds, procs
    assert not any(n in cmds for n in ("monitor.py", "dashboard.py")), procs  # monitor, log_monitor, API server
    assert {k: env.get(k) for k in FAST_CONNECT} == FAST_CONNECT  # the raylet retries its connections sooner
    assert code == 0
    assert not left, left
    assert sorted(got) == list(range(len(work)))
    for n, task in enumerate(work):
        kind, rows = got[n]
        assert kind == "rows" and all(r["status"] == "ok" for r in rows)
        assert _design(rows) == _design(run_task(task, None, sw.payload()))


def test_ray_child_reports_an_address_ray_refuses_as_one_error_message() -> None:
    """An address Ray refuses: the child sends ("error", Ray's message, joining=True) and exits 0."""
    pytest.importorskip("ray", reason="Ray is not installed (the sweep extra: pip install -e '.[sweep]')")
    child, sock = _start("head-without-port")
    try:
        kind, message, joining = pickle.load(sock.makefile("rb"))
        end(child)
    finally:
        if child.poll() is None:
            child.kill()
    assert kind == "error" and joining is True and "head-without-port" in message, message
    assert child.returncode == 0


def test_ray_child_reports_a_task_whose_worker_dies_twice_as_lost(tmp_path: Path) -> None:
    """A task that kills the Ray worker running it (once, then again on its one retry) comes back as ("lost", n,
    Ray's error) and the other task's rows as usual; the sweep records the lost task's points as failed."""
    pytest.importorskip("ray", reason="Ray is not installed (the sweep extra: pip install -e '.[sweep]')")
    spec = tmp_path / "sweep.toml"
    spec.write_text('[axes]\nmodel = "demo"\nplacer = "rowmajor"\n')
    sw = load_sweep(spec)
    work = [[KillsItsRayWorker()], *tasks(sw.points)]
    _, got, left, code, _ = _exchange(sw.payload(), work)
    assert code == 0 and not left, left
    kind, message = got[0]
    assert kind == "lost" and message.startswith("WorkerCrashedError"), message
    kind, rows = got[1]
    assert kind == "rows" and [r["status"] for r in rows] == ["ok"]
