"""The operator base class ``Op`` and the helpers every operator family uses.

Shapes are per sample (no batch axis); ``apply`` takes ``x`` of shape ``[B, *in_shape]``. Every operator gives its
output shape, per-neuron fan-in / fan-out, structural synapse count, and its neuron-level CSR matrix
``[n_in, n_out]`` (row = a presynaptic neuron, its entries = its targets and weights).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import fields
from typing import Any, ClassVar

import numpy as np

import spikemesh.checks as checks
from spikemesh.errors import GraphError
from spikemesh.lazy import LazyModule

sp = LazyModule("scipy.sparse")  # imported when a CSR matrix is first built

Shape = tuple[int, ...]


def frozen_array(value: Any, dtype: Any = np.float64, what: str = "operator array") -> np.ndarray:
    """``value`` as a read-only array of ``dtype`` (operator fields are immutable): finite real numbers, and whole
    numbers within int64 for an integer ``dtype`` (checks.number_array's rules)."""
    if isinstance(value, np.ndarray) and value.dtype == np.dtype(dtype) and value.dtype.kind in "iu":
        arr = np.array(value)
    else:
        arr = checks.number_array(value, what, None, GraphError, finite=False)  # Graph names a NaN's projection
        if np.dtype(dtype).kind in "iu":
            whole = np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))
            if not whole or (arr.size and np.abs(arr).max() >= 2**53):
                raise GraphError(f"{what} must hold whole numbers", needed="integers below 2**53")
        arr = arr.astype(dtype)
    arr.setflags(write=False)
    return arr


def int_tuple(v: Any, n: int, what: str = "value", lo: int | None = None) -> tuple[int, ...]:
    """``n`` ints (each >= ``lo``) from one int (repeated) or a sequence of 1 or ``n`` values (stride, padding,
    kernel...)."""
    if isinstance(v, str | bytes) or v is None:
        raise GraphError(f"{what} must be integers", needed=f"{n} integers", available=repr(v))
    items = list(np.asarray(v, dtype=object).reshape(-1)) if not isinstance(v, int | np.integer) else [v]
    t = tuple(checks.integer(x, what, None, GraphError, lo=lo, hi=2**31 - 1) for x in items)
    if len(t) == 1:
        return t * n
    if len(t) != n:
        raise GraphError(f"{what} expects {n} values", needed=n, available=t)
    return t


class Op(ABC):
    """Base class of projection operators: each defines ``out_shape`` and ``apply``; connectivity (``to_csr``,
    fan-in/out, synapse counts) defaults to applying the operator to one-hot inputs, and operators with
    structure override it vectorised."""

    #: names of array-valued fields (serialised to the weights file)
    array_fields: ClassVar[tuple[str, ...]] = ()
    #: True for operators whose values are learned weights (quantized by passes.quantize)
    weighted: ClassVar[bool] = False

    @abstractmethod
    def out_shape(self, in_shape: Shape) -> Shape:
        """Output shape for an input of ``in_shape``; GraphError when the input does not fit."""

    def _arr(self, name: str, x: np.ndarray) -> np.ndarray:
        """Field ``name`` ready to combine with ``x``: as int64 when ``x`` is integer (int mode), after checking
        that it holds integers (cached), so non-integer weights fail instead of being truncated."""
        arr = getattr(self, name)
        if x.dtype.kind not in "iub":
            return arr
        cache = self.__dict__.setdefault("_int_cache", {})
        got = cache.get(name)
        if got is None:
            if arr.dtype.kind == "f" and not np.all(arr == np.round(arr)):
                raise GraphError(f"{type(self).__name__}.{name} is not integer in int mode",
                                 hint="quantize() the graph first")
            got = arr.astype(np.int64)
            cache[name] = got
        return got

    @abstractmethod
    def apply(self, x: np.ndarray) -> np.ndarray:
        """The operator on a batch ``x [..., *in_shape]``."""

    def to_csr(self, in_shape: Shape) -> sp.csr_matrix:
        """Neuron-level connectivity ``[n_in, n_out]`` (structural entries kept even when a weight is 0)."""
        n_in = math.prod(in_shape)
        eye = np.eye(n_in).reshape((n_in, *in_shape))
        dense = self.apply(eye).reshape(n_in, -1)
        return sp.csr_matrix(dense)

    def fan_in(self, in_shape: Shape) -> np.ndarray:
        """Synapses per output neuron, shape ``out_shape`` (int64)."""
        m = self.to_csr(in_shape)
        return np.diff(m.tocsc().indptr).astype(np.int64).reshape(self.out_shape(in_shape))

    def fan_out(self, in_shape: Shape) -> np.ndarray:
        """Synapses per input neuron, shape ``in_shape`` (int64)."""
        return np.diff(self.to_csr(in_shape).indptr).astype(np.int64).reshape(in_shape)

    def synapses(self, in_shape: Shape) -> int:
        return int(self.fan_in(in_shape).sum())

    # -- serialisation and equality --------------------------------------------------------------
    def to_dict(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta: dict[str, Any] = {"op": type(self).__name__}
        arrays: dict[str, np.ndarray] = {}
        for f in fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if f.name in self.array_fields:
                if v is not None:
                    arrays[f.name] = np.asarray(v)
            else:
                meta[f.name] = list(v) if isinstance(v, tuple) else v
        return meta, arrays

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        for f in fields(self):  # type: ignore[arg-type]
            a, b = getattr(self, f.name), getattr(other, f.name)
            if f.name in self.array_fields:
                if (a is None) != (b is None):
                    return False
                if a is not None and (a.shape != b.shape or a.dtype != b.dtype or not np.array_equal(a, b)):
                    return False
            elif a != b:
                return False
        return True

    __hash__ = None  # type: ignore[assignment]
