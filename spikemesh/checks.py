"""Value rules shared by every entry path: IR constructors, the graph and NIR readers, the target loader,
compile options and simulator inputs all check a value with the same helper, so a value refused on one path is
refused on every path, with one message. The rules themselves are listed in docs/semantics.md (graphs, inputs)
and docs/targets.md (targets).

Each helper takes the value, ``what`` (the field, as the user spells it), ``node`` (the node, file or option it
belongs to) and ``error`` (the SpikemeshError subclass of the entry path), and returns the value in canonical
form (a Python int or float, a tuple of ints, a float64 array) or raises ``error``.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Collection, Iterable
from typing import Any

import numpy as np

from spikemesh.errors import SpikemeshError

#: largest number of elements of one node (neurons of a population, values of an input per sample) and of a whole
#: graph: indices of neurons fit in a signed 32-bit integer
MAX_ELEMENTS = 2**31 - 1
#: most axes of a node's shape
MAX_NDIM = 8
#: most cores of a target (chips x cores per chip): beyond this, per-core tables do not fit in memory
MAX_CORES = 2**20
#: largest magnitude of a simulator input value (a count or current): sums of input x weight stay exact in int64
MAX_INPUT = 2**31 - 1

ErrorType = type[SpikemeshError]


def _type(value: Any) -> str:
    return type(value).__name__


def integer(value: Any, what: str, node: str | None, error: ErrorType, lo: int | None = None,
            hi: int | None = None) -> int:
    """``value`` as an int: an integer, or a float with an integral value; not a bool, string or None."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise error(f"{what} must be an integer", node=node, needed="an integer", available=f"{value!r} "
                    f"({_type(value)})")
    if not isinstance(value, numbers.Integral):
        if not math.isfinite(float(value)) or float(value) != int(value):
            raise error(f"{what} must be an integer", node=node, needed="an integer", available=value)
    v = int(value)
    _bounds(v, what, node, error, lo, hi, False, False)
    return v


def real(value: Any, what: str, node: str | None, error: ErrorType, lo: float | None = None,
         hi: float | None = None, lo_open: bool = False, hi_open: bool = False) -> float:
    """``value`` as a finite float within [lo, hi] (or the open ends); not a bool, string, None, NaN or inf."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise error(f"{what} must be a number", node=node, needed="a real number",
                    available=f"{value!r} ({_type(value)})")
    v = float(value)
    if not math.isfinite(v):
        raise error(f"{what} must be finite", node=node, needed="a finite number", available=v)
    _bounds(v, what, node, error, lo, hi, lo_open, hi_open)
    return v


def _bounds(v: float, what: str, node: str | None, error: ErrorType, lo: float | None, hi: float | None,
            lo_open: bool, hi_open: bool) -> None:
    low_bad = lo is not None and (v <= lo if lo_open else v < lo)
    high_bad = hi is not None and (v >= hi if hi_open else v > hi)
    if low_bad or high_bad:
        raise error(f"{what} is out of range", node=node, needed=_range(lo, hi, lo_open, hi_open), available=v)


def _num(v: float) -> str:
    return f"{v:,}" if isinstance(v, int) else f"{v:g}"


def _range(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        return f"{'(' if lo_open else '['}{_num(lo)}, {_num(hi)}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {_num(lo)}"
    return f"{'<' if hi_open else '<='} {_num(hi)}"


def number_array(value: Any, what: str, node: str | None, error: ErrorType, allow_bool: bool = False,
                 finite: bool = True) -> np.ndarray:
    """``value`` (a number or an array-like of numbers) as a float64 array: strings, objects, complex numbers,
    ragged lists and (unless ``finite=False``) NaN / inf are refused."""
    if isinstance(value, str | bytes):
        raise error(f"{what} must be numeric", node=node, needed="a number or an array of numbers",
                    available=f"{value!r} (text)")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError):
        raise error(f"{what} is not a rectangular array of numbers", node=node,
                    needed="a number or an array of numbers", available=_type(value)) from None
    kinds = "iuf" + ("b" if allow_bool else "")
    if arr.dtype.kind not in kinds:
        raise error(f"{what} must be numeric", node=node, needed="real numbers", available=_dtype_name(arr))
    out = arr.astype(np.float64)
    if finite and not np.all(np.isfinite(out)):
        raise error(f"{what} holds NaN or inf", node=node, needed="finite values",
                    hint="check the source model")
    return out


def _dtype_name(arr: np.ndarray) -> str:
    return {"U": "text", "S": "bytes", "O": "Python objects", "c": "complex numbers", "b": "booleans",
            "V": "records", "M": "dates", "m": "time deltas"}.get(arr.dtype.kind, str(arr.dtype))


def shape(value: Any, what: str, node: str | None, error: ErrorType, allow_empty: bool = False) -> tuple[int, ...]:
    """A node shape: a sequence of at most MAX_NDIM positive integers whose product is at most MAX_ELEMENTS."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable | np.ndarray):
        raise error(f"{what} must be a list of positive integers", node=node, needed="e.g. [2, 16, 16]",
                    available=f"{value!r} ({_type(value)})")
    items = list(np.asarray(value, dtype=object).reshape(-1)) if isinstance(value, np.ndarray) else list(value)
    if len(items) > MAX_NDIM or (not items and not allow_empty):
        raise error(f"{what} must have 1 to {MAX_NDIM} axes", node=node, needed=f"1..{MAX_NDIM} axes",
                    available=len(items))
    dims = tuple(integer(d, what, node, error, lo=1) for d in items)
    n = math.prod(dims)
    if n > MAX_ELEMENTS:
        raise error(f"{what} has too many elements", node=node, needed=f"<= {MAX_ELEMENTS:,}",
                    available=f"{n:,}", hint="a node holds at most 2**31 - 1 neurons or values")
    return dims


def name(value: Any, what: str, error: ErrorType, node: str | None = None) -> str:
    """A node name: a non-empty string."""
    if not isinstance(value, str) or not value:
        raise error(f"{what} must be a non-empty string", node=node if node is not None else repr(value),
                    available=f"{value!r} ({_type(value)})")
    return value


def choice(value: Any, choices: Collection[str], what: str, node: str | None, error: ErrorType,
           hint: str | None = None) -> str:
    """``value``, which must be one of the strings ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise error(f"unknown {what} {value!r}", node=node, needed="one of " + ", ".join(map(str, choices)),
                    available=repr(value), hint=hint)
    return value


def mapping(value: Any, what: str, node: str | None, error: ErrorType) -> dict[str, Any]:
    """``value``, which must be a dict (a TOML table, a JSON object)."""
    if not isinstance(value, dict):
        raise error(f"{what} must be a table of keys and values", node=node, needed="a table / mapping",
                    available=_type(value))
    return value


def physical_memory() -> int:
    """Bytes of physical memory of this machine (0 when unknown)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 0


def memory(nbytes: float, what: str, node: str | None, error: ErrorType, hint: str | None = None) -> None:
    """Refuse (before allocating) a job whose arrays alone need more than the machine's physical memory."""
    total = physical_memory()
    if total and nbytes > total:
        raise error(f"{what} does not fit in memory", node=node, needed=f"{nbytes / 2**30:,.1f} GiB",
                    available=f"{total / 2**30:,.1f} GiB", hint=hint)
