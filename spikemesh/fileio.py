"""Atomic file output: write to a temporary file in the destination folder, then rename over the target.

A failed run therefore never leaves a half-written artifact.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from spikemesh.errors import FileFormatError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates 0600 files; saved artifacts get the permissions of an ordinary file instead
_FILE_MODE = 0o666 & ~_umask()
DIR_MODE = 0o777 & ~_umask()


def npz_bytes(arrays: dict[str, np.ndarray], compress: bool = True) -> bytes:
    """An ``.npz`` archive (readable by ``numpy.load``) whose bytes depend only on the arrays: members in name
    order with a fixed timestamp, unlike ``numpy.savez`` which stamps the current time."""
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            info.external_attr = 0o644 << 16
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asanyarray(arrays[name]), allow_pickle=False)
            zf.writestr(info, member.getvalue())
    return buf.getvalue()


@contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path``; on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, _FILE_MODE)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    with atomic_open(path, "w") as fh:
        json.dump(obj, fh, indent=1, sort_keys=False, default=json_default)
        fh.write("\n")


def atomic_write_with(path: str | os.PathLike[str], writer: Callable[[str], None]) -> None:
    """Call ``writer(tmp_path)`` (e.g. matplotlib's savefig) then rename onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, _FILE_MODE)
    try:
        writer(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_build_files(directory: str | os.PathLike[str], json_name: str, *, missing: str, missing_hint: str,
                     corrupt: str, corrupt_hint: str | None = None, prefix: str = "") -> tuple[Any, dict[str, Any]]:
    """A build directory's JSON file ``json_name`` (parsed) and the arrays of its ``weights.npz`` whose names start
    with ``prefix`` (prefix removed). FileFormatError ``"{missing}: <file> missing"`` when either file is absent,
    ``"{corrupt} (<error type>)"`` when one cannot be read; the caller checks the format and version."""
    d = Path(directory)
    jf, wz = d / json_name, d / "weights.npz"
    for f in (jf, wz):
        if not f.is_file():
            raise FileFormatError(f"{missing}: {f.name} missing", node=str(d), hint=missing_hint)
    try:
        head = json.loads(jf.read_text())
        with np.load(wz, allow_pickle=False) as z:
            arrays = {k[len(prefix):]: z[k] for k in z.files if k.startswith(prefix)}
    except (ValueError, OSError, EOFError, UnicodeDecodeError) as e:
        raise FileFormatError(f"{corrupt} ({type(e).__name__})", node=str(d), hint=corrupt_hint) from None
    return head, arrays
