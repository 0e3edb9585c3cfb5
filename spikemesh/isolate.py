"""Run a reader that may hang in C code in a forked child process with a time limit.

The HDF5 library can loop forever on some corrupt files (a damaged heap under a variable-length string), and a
signal cannot interrupt it; reading in a child that is killed after ``timeout`` seconds turns that hang into a
FileFormatError. The child sends back a JSON-able value and arrays (an ``.npz`` byte string, never a pickle); a
SpikemeshError raised in the child is raised again in the parent with the same class and fields. Where ``fork``
is unavailable the reader runs in this process.
"""

from __future__ import annotations

import io
import json
import os
import select
import signal
import struct
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import spikemesh.errors as errors
from spikemesh.errors import FileFormatError, SpikemeshError
from spikemesh.fileio import npz_bytes

Result = tuple[Any, dict[str, np.ndarray]]


def _send(fd: int, kind: str, head: Any, blob: bytes = b"") -> None:
    text = json.dumps({"kind": kind, "head": head}).encode()
    data = struct.pack("<QQ", len(text), len(blob)) + text + blob
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def run(reader: Callable[[], Result], timeout: float, what: str, node: str) -> Result:
    """``reader()`` in a child process, killed after ``timeout`` seconds (FileFormatError naming ``node``)."""
    if not hasattr(os, "fork"):
        return reader()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns
        code = 0
        try:
            os.close(r)
            head, arrays = reader()
            _send(w, "ok", head, npz_bytes(arrays, compress=False))
        except SpikemeshError as e:
            _send(w, "error", {"cls": type(e).__name__, "message": e.message, "node": e.node,
                               "needed": _text(e.needed), "available": _text(e.available), "hint": e.hint})
        except BaseException as e:  # noqa: BLE001 - reported to the parent, which raises FileFormatError
            _send(w, "crash", f"{type(e).__name__}")
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise FileFormatError(f"{what}: the reader did not finish within {timeout:g} s (a corrupt file can "
                                      "make the HDF5 library loop)", node=node, hint="re-export the file")
            ready, _, _ = select.select([r], [], [], left)
            if ready:
                chunk = os.read(r, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(r)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
    data = b"".join(chunks)
    if len(data) < 16:
        raise FileFormatError(f"{what}: the reader stopped without an answer", node=node, hint="re-export the file")
    n_text, n_blob = struct.unpack("<QQ", data[:16])
    msg = json.loads(data[16:16 + n_text].decode())
    if msg["kind"] == "ok":
        with np.load(io.BytesIO(data[16 + n_text:16 + n_text + n_blob]), allow_pickle=False) as z:
            return msg["head"], {k: z[k] for k in z.files}
    if msg["kind"] == "error":
        h = msg["head"]
        cls = getattr(errors, h["cls"], SpikemeshError)
        cls = cls if isinstance(cls, type) and issubclass(cls, SpikemeshError) else SpikemeshError
        raise cls(h["message"], node=h["node"], needed=h["needed"], available=h["available"], hint=h["hint"])
    raise FileFormatError(f"{what}: cannot read the file ({msg['head']})", node=node, hint="re-export the file")


def _text(v: Any) -> Any:
    return v if v is None or isinstance(v, str | int | float | bool) else str(v)
