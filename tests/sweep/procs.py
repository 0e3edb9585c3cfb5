"""Processes of a test's sweep or Ray: list them by session, wait for them to end, kill what is left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def environ(pid: int) -> dict[str, str]:
    """The environment process ``pid`` started with (empty if it has ended)."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    return dict(e.decode(errors="replace").partition("=")[::2] for e in raw.split(b"\0") if e)


def session(sid: int) -> dict[int, str]:
    """The live processes of session ``sid`` but its leader (pid: command line); zombies count as gone."""
    found = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == sid:
            continue
        try:
            stat = (d / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()  # state, ppid, pgrp, session, ...
            if int(fields[3]) == sid and fields[0] != "Z":
                found[int(d.name)] = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):  # ended meanwhile
            continue
    return found


def alive(pids: dict[int, str], within: float) -> dict[int, str]:
    """Those of ``pids`` still running (not zombies) after waiting up to ``within`` seconds for them to end."""
    deadline = time.monotonic() + within
    while True:
        left = {}
        for pid, cmd in pids.items():
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z" and Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
                    errors="replace") == cmd:  # the same process, not a new one with its pid
                left[pid] = cmd
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def end(proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Wait for ``proc`` (its session is killed if it has not ended by ``timeout`` s)."""
    try:
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def kill_left(children: dict[int, str]) -> None:
    """Kill whatever of ``children`` is still running (a failing test leaves no processes either)."""
    for pid in alive(children, within=0):
        os.kill(pid, signal.SIGKILL)


class KillsItsRayWorker:
    """Pickled into a Ray task's arguments: the Ray worker that unpickles it ends (a crashed worker); unpickled
    anywhere else (the process that submits the task), it stays itself."""

    def __reduce__(self) -> tuple[object, tuple[()]]:
        return (_unpickle, ())


def _unpickle() -> KillsItsRayWorker:
    if Path(sys.argv[0]).name == "default_worker.py":  # a Ray worker runs Ray's default_worker.py
        os._exit(1)
    return KillsItsRayWorker()
