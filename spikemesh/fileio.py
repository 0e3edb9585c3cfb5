"""Safe output: atomic files, crash-safe build directories, and the rule for which paths a run may replace.

Every file is written to a temporary sibling in the destination folder, then renamed over the target, so a failed
run never leaves a half-written artifact. A temporary is named ``.NAME.sm-PID-RANDOM...`` (PID: the writing
process); ``clean_stale`` removes those whose process is gone (a run killed mid-write), and every writer calls it
before writing, so the next run cleans up after a killed one.

A build directory (``--out``) is replaced only when it is absent, empty, or a spikemesh build: a directory whose
``program.json`` is a JSON object with a ``format`` starting with ``spikemesh-`` (``check_output_dir``); anything
else needs ``force``. ``replace_dir`` puts a complete new directory in place with one atomic exchange
(``renameat2(RENAME_EXCHANGE)`` on Linux), so after a kill at any instant the path holds the old or the new build;
where the exchange is unavailable it uses two renames, and ``clean_stale`` puts the old build back if a kill fell
between them.
"""

from __future__ import annotations

import ctypes
import errno
import io
import json
import math
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

import spikemesh.checks as checks
from spikemesh.errors import FileFormatError, OutputError, SpikemeshError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates 0600 files; saved artifacts get the permissions of an ordinary file instead
_FILE_MODE = 0o666 & ~_umask()
DIR_MODE = 0o777 & ~_umask()


def npz_bytes(arrays: dict[str, np.ndarray], compress: bool = True) -> bytes:
    """An ``.npz`` archive (readable by ``numpy.load``) whose bytes depend only on the arrays: members in name
    order with a fixed timestamp, unlike ``numpy.savez`` which stamps the current time. Deflate level 1: about 3x
    faster than the default level on a ResNet-18 build's 45 MB of weights, for a few percent more bytes."""
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", compression=method, compresslevel=1 if compress else None) as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            info.external_attr = 0o644 << 16
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asanyarray(arrays[name]), allow_pickle=False)
            zf.writestr(info, member.getvalue())
    return buf.getvalue()


#: marker of a spikemesh build directory: ``program.json`` holds ``{"format": "spikemesh-..."}``
BUILD_MARKER = "program.json"
FORMAT_PREFIX = "spikemesh-"
_TMP = re.compile(r"\.sm-(?P<pid>\d+)-[a-z0-9_]+(?P<kind>\.[A-Za-z0-9_]+)?$")


def temp_prefix(path: Path) -> str:
    """Prefix of this process's temporaries for ``path`` (see the module docstring)."""
    return f".{path.name}.sm-{os.getpid()}-"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def clean_stale(path: str | os.PathLike[str]) -> None:
    """Remove the temporaries of ``path`` left by killed runs (their process is gone). If ``path`` is missing and a
    killed replacement left the previous build aside (``.old``), that build is put back first."""
    path = Path(path)
    head = f".{path.name}.sm-"
    try:
        entries = [e for e in os.scandir(path.parent) if e.name.startswith(head)]
    except OSError:
        return
    for e in sorted(entries, key=lambda e: e.name):
        m = _TMP.match(e.name[len(path.name) + 1:])
        if m is None or _alive(int(m["pid"])):
            continue
        try:
            if m["kind"] == ".old" and e.is_dir(follow_symlinks=False) and not os.path.lexists(path):
                os.replace(e.path, path)
            elif e.is_dir(follow_symlinks=False):
                shutil.rmtree(e.path, ignore_errors=True)
            else:
                os.unlink(e.path)
        except OSError:
            pass


def is_build(path: str | os.PathLike[str]) -> bool:
    """True for a directory that a spikemesh run wrote (its ``program.json`` carries a spikemesh format)."""
    marker = Path(path) / BUILD_MARKER
    try:
        if not marker.is_file() or marker.stat().st_size > 1 << 30:
            return False
        with open(marker, "rb") as fh:
            head = json.loads(fh.read())
    except (OSError, ValueError):
        return False
    return isinstance(head, dict) and isinstance(head.get("format"), str) and head["format"].startswith(FORMAT_PREFIX)


def refused_dir(p: Path, accepts: Callable[[Path], bool], marker: str) -> str | None:
    """None when a run may write into ``p``: absent, an empty directory, or a directory ``accepts``; else what ``p``
    is, for the refusal (``marker``: what an accepted directory holds)."""
    if not os.path.lexists(p):
        return None
    if p.is_symlink():
        return "a symbolic link"
    if p.is_dir():
        try:
            names = os.listdir(p)
        except OSError as e:
            raise OutputError(f"cannot read the output directory ({e.strerror})", node=str(p)) from None
        return None if not names or accepts(p) else f"a directory with {len(names)} entries and no {marker}"
    return "a file" if p.is_file() else "not a directory"


def check_output_dir(path: str | os.PathLike[str], force: bool = False, flag: str = "--force") -> None:
    """Refuse (OutputError) to write a build into ``path`` unless it is absent, an empty directory, or a
    spikemesh build; ``force`` allows replacing anything but the filesystem root, the home and the working
    directory. ``flag`` names the override in the hint (``--force`` or ``force=True``)."""
    p = Path(path)
    if not os.path.lexists(p):
        return
    protected = {Path("/"), Path.home().resolve(), Path.cwd().resolve()}
    try:
        if p.resolve() in protected or p.resolve() in Path.cwd().resolve().parents:
            raise OutputError("refusing to replace this directory with a build", node=str(p),
                              needed="a new path, an empty directory or a spikemesh build",
                              available="the root, home or working directory (or one of its parents)",
                              hint="choose a subdirectory, e.g. --out build/NAME")
    except OSError:
        pass
    if force:
        return
    what = refused_dir(p, is_build, f"spikemesh {BUILD_MARKER}")
    if what is None:
        return
    raise OutputError("refusing to replace the output path: it exists and is not a spikemesh build", node=str(p),
                      needed="a new path, an empty directory or a spikemesh build", available=what,
                      hint=f"choose another output path, or pass {flag} to replace it")


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap the paths ``a`` and ``b`` (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def new_temp_dir(out: Path) -> Path:
    """A fresh temporary sibling directory of ``out`` to build a replacement in."""
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(out)
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(out), suffix=".new", dir=out.parent))
    os.chmod(tmp, DIR_MODE)
    return tmp


def replace_dir(tmp: Path, out: Path) -> None:
    """Put the complete directory ``tmp`` at ``out``; an existing ``out`` is replaced in one atomic exchange."""
    if not os.path.lexists(out):
        os.replace(tmp, out)
        return
    if out.is_dir() and not out.is_symlink():
        if _exchange(tmp, out):
            shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old build
            return
        old = Path(tempfile.mkdtemp(prefix=temp_prefix(out), suffix=".old", dir=out.parent))
        os.rmdir(old)
        os.replace(out, old)  # a kill here leaves `old`: clean_stale puts it back
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
        return
    os.unlink(out)  # a file or a symbolic link (checked by check_output_dir)
    os.replace(tmp, out)


@contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path``; on success it replaces ``path``, on error it is removed. An OS error
    is an OutputError naming ``path`` (never the temporary)."""
    path = Path(path)
    tmp = _prepare(path, ".tmp")
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY), mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise _output_error(e, path) from None
        raise


def _prepare(path: Path, suffix: str) -> str:
    """A new empty temporary sibling of ``path`` (stale ones of dead runs removed first)."""
    if path.is_dir():
        raise OutputError("output path is a directory, expected a file", node=str(path), hint="give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        clean_stale(path)
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=suffix, dir=path.parent)
        os.close(fd)
        os.chmod(tmp, _FILE_MODE)
    except OSError as e:
        raise _output_error(e, path) from None
    return tmp


def _output_error(e: OSError, path: Path) -> OutputError:
    return OutputError(f"cannot write the file ({e.strerror or type(e).__name__})", node=str(path),
                       hint="check that the directory exists and is writable")


def json_text(obj: Any, levels: int = 2) -> str:
    """``obj`` as JSON: dicts and lists of containers opened one item per line for ``levels`` levels, anything
    deeper on one line. Readable, and encoded by json's C encoder (``json.dump`` with an indent runs the pure-Python
    encoder: minutes for the routes of a 34,000-core build)."""
    def enc(o: Any, level: int) -> str:
        pad = " " * (level + 1)
        if isinstance(o, np.ndarray):
            o = o.tolist()
        if level < levels and isinstance(o, dict) and o:
            items = [f"{pad}{json.dumps({k: 0})[1:-4]}: {enc(v, level + 1)}" for k, v in o.items()]
            return "{\n" + ",\n".join(items) + "\n" + pad[1:] + "}"
        if level < levels and isinstance(o, (list, tuple)) and any(isinstance(e, (dict, list, tuple)) for e in o):
            return "[\n" + ",\n".join(pad + enc(e, level + 1) for e in o) + "\n" + pad[1:] + "]"
        return json.dumps(o, default=json_default)

    return enc(obj, 0)


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    text = json_text(obj)
    with atomic_open(path, "w") as fh:
        fh.write(text + "\n")


def atomic_write_with(path: str | os.PathLike[str], writer: Callable[[str], None]) -> None:
    """Call ``writer(tmp_path)`` (e.g. matplotlib's savefig) then rename onto ``path``; an OS error is an
    OutputError naming ``path``."""
    path = Path(path)
    tmp = _prepare(path, path.suffix or ".tmp")
    try:
        writer(tmp)
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise _output_error(e, path) from None
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


def _npy_header(fh: IO[bytes]) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
    elif version in ((2, 0), (3, 0)):
        shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    else:
        raise ValueError(f"unsupported .npy version {version}")
    if dtype.hasobject:
        raise ValueError("array of Python objects (pickled data is never loaded)")
    return tuple(shape), dtype


def read_arrays(path: str | os.PathLike[str], what: str = "array file") -> dict[str, np.ndarray] | np.ndarray:
    """The arrays of an ``.npz`` archive (a dict) or one ``.npy`` array, read without pickles and without
    allocating more than the file holds: every member's declared shape and dtype are checked against its stored
    size first, so a corrupt or hostile header (e.g. a shape of terabytes) is a FileFormatError, not an allocation.
    Missing, empty, truncated or corrupt files raise FileFormatError naming ``path``."""
    p = Path(path)
    if not p.exists():
        raise FileFormatError(f"{what} not found", node=str(p), hint="check the path")
    if p.is_dir():
        raise FileFormatError(f"{what} is a directory, expected a file", node=str(p))
    size = p.stat().st_size
    if size == 0:
        raise FileFormatError(f"{what} is empty", node=str(p))
    try:
        with open(p, "rb") as fh:
            magic = fh.read(6)
            fh.seek(0)
            if magic == b"\x93NUMPY":
                shape, dtype = _npy_header(fh)
                if math.prod(shape) * dtype.itemsize > size - fh.tell():
                    raise ValueError("declared shape larger than the stored data")
                fh.seek(0)
                return np.lib.format.read_array(fh, allow_pickle=False)
            if not zipfile.is_zipfile(fh):
                raise ValueError("neither a .npy array nor an .npz archive")
        out: dict[str, np.ndarray] = {}
        with zipfile.ZipFile(p) as zf:
            members = [i for i in zf.infolist() if i.filename.endswith(".npy")]
            for info in members:
                with zf.open(info) as fh:
                    shape, dtype = _npy_header(fh)  # type: ignore[arg-type]
                    if math.prod(shape) * dtype.itemsize > info.file_size:
                        raise ValueError(f"member {info.filename}: declared shape larger than the stored data")
            checks.memory(sum(i.file_size for i in members), what, str(p), FileFormatError)
            for info in members:
                with zf.open(info) as fh:
                    out[info.filename[:-4]] = np.lib.format.read_array(fh, allow_pickle=False)  # type: ignore[arg-type]
        return out
    except SpikemeshError:
        raise
    except MemoryError:
        raise FileFormatError(f"{what} is too large to load", node=str(p)) from None
    except Exception as e:  # zipfile, zlib and numpy's header parser raise many types on corrupt bytes
        raise FileFormatError(f"corrupt or truncated {what} ({type(e).__name__})", node=str(p),
                              hint="re-create the file") from None


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
        head = json.loads(jf.read_bytes().decode())
    except (ValueError, OSError, UnicodeDecodeError, RecursionError) as e:
        raise FileFormatError(f"{corrupt} ({type(e).__name__})", node=str(jf), hint=corrupt_hint) from None
    z = read_arrays(wz, "weights file")  # no pickles; declared sizes checked before allocating
    if not isinstance(z, dict):
        raise FileFormatError(f"{corrupt} (weights.npz is not an .npz archive)", node=str(wz), hint=corrupt_hint)
    return head, {k[len(prefix):]: v for k, v in z.items() if k.startswith(prefix)}
