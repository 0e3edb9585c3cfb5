"""The on-disk cache of generated Numba kernels (special.py's drivers): one module file per generated source, named
by a hash of the source, of the modules its code calls and of the Python, Numba and NumPy versions, compiled with
``njit(cache=True)`` so that Numba keeps the machine code next to it (``__pycache__``) and later processes load it
instead of compiling.

Directory: ``$SPIKEMESH_CACHE_DIR/kernels``, else ``$XDG_CACHE_HOME/spikemesh/kernels``, else
``~/.cache/spikemesh/kernels``; at most ``CACHE_KEEP`` modules (the oldest quarter goes beyond it). Files are created
once and never rewritten (Numba's cache key includes the source file's mtime and size).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numba
import numpy as np

#: driver modules kept in the cache dir; beyond it the oldest quarter goes (with its machine code)
CACHE_KEEP = 256

_SALT: dict[tuple[str, ...], bytes] = {}


def cache_dir() -> Path:
    """Directory of the generated kernel modules (module docstring)."""
    env = os.environ.get("SPIKEMESH_CACHE_DIR")
    if env:
        return Path(env) / "kernels"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "spikemesh" / "kernels"


def digest(source: str, deps: Sequence[ModuleType]) -> str:
    """Hash of ``source`` and of what its machine code depends on: the modules ``deps`` whose jitted functions it
    calls (Numba's cache checks only the generated file) and the Python, Numba and NumPy versions."""
    key = tuple(str(m.__file__) for m in deps)
    salt = _SALT.get(key)
    if salt is None:
        h = hashlib.sha256()
        for f in key:
            h.update(Path(f).read_bytes())
        h.update(f"{sys.version_info[:3]} numba {numba.__version__} numpy {np.__version__}".encode())
        salt = _SALT[key] = h.digest()
    return hashlib.sha256(salt + source.encode()).hexdigest()[:24]


def module(source: str, deps: Sequence[ModuleType], create: bool = True) -> Any:
    """Import the module of ``source`` from the cache dir (written there when absent and ``create``); None when it
    is absent and not created, or the cache dir is not writable."""
    name = f"spikemesh_kernel_k{digest(source, deps)}"
    d = cache_dir()
    path = d / f"{name}.py"
    mod = sys.modules.get(name)
    if mod is not None and mod.__file__ == str(path):
        return mod
    try:
        if not path.exists():
            if not create:
                return None
            d.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=d, suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                f.write(source)
            try:  # link, not replace: a concurrent writer's file (same text) keeps its mtime, Numba's cache key
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp)
            _prune(d)
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            return None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    except OSError:
        return None
    sys.modules[name] = mod  # Numba's cached environments re-import the module by name
    return mod


def _prune(d: Path) -> None:
    mods = sorted(d.glob("spikemesh_kernel_k*.py"), key=lambda f: f.stat().st_mtime)
    if len(mods) <= CACHE_KEEP:
        return
    for f in mods[:len(mods) // 4]:
        for g in [f, *(d / "__pycache__").glob(f"{f.stem}.*")]:
            g.unlink(missing_ok=True)


def compiled(fn: Any) -> bool:
    """True when Numba's disk cache holds machine code for the jitted ``fn`` (its index file exists)."""
    cache = getattr(fn, "_cache", None)
    index = getattr(getattr(cache, "_cache_file", None), "_index_path", None)
    return bool(index) and os.path.exists(index)


def kernel_code(fn: Any) -> str:
    """Where the machine code of the jitted ``fn`` came from in this process, once it has run: ``"disk cache"``
    (loaded, no JIT) or ``"compiled"`` (JIT here; then written to the disk cache when writable)."""
    hits = getattr(fn, "_cache_hits", None)
    return "disk cache" if hits and sum(hits.values()) > 0 else "compiled"
